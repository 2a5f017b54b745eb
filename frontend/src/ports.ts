/** Which ports a node has: its type's declared ports, one per switch case, and `error` when routed there. */
import type { DefNode, JsonObject, NodeTypeInfo } from "./types";

export const MAIN = "main";
export const ERROR = "error";
/** The `on_error` value that routes a failure to the node's error port. */
export const ON_ERROR_ROUTE = "route";

function switchPorts(config: JsonObject): string[] | null {
  const cases = config.cases;
  if (!Array.isArray(cases)) return null;
  const ports = cases.map((c, i) => {
    if (c && typeof c === "object") {
      const named = (c as JsonObject).port ?? (c as JsonObject).name ?? (c as JsonObject).output;
      if (typeof named === "string" && named) return named;
    }
    return `case_${i}`;
  });
  return [...ports, "default"];
}

export function outputPorts(type: string, config: JsonObject, onError: unknown, nodeType?: NodeTypeInfo): string[] {
  let ports = nodeType ? [...nodeType.outputs] : [MAIN];
  if (type === "switch") ports = switchPorts(config) ?? ports;
  if ((onError === ON_ERROR_ROUTE || onError === ERROR) && !ports.includes(ERROR)) ports.push(ERROR);
  return ports;
}

export function inputPorts(nodeType?: NodeTypeInfo): string[] {
  return nodeType ? [...nodeType.inputs] : [MAIN];
}

export function portsOfDefNode(node: DefNode, types: Record<string, NodeTypeInfo>) {
  const nodeType = types[node.type];
  return {
    inputs: inputPorts(nodeType),
    outputs: outputPorts(node.type, node.config ?? {}, node.on_error, nodeType),
  };
}
