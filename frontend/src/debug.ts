/**
 * The debug loop's pure parts (issue 18, docs/api.md "Debugging workflows"): pins typed as JSON, pins taken
 * from an execution, a version diff turned into canvas marks, execution log lines merged, and what an
 * expression field offers to complete.
 */
import type { Definition, NodeRun } from "./types";

/** A node id -> its pinned output (any JSON). */
export type Pins = Record<string, unknown>;

export const MSG_PIN_EMPTY = "Type or paste the output to pin, as JSON.";

/** Pins are checked for nothing but JSON validity (the server checks their size). */
export function parsePinText(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  if (!text.trim()) return { ok: false, error: MSG_PIN_EMPTY };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, error: `Not valid JSON: ${(e as Error).message}` };
  }
}

/** Pins with `nodeId` set to `value`, or removed when `value` is undefined. */
export function withPin(pins: Pins, nodeId: string, value: unknown): Pins {
  const next = { ...pins };
  if (value === undefined) delete next[nodeId];
  else next[nodeId] = value;
  return next;
}

/** The outputs of the nodes that succeeded in an execution: what "Debug in editor" pins. */
export function pinsFromRuns(runs: Record<string, NodeRun>, nodeIds: Iterable<string>): Pins {
  const present = new Set(nodeIds);
  const pins: Pins = {};
  for (const [id, run] of Object.entries(runs)) {
    if (present.has(id) && run.status === "succeeded" && run.output !== undefined) pins[id] = run.output;
  }
  return pins;
}

/** The nodes nothing leads into: the workflow's start (trigger) node(s). */
export function startNodeIds(definition: Definition): string[] {
  const targets = new Set(definition.edges.map((e) => e.target));
  return definition.nodes.filter((n) => !targets.has(n.id)).map((n) => n.id);
}

/**
 * The trigger data of a run started from the editor: the pinned output of the start node when it has one
 * (a pinned trigger payload is what the builder means the run to start with), else `fallback`.
 */
export function triggerInput(definition: Definition, pins: Pins, fallback: unknown): unknown {
  const start = startNodeIds(definition).find((id) => id in pins);
  return start === undefined ? fallback : pins[start];
}

// ---- Version diff ---------------------------------------------------------------------------------------

export interface PointerChange {
  op: "add" | "remove" | "replace";
  path: string;
  from: unknown;
  to: unknown;
}

export interface DiffEdge {
  source: string;
  source_port?: string;
  target: string;
  target_port?: string;
}

export interface VersionDiff {
  from_version: number;
  to_version: number;
  nodes: {
    added: string[];
    removed: string[];
    moved?: string[];
    changed: { id: string; type?: string; changes: PointerChange[] }[];
  };
  edges: { added: DiffEdge[]; removed: DiffEdge[] };
  variables: { added: Record<string, unknown>; removed: Record<string, unknown>; changed: Record<string, { from: unknown; to: unknown }> };
  settings: { changed: PointerChange[] };
}

export type DiffMark = "added" | "changed" | "moved";

/** What the canvas marks after a diff: nodes added or changed (config, settings), or only moved. */
export function diffMarks(diff: VersionDiff): Record<string, DiffMark> {
  const marks: Record<string, DiffMark> = {};
  for (const id of diff.nodes.moved ?? []) marks[id] = "moved";
  for (const change of diff.nodes.changed) marks[change.id] = "changed";
  for (const id of diff.nodes.added) marks[id] = "added";
  return marks;
}

/** True when the two versions differ in nothing the diff reports. */
export function diffIsEmpty(diff: VersionDiff): boolean {
  const { nodes, edges, variables, settings } = diff;
  return (
    !nodes.added.length &&
    !nodes.removed.length &&
    !(nodes.moved ?? []).length &&
    !nodes.changed.length &&
    !edges.added.length &&
    !edges.removed.length &&
    !Object.keys(variables.added).length &&
    !Object.keys(variables.removed).length &&
    !Object.keys(variables.changed).length &&
    !settings.changed.length
  );
}

export function edgeLabel(edge: DiffEdge): string {
  const port = (p?: string) => (p && p !== "main" ? `:${p}` : "");
  return `${edge.source}${port(edge.source_port)} → ${edge.target}${port(edge.target_port)}`;
}

// ---- Execution logs -------------------------------------------------------------------------------------

export interface LogLine {
  id: number;
  node_id: string;
  level: "debug" | "info" | "warning" | "error" | string;
  message: string;
  metadata?: Record<string, unknown>;
  at: string;
}

/** Lines from the REST list and the live stream together: each once, oldest first (ids grow). */
export function mergeLogs(existing: LogLine[], incoming: LogLine[]): LogLine[] {
  if (!incoming.length) return existing;
  const byId = new Map(existing.map((line) => [line.id, line]));
  for (const line of incoming) if (typeof line?.id === "number") byId.set(line.id, line);
  return [...byId.values()].sort((a, b) => a.id - b.id);
}

