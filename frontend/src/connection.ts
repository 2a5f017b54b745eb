/** The rules a new edge must pass before the canvas accepts it: real ports, no duplicate, no cycle. */
import type { Connection, Edge } from "@xyflow/react";

export const ERR_SELF_LOOP = "A node cannot connect to itself.";
export const ERR_UNKNOWN_NODE = "Both ends of an edge must be nodes on the canvas.";
export const ERR_SOURCE_PORT = "That output port does not exist on the source node.";
export const ERR_TARGET_PORT = "That input port does not exist on the target node.";
export const ERR_DUPLICATE = "These two ports are already connected.";
export const ERR_CYCLE = "This edge would create a cycle.";
export const ERR_DIRECTION = "Connect an output (right side) to an input (left side).";

export interface PortLookup {
  (nodeId: string): { inputs: string[]; outputs: string[] } | undefined;
}

type EdgeLike = Pick<Edge, "source" | "target" | "sourceHandle" | "targetHandle">;

/** Whether `target` already reaches `source` along existing edges (then source -> target closes a cycle). */
export function reaches(edges: EdgeLike[], from: string, to: string): boolean {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.source, [...(next.get(e.source) ?? []), e.target]);
  const seen = new Set<string>();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(next.get(id) ?? []));
  }
  return false;
}

/** Why `connection` is refused, or null when it is fine. */
export function connectionProblem(connection: Connection | EdgeLike, edges: EdgeLike[], ports: PortLookup): string | null {
  const { source, target } = connection;
  if (source === target) return ERR_SELF_LOOP;
  const sourcePorts = ports(source);
  const targetPorts = ports(target);
  if (!sourcePorts || !targetPorts) return ERR_UNKNOWN_NODE;
  const sourceHandle = connection.sourceHandle ?? "main";
  const targetHandle = connection.targetHandle ?? "main";
  if (!sourcePorts.outputs.includes(sourceHandle)) return ERR_SOURCE_PORT;
  if (!targetPorts.inputs.includes(targetHandle)) return ERR_TARGET_PORT;
  const duplicate = edges.some(
    (e) =>
      e.source === source &&
      e.target === target &&
      (e.sourceHandle ?? "main") === sourceHandle &&
      (e.targetHandle ?? "main") === targetHandle,
  );
  if (duplicate) return ERR_DUPLICATE;
  if (reaches(edges, target, source)) return ERR_CYCLE;
  return null;
}
