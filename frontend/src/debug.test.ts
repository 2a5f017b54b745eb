import { describe, expect, it } from "vitest";
import {
  MSG_PIN_EMPTY,
  applyCompletion,
  completions,
  contextFromPaths,
  mergeContext,
  diffIsEmpty,
  diffMarks,
  edgeLabel,
  expressionContext,
  mergeLogs,
  parsePinText,
  pinsFromRuns,
  startNodeIds,
  triggerInput,
  withPin,
  type LogLine,
  type VersionDiff,
} from "./debug";
import type { Definition } from "./types";

const DEF: Definition = {
  nodes: [
    { id: "start", type: "manual", config: {} },
    { id: "lookup", type: "set", config: {} },
    { id: "notify", type: "log", config: {} },
  ],
  edges: [
    { source: "start", target: "lookup" },
    { source: "lookup", target: "notify" },
  ],
};

describe("pins", () => {
  it("accepts any JSON and says why text is not JSON", () => {
    expect(parsePinText('{"amount": 120}')).toEqual({ ok: true, value: { amount: 120 } });
    expect(parsePinText("[1, 2]")).toEqual({ ok: true, value: [1, 2] });
    expect(parsePinText("0")).toEqual({ ok: true, value: 0 });
    expect(parsePinText("null")).toEqual({ ok: true, value: null });
    const bad = parsePinText("{amount: 1}");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/^Not valid JSON: /);
    expect(parsePinText("  ")).toEqual({ ok: false, error: MSG_PIN_EMPTY });
  });

  it("sets and removes one pin without touching the others", () => {
    const pins = { a: 1 };
    expect(withPin(pins, "b", { x: 2 })).toEqual({ a: 1, b: { x: 2 } });
    expect(withPin(pins, "a", undefined)).toEqual({});
    expect(withPin(pins, "a", null)).toEqual({ a: null });
    expect(pins).toEqual({ a: 1 });
  });

  it("pins what succeeded in an execution, for nodes still in the workflow", () => {
    const runs = {
      start: { status: "succeeded" as const, output: { name: "Ada" } },
      lookup: { status: "failed" as const, output: null, error: "boom" },
      gone: { status: "succeeded" as const, output: 1 },
      skipped: { status: "skipped" as const },
      empty: { status: "succeeded" as const, output: false },
    };
    expect(pinsFromRuns(runs, ["start", "lookup", "skipped", "empty"])).toEqual({ start: { name: "Ada" }, empty: false });
  });

  it("takes a pinned start node's output as the trigger data", () => {
    expect(startNodeIds(DEF)).toEqual(["start"]);
    expect(triggerInput(DEF, { start: { name: "Ada" } }, { other: 1 })).toEqual({ name: "Ada" });
    expect(triggerInput(DEF, { lookup: 1 }, { other: 1 })).toEqual({ other: 1 });
  });
});

describe("version diff", () => {
  const diff: VersionDiff = {
    from_version: 1,
    to_version: 2,
    nodes: {
      added: ["notify"],
      removed: ["old"],
      moved: ["start"],
      changed: [{ id: "lookup", type: "set", changes: [{ op: "replace", path: "/config/x", from: 1, to: 2 }] }],
    },
    edges: { added: [{ source: "check", source_port: "true", target: "notify", target_port: "main" }], removed: [] },
    variables: { added: {}, removed: {}, changed: {} },
    settings: { changed: [] },
  };

  it("marks added, changed and moved nodes; removed ones are not on the canvas", () => {
    expect(diffMarks(diff)).toEqual({ notify: "added", lookup: "changed", start: "moved" });
  });

  it("a node both moved and changed is marked changed", () => {
    expect(diffMarks({ ...diff, nodes: { ...diff.nodes, moved: ["lookup"] } }).lookup).toBe("changed");
  });

  it("knows an empty diff and names edges by their ports", () => {
    expect(diffIsEmpty(diff)).toBe(false);
    const empty: VersionDiff = {
      ...diff,
      nodes: { added: [], removed: [], moved: [], changed: [] },
      edges: { added: [], removed: [] },
    };
    expect(diffIsEmpty(empty)).toBe(true);
    expect(diffIsEmpty({ ...empty, variables: { added: {}, removed: {}, changed: { a: { from: 1, to: 2 } } } })).toBe(false);
    expect(edgeLabel(diff.edges.added[0])).toBe("check:true → notify");
  });
});

