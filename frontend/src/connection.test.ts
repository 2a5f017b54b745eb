import { describe, expect, it } from "vitest";
import {
  ERR_CYCLE,
  ERR_DUPLICATE,
  ERR_SELF_LOOP,
  ERR_SOURCE_PORT,
  ERR_TARGET_PORT,
  ERR_UNKNOWN_NODE,
  connectionProblem,
  reaches,
} from "./connection";
import { outputPorts } from "./ports";

const PORTS: Record<string, { inputs: string[]; outputs: string[] }> = {
  trigger: { inputs: [], outputs: ["main"] },
  check: { inputs: ["main"], outputs: ["true", "false"] },
  a: { inputs: ["main"], outputs: ["main"] },
  b: { inputs: ["main"], outputs: ["main"] },
};
const lookup = (id: string) => PORTS[id];
const edge = (source: string, sourceHandle: string, target: string, targetHandle = "main") => ({
  source,
  sourceHandle,
  target,
  targetHandle,
});

describe("connectionProblem", () => {
  const edges = [edge("trigger", "main", "check"), edge("check", "true", "a")];

  it("accepts a new edge between real ports", () => {
    expect(connectionProblem(edge("check", "false", "b"), edges, lookup)).toBeNull();
    expect(connectionProblem(edge("a", "main", "b"), edges, lookup)).toBeNull();
  });

  it("refuses a self loop", () => {
    expect(connectionProblem(edge("a", "main", "a"), edges, lookup)).toBe(ERR_SELF_LOOP);
  });

  it("refuses an edge to a node that is not on the canvas", () => {
    expect(connectionProblem(edge("a", "main", "ghost"), edges, lookup)).toBe(ERR_UNKNOWN_NODE);
  });

  it("refuses ports the nodes do not have", () => {
    expect(connectionProblem(edge("check", "main", "b"), edges, lookup)).toBe(ERR_SOURCE_PORT);
    expect(connectionProblem(edge("a", "main", "trigger"), edges, lookup)).toBe(ERR_TARGET_PORT);
    expect(connectionProblem(edge("a", "main", "b", "other"), edges, lookup)).toBe(ERR_TARGET_PORT);
  });

  it("refuses a duplicate edge", () => {
    expect(connectionProblem(edge("check", "true", "a"), edges, lookup)).toBe(ERR_DUPLICATE);
  });

  it("allows the same two nodes on different ports", () => {
    expect(connectionProblem(edge("check", "false", "a"), edges, lookup)).toBeNull();
  });

  it("refuses an edge that closes a cycle, direct or long", () => {
    const chain = [...edges, edge("a", "main", "b")];
    expect(connectionProblem(edge("b", "main", "check"), chain, lookup)).toBe(ERR_CYCLE);
    expect(connectionProblem(edge("a", "main", "check"), chain, lookup)).toBe(ERR_CYCLE);
  });

  it("treats missing handles as the main port", () => {
    expect(connectionProblem({ source: "a", target: "b", sourceHandle: null, targetHandle: null }, edges, lookup)).toBeNull();
  });
});

describe("reaches", () => {
  it("follows edges transitively and stops on loops already present", () => {
    const loop = [edge("a", "main", "b"), edge("b", "main", "a")];
    expect(reaches(loop, "a", "b")).toBe(true);
    expect(reaches(loop, "a", "check")).toBe(false);
  });
});

describe("outputPorts", () => {
  const ifElse = {
    name: "if_else",
    category: "conditions",
    display_name: "If / else",
    description: "",
    icon: "split",
    config_schema: {},
    inputs: ["main"],
    outputs: ["true", "false"],
    is_enabled: true,
  };

  it("uses the node type's declared outputs", () => {
    expect(outputPorts("if_else", {}, undefined, ifElse)).toEqual(["true", "false"]);
  });

  it("adds an error port only when errors are routed to it", () => {
    expect(outputPorts("if_else", {}, "route", ifElse)).toEqual(["true", "false", "error"]);
    expect(outputPorts("if_else", {}, "continue", ifElse)).toEqual(["true", "false"]);
  });

  it("gives a switch one port per case plus default", () => {
    const cases = [{ port: "red" }, { port: "blue" }, {}];
    expect(outputPorts("switch", { cases }, undefined)).toEqual(["red", "blue", "case_2", "default"]);
  });

  it("falls back to main for an unknown type", () => {
    expect(outputPorts("mystery", {}, undefined)).toEqual(["main"]);
  });
});
