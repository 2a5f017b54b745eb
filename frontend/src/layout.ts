/** Auto-layout: dagre ranks the graph left to right; React Flow keeps the result as node positions. */
import dagre from "@dagrejs/dagre";
import type { FlowEdge, FlowNode } from "./definition";

const WIDTH = 220;
const HEIGHT = 90;

export function autoLayout(nodes: FlowNode[], edges: FlowEdge[]): FlowNode[] {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 80 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    graph.setNode(node.id, { width: node.measured?.width ?? WIDTH, height: node.measured?.height ?? HEIGHT });
  }
  for (const edge of edges) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  return nodes.map((node) => {
    const placed = graph.node(node.id);
    const width = node.measured?.width ?? WIDTH;
    const height = node.measured?.height ?? HEIGHT;
    return { ...node, position: { x: Math.round(placed.x - width / 2), y: Math.round(placed.y - height / 2) } };
  });
}

/** A workflow opens laid out when positions are missing or two nodes share one (they would sit stacked). */
export function needsLayout(positions: ({ x: number; y: number } | undefined | null)[]): boolean {
  const seen = new Set<string>();
  for (const position of positions) {
    if (!position || typeof position.x !== "number" || typeof position.y !== "number") return true;
    const key = `${Math.round(position.x)},${Math.round(position.y)}`;
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}
