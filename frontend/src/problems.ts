/** Map the server's validation problems (JSON pointers into the definition) to nodes, fields and edges. */
import type { Definition, Problem } from "./types";

export interface ProblemIndex {
  /** node id -> messages about the node as a whole */
  nodes: Record<string, string[]>;
  /** node id -> config field path (a/b/c) -> messages */
  fields: Record<string, Record<string, string[]>>;
  /** edge index in the saved definition -> messages */
  edges: Record<number, string[]>;
  /** everything not pointing at a node or edge */
  general: string[];
}

function unescape(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

/** Split a JSON pointer ("/nodes/2/config/url") or a dotted field path ("definition.nodes.2") into tokens. */
export function pointerTokens(path: string): string[] {
  const trimmed = path.replace(/^#/, "");
  const tokens = trimmed.startsWith("/") ? trimmed.slice(1).split("/").map(unescape) : trimmed.split(/[./]/);
  // The API may prefix the pointer with the request field that carried the definition.
  return tokens[0] === "definition" ? tokens.slice(1) : tokens.filter((t) => t !== "");
}

function push<K extends string | number>(map: Record<K, string[]>, key: K, message: string) {
  (map[key] ??= []).push(message);
}

export function indexProblems(problems: Problem[], definition: Definition): ProblemIndex {
  const index: ProblemIndex = { nodes: {}, fields: {}, edges: {}, general: [] };
  for (const problem of problems) {
    const tokens = pointerTokens(problem.path ?? "");
    const position = Number(tokens[1]);
    if (tokens[0] === "nodes" && Number.isInteger(position) && definition.nodes[position]) {
      const nodeId = definition.nodes[position].id;
      push(index.nodes, nodeId, problem.message);
      if (tokens[2] === "config" && tokens.length > 3) {
        push((index.fields[nodeId] ??= {}), tokens.slice(3).join("/"), problem.message);
      }
    } else if (tokens[0] === "edges" && Number.isInteger(position)) {
      push(index.edges, position, problem.message);
    } else {
      index.general.push(problem.path ? `${problem.path}: ${problem.message}` : problem.message);
    }
  }
  return index;
}

type ErrorTree = { __errors?: string[]; [key: string]: unknown };

/** The `extraErrors` tree @rjsf expects, built from one node's field problems. */
export function fieldErrorTree(fields: Record<string, string[]> | undefined): ErrorTree {
  const tree: ErrorTree = {};
  for (const [path, messages] of Object.entries(fields ?? {})) {
    let cursor = tree;
    for (const token of path.split("/")) cursor = (cursor[token] ??= {}) as ErrorTree;
    cursor.__errors = [...(cursor.__errors ?? []), ...messages];
  }
  return tree;
}

/** Problems without repeats (client and server checks may report the same one). */
export function dedupeProblems(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** How many problems the editor shows: on nodes, on edges (one per edge) and general ones. */
export function countProblems(problems: ProblemIndex): number {
  const onNodes = Object.values(problems.nodes).reduce((n, list) => n + list.length, 0);
  return onNodes + problems.general.length + Object.keys(problems.edges).length;
}
