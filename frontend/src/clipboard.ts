/** The editor's clipboard format: selected nodes and the edges between them, as JSON any tab can read. */
import { definitionToFlow, flowToDefinition, type FlowEdge, type FlowNode } from "./definition";
import type { DefEdge, DefNode } from "./types";

export const CLIPBOARD_FORMAT = "concertmaster/nodes";
export const MSG_CLIPBOARD_NOT_NODES = "The clipboard holds no ConcertMaster nodes: nothing pasted.";

interface ClipboardPayload {
  format: typeof CLIPBOARD_FORMAT;
  version: 1;
  nodes: DefNode[];
  edges: DefEdge[];
}

/** The selected nodes and the edges between them, in the definition's shape, as JSON text. */
export function encodeClipboard(nodes: FlowNode[], edges: FlowEdge[]): string {
  const ids = new Set(nodes.map((n) => n.id));
  const inner = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  const { nodes: defNodes, edges: defEdges } = flowToDefinition(nodes, inner);
  const payload: ClipboardPayload = { format: CLIPBOARD_FORMAT, version: 1, nodes: defNodes, edges: defEdges };
  return JSON.stringify(payload, null, 2);
}

function isDefNode(value: unknown): value is DefNode {
  if (!value || typeof value !== "object") return false;
  const n = value as DefNode;
  const configOk = n.config === undefined || (typeof n.config === "object" && n.config !== null && !Array.isArray(n.config));
  return typeof n.id === "string" && n.id !== "" && typeof n.type === "string" && n.type !== "" && configOk;
}

/**
 * Nodes and edges from clipboard text, or null when it is not the editor's format. Bare `{nodes, edges}`
 * (a definition, or part of one) is accepted too; edges to nodes outside the copy are dropped.
 */
export function decodeClipboard(text: string): { nodes: FlowNode[]; edges: FlowEdge[] } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return null;
  const { nodes, edges } = parsed as { nodes?: unknown; edges?: unknown };
  if (!Array.isArray(nodes) || !nodes.length || !nodes.every(isDefNode)) return null;
  const ids = new Set(nodes.map((n) => n.id));
  if (ids.size !== nodes.length) return null;
  const edgeList = Array.isArray(edges) ? edges : [];
  const kept = edgeList.filter(
    (e): e is DefEdge => !!e && typeof e === "object" && ids.has((e as DefEdge).source) && ids.has((e as DefEdge).target),
  );
  return definitionToFlow({ nodes: nodes.map((n) => ({ ...n, config: n.config ?? {} })), edges: kept });
}