export function lastLogId(lines: LogLine[]): number | null {
  return lines.length ? lines[lines.length - 1].id : null;
}

// ---- Expression completion ------------------------------------------------------------------------------

export interface Completion {
  /** The whole path to insert, e.g. `nodes.lookup.output.id`. */
  path: string;
  /** The last segment, shown in the list. */
  label: string;
  /** A short description of the value there ("object", "120", ...). */
  detail: string;
}

const OPEN = /\{\{(?![\s\S]*\}\})([\s\S]*)$/;
const PATH_AT_END = /([A-Za-z_]\w*(?:\.\w*)*)$/;
const ROOTS = ["trigger", "nodes", "vars"];

function describeValue(value: unknown): string {
  if (Array.isArray(value)) return `list (${value.length})`;
  if (value === null) return "null";
  if (typeof value === "object") return "object";
  const text = typeof value === "string" ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

/**
 * What to offer while typing `text_before_cursor` in an expression field: inside an unclosed `{{`, the path
 * being typed (`trigger.`, `nodes.<id>.output.`, `vars.`) is looked up in `context` (pins and the last run)
 * and the keys there starting with what follows the last dot are offered. Null outside an expression.
 */
export function completions(
  textBeforeCursor: string,
  context: Record<string, unknown>,
): { typed: string; items: Completion[] } | null {
  const open = OPEN.exec(textBeforeCursor);
  if (!open) return null;
  const path = PATH_AT_END.exec(open[1]);
  const typed = path ? path[1] : "";
  if (path && path.index > 0 && /[\w.\]]/.test(open[1][path.index - 1])) return null;
  const segments = typed.split(".");
  const prefix = segments.pop() ?? "";
  let cursor: unknown = context;
  for (const key of segments) {
    if (cursor === null || typeof cursor !== "object" || Array.isArray(cursor)) return { typed, items: [] };
    cursor = (cursor as Record<string, unknown>)[key];
  }
  const keys =
    segments.length === 0
      ? ROOTS.filter((k) => k in context)
      : cursor !== null && typeof cursor === "object" && !Array.isArray(cursor)
        ? Object.keys(cursor as object)
        : [];
  const base = segments.length ? `${segments.join(".")}.` : "";
  const items = keys
    .filter((k) => k.startsWith(prefix) && k !== prefix)
    .map((k) => ({ path: `${base}${k}`, label: k, detail: describeValue((cursor as Record<string, unknown>)[k]) }));
  return { typed, items };
}

/** `text` with the path typed before `cursor` replaced by `path`: the new text and where the cursor goes. */
export function applyCompletion(text: string, cursor: number, typed: string, path: string): { text: string; cursor: number } {
  const start = cursor - typed.length;
  const next = `${text.slice(0, start)}${path}${text.slice(cursor)}`;
  return { text: next, cursor: start + path.length };
}

/**
 * The data expressions see, as far as the editor knows it: the trigger (a pinned start node, else the
 * shown run's input), each node's output (its pin, else its output in the shown run) and the variables.
 */
export function expressionContext(args: {
  definition: Definition;
  pins: Pins;
  runs: Record<string, NodeRun>;
  executionInput: unknown;
  variables: Record<string, unknown>;
  executionId?: string | null;
}): Record<string, unknown> {
  const { definition, pins, runs, executionInput, variables, executionId } = args;
  const nodes: Record<string, { output: unknown }> = {};
  for (const [id, run] of Object.entries(runs)) if (run.output !== undefined) nodes[id] = { output: run.output };
  for (const [id, value] of Object.entries(pins)) nodes[id] = { output: value };
  const trigger = triggerInput(definition, pins, executionInput ?? {});
  const context: Record<string, unknown> = { trigger, nodes, vars: variables };
  if (executionId) context.execution = { id: executionId };
  return context;
}

/** The data shape the server's preview lists (`trigger.a`, `nodes.x.output.y`), as objects to complete from. */
export function contextFromPaths(paths: string[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const path of paths) {
    let cursor = root;
    for (const key of path.split(".").filter(Boolean)) {
      const next = cursor[key];
      cursor = (cursor[key] = next && typeof next === "object" ? next : {}) as Record<string, unknown>;
    }
  }
  return root;
}

/** `extra` under `base`: what `base` knows (real values) wins; `extra` adds the keys it lacks. */
export function mergeContext(base: Record<string, unknown> | null, extra: Record<string, unknown> | null): Record<string, unknown> | null {
  if (!base) return extra;
  if (!extra) return base;
  const merged: Record<string, unknown> = { ...extra };
  for (const [key, value] of Object.entries(base)) {
    const other = extra[key];
    const bothObjects =
      value && typeof value === "object" && !Array.isArray(value) && other && typeof other === "object" && !Array.isArray(other);
    merged[key] = bothObjects ? mergeContext(value as Record<string, unknown>, other as Record<string, unknown>) : value;
  }
  return merged;
}
