/** Conversion between the saved workflow definition and React Flow's nodes and edges (pure functions). */
import type { Edge, Node } from "@xyflow/react";
import { MAIN } from "./ports";
import type { DefEdge, DefNode, Definition, JsonObject, WorkflowNodeData } from "./types";

export type FlowNode = Node<WorkflowNodeData, "workflow">;
export type FlowEdge = Edge;

const NODE_KEYS = new Set(["id", "type", "config", "position"]);
const GRID_X = 260;

export function edgeId(source: string, sourcePort: string, target: string, targetPort: string): string {
  return `${source}:${sourcePort}->${target}:${targetPort}`;
}

function defNodeToFlow(node: DefNode, index: number): FlowNode {
  const extra: JsonObject = {};
  for (const [key, value] of Object.entries(node)) if (!NODE_KEYS.has(key)) extra[key] = value;
  // A node saved without a position (written by hand or over the API) is laid out in a row.
  const position = node.position ?? { x: index * GRID_X, y: 0 };
  return {
    id: node.id,
    type: "workflow",
    position: { x: position.x, y: position.y },
    data: { type: node.type, config: node.config ?? {}, extra },
  };
}

function defEdgeToFlow(edge: DefEdge): FlowEdge {
  const sourceHandle = edge.source_port || MAIN;
  const targetHandle = edge.target_port || MAIN;
  return {
    id: edgeId(edge.source, sourceHandle, edge.target, targetHandle),
    source: edge.source,
    sourceHandle,
    target: edge.target,
    targetHandle,
  };
}

export function definitionToFlow(definition: Partial<Definition> | null | undefined): {
  nodes: FlowNode[];
  edges: FlowEdge[];
} {
  const nodes = (definition?.nodes ?? []).map(defNodeToFlow);
  const edges = (definition?.edges ?? []).map(defEdgeToFlow);
  return { nodes, edges };
}

function flowNodeToDef(node: FlowNode): DefNode {
  return {
    id: node.id,
    type: node.data.type,
    config: node.data.config,
    position: { x: Math.round(node.position.x), y: Math.round(node.position.y) },
    ...node.data.extra,
  };
}

function flowEdgeToDef(edge: FlowEdge): DefEdge {
  // `main` is the default port: leave it out, as people write definitions by hand.
  const out: DefEdge = { source: edge.source, target: edge.target };
  if (edge.sourceHandle && edge.sourceHandle !== MAIN) out.source_port = edge.sourceHandle;
  if (edge.targetHandle && edge.targetHandle !== MAIN) out.target_port = edge.targetHandle;
  return out;
}

export function flowToDefinition(nodes: FlowNode[], edges: FlowEdge[], variables: JsonObject = {}): Definition {
  return {
    nodes: nodes.map(flowNodeToDef),
    edges: edges.map(flowEdgeToDef),
    variables,
  };
}

/** A fresh node id for `type` that no node in `taken` uses: `http_request`, `http_request_2`, ... */
export function uniqueNodeId(type: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const base = type.replace(/[^a-zA-Z0-9_]/g, "_") || "node";
  if (!used.has(base)) return base;
  for (let n = 2; ; n++) if (!used.has(`${base}_${n}`)) return `${base}_${n}`;
}
