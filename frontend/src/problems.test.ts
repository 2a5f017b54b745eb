import { describe, expect, it } from "vitest";
import { countProblems, dedupeProblems, fieldErrorTree, indexProblems, pointerTokens } from "./problems";
import type { Definition } from "./types";

const DEF: Definition = {
  nodes: [
    { id: "start", type: "manual", config: {} },
    { id: "fetch", type: "http_request", config: { url: "" } },
  ],
  edges: [{ source: "start", target: "fetch" }],
};

describe("problems", () => {
  it("splits pointers and dotted paths, dropping a definition prefix", () => {
    expect(pointerTokens("/nodes/1/config/url")).toEqual(["nodes", "1", "config", "url"]);
    expect(pointerTokens("definition.nodes.1")).toEqual(["nodes", "1"]);
    expect(pointerTokens("/nodes/0/config/a~1b")).toEqual(["nodes", "0", "config", "a/b"]);
  });

  it("puts node, field, edge and general problems in their places", () => {
    const index = indexProblems(
      [
        { path: "/nodes/1/config/url", message: "not a URL" },
        { path: "/nodes/0", message: "unreachable" },
        { path: "/edges/0", message: "bad port" },
        { path: "", message: "no trigger" },
        { path: "/nodes/9/config/x", message: "stale pointer" },
      ],
      DEF,
    );
    expect(index.nodes).toEqual({ fetch: ["not a URL"], start: ["unreachable"] });
    expect(index.fields).toEqual({ fetch: { url: ["not a URL"] } });
    expect(index.edges).toEqual({ 0: ["bad port"] });
    expect(index.general).toEqual(["no trigger", "/nodes/9/config/x: stale pointer"]);
  });

  it("builds the nested error tree of the form", () => {
    expect(fieldErrorTree({ url: ["bad"], "headers/Accept": ["empty"] })).toEqual({
      url: { __errors: ["bad"] },
      headers: { Accept: { __errors: ["empty"] } },
    });
    expect(fieldErrorTree(undefined)).toEqual({});
  });
});

describe("dedupeProblems and countProblems", () => {
  it("drops a problem reported twice and keeps the order", () => {
    const a = { path: "/nodes/0/config/url", message: "Required" };
    const b = { path: "/nodes/1", message: "Unknown type" };
    expect(dedupeProblems([a, b, { ...a }])).toEqual([a, b]);
  });

  it("counts node messages, general messages and one per edge", () => {
    const index = { nodes: { a: ["x", "y"], b: ["z"] }, fields: {}, edges: { 0: ["p", "q"], 3: ["r"] }, general: ["g"] };
    expect(countProblems(index)).toBe(3 + 1 + 2);
  });
});