describe("execution logs", () => {
  const line = (id: number, message = `m${id}`): LogLine => ({ id, node_id: "n", level: "info", message, at: "" });

  it("keeps each line once, oldest first, whichever way it arrived", () => {
    const merged = mergeLogs([line(1), line(3)], [line(2), line(3, "again"), line(4)]);
    expect(merged.map((l) => l.id)).toEqual([1, 2, 3, 4]);
    expect(merged[2].message).toBe("again");
  });

  it("returns the same list when nothing came", () => {
    const lines = [line(1)];
    expect(mergeLogs(lines, [])).toBe(lines);
  });
});

describe("expression completion", () => {
  const context = {
    trigger: { name: "Ada", amount: 120 },
    nodes: { lookup: { output: { id: 7, tags: ["a"] } }, notify: { output: null } },
    vars: { limit: 5 },
  };

  it("offers the roots right after {{", () => {
    expect(completions("Hello {{ ", context)?.items.map((i) => i.path)).toEqual(["trigger", "nodes", "vars"]);
    expect(completions("Hello {{ tr", context)?.items.map((i) => i.path)).toEqual(["trigger"]);
  });

  it("offers the keys of trigger, vars and a node's output, with their values", () => {
    expect(completions("{{ trigger.", context)?.items).toEqual([
      { path: "trigger.name", label: "name", detail: '"Ada"' },
      { path: "trigger.amount", label: "amount", detail: "120" },
    ]);
    expect(completions("{{ nodes.", context)?.items.map((i) => i.path)).toEqual(["nodes.lookup", "nodes.notify"]);
    expect(completions("{{ nodes.lookup.", context)?.items.map((i) => i.path)).toEqual(["nodes.lookup.output"]);
    expect(completions("{{ nodes.lookup.output.t", context)?.items).toEqual([
      { path: "nodes.lookup.output.tags", label: "tags", detail: "list (1)" },
    ]);
    expect(completions("{{ vars.", context)?.items.map((i) => i.path)).toEqual(["vars.limit"]);
  });

  it("offers nothing outside an expression, after a closed one, or below a value", () => {
    expect(completions("trigger.", context)).toBeNull();
    expect(completions("{{ trigger.name }} and trigger.", context)).toBeNull();
    expect(completions("{{ trigger.name.", context)?.items).toEqual([]);
    expect(completions("{{ nodes.missing.", context)?.items).toEqual([]);
  });

  it("completes inside a second expression and after an operator", () => {
    expect(completions("{{ a }} {{ trigger.na", context)?.items.map((i) => i.path)).toEqual(["trigger.name"]);
    expect(completions("{{ trigger.amount > vars.", context)?.items.map((i) => i.path)).toEqual(["vars.limit"]);
  });

  it("replaces what was typed with the chosen path", () => {
    expect(applyCompletion("Hi {{ trigger.na }}", 16, "trigger.na", "trigger.name")).toEqual({
      text: "Hi {{ trigger.name }}",
      cursor: 18,
    });
  });

  it("builds the context from pins over the shown run", () => {
    const built = expressionContext({
      definition: DEF,
      pins: { start: { name: "Ada" }, lookup: { id: 1 } },
      runs: { lookup: { status: "succeeded", output: { id: 2 } }, notify: { status: "succeeded", output: "ok" } },
      executionInput: { name: "Bob" },
      variables: { limit: 5 },
      executionId: "e1",
    });
    expect(built).toEqual({
      trigger: { name: "Ada" },
      nodes: { start: { output: { name: "Ada" } }, lookup: { output: { id: 1 } }, notify: { output: "ok" } },
      vars: { limit: 5 },
      execution: { id: "e1" },
    });
  });
});

describe("server completions", () => {
  it("turns the preview's paths into objects and completes from them", () => {
    const context = contextFromPaths(["trigger", "trigger.a", "nodes.lookup.output", "nodes.lookup.output.message", "vars"]);
    expect(context).toEqual({ trigger: { a: {} }, nodes: { lookup: { output: { message: {} } } }, vars: {} });
    expect(completions("{{ nodes.lookup.output.", context)?.items.map((i) => i.path)).toEqual(["nodes.lookup.output.message"]);
  });

  it("keeps what the editor knows and adds what only the server knows", () => {
    const merged = mergeContext(
      { trigger: { name: "Ada" }, vars: { limit: 5 } },
      { trigger: { name: {}, amount: {} }, nodes: { lookup: { output: {} } } },
    );
    expect(merged).toEqual({ trigger: { name: "Ada", amount: {} }, vars: { limit: 5 }, nodes: { lookup: { output: {} } } });
    expect(mergeContext(null, { a: {} })).toEqual({ a: {} });
    expect(mergeContext({ a: 1 }, null)).toEqual({ a: 1 });
  });
});
