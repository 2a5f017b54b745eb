import { describe, expect, it } from "vitest";
import { definitionToFlow, edgeId, flowToDefinition, uniqueNodeId } from "./definition";
import type { Definition } from "./types";

const DEMO: Definition = {
  nodes: [
    { id: "start", type: "manual", config: {}, position: { x: 0, y: 120 } },
    { id: "check", type: "if_else", config: { condition: "{{ trigger.amount > 1 }}" }, position: { x: 260, y: 120 } },
    {
      id: "notify",
      type: "http_request",
      config: { url: "https://example.com" },
      position: { x: 520, y: 40 },
      retry: { max_attempts: 3 },
      timeout_seconds: 30,
      on_error: "continue",
    },
  ],
  edges: [
    { source: "start", target: "check" },
    { source: "check", source_port: "true", target: "notify" },
  ],
  variables: { threshold: 100 },
};

describe("definitionToFlow", () => {
  it("makes one canvas node per definition node with its config and extra keys", () => {
    const { nodes } = definitionToFlow(DEMO);
    expect(nodes.map((n) => n.id)).toEqual(["start", "check", "notify"]);
    expect(nodes[2].data).toEqual({
      type: "http_request",
      config: { url: "https://example.com" },
      extra: { retry: { max_attempts: 3 }, timeout_seconds: 30, on_error: "continue" },
    });
    expect(nodes[1].position).toEqual({ x: 260, y: 120 });
  });

  it("maps ports to handles, defaulting to main", () => {
    const { edges } = definitionToFlow(DEMO);
    expect(edges[0]).toMatchObject({ source: "start", sourceHandle: "main", target: "check", targetHandle: "main" });
    expect(edges[1]).toMatchObject({ sourceHandle: "true", id: edgeId("check", "true", "notify", "main") });
  });

  it("lays out nodes without a position in a row instead of stacking them", () => {
    const { nodes } = definitionToFlow({ nodes: [{ id: "a", type: "x", config: {} }, { id: "b", type: "x", config: {} }], edges: [] });
    expect(nodes[0].position).not.toEqual(nodes[1].position);
  });

  it("accepts an empty or missing definition", () => {
    expect(definitionToFlow(undefined)).toEqual({ nodes: [], edges: [] });
    expect(definitionToFlow({})).toEqual({ nodes: [], edges: [] });
  });
});

describe("flowToDefinition", () => {
  it("round-trips a definition unchanged", () => {
    const { nodes, edges } = definitionToFlow(DEMO);
    expect(flowToDefinition(nodes, edges, DEMO.variables)).toEqual(DEMO);
  });

  it("rounds positions and leaves out default ports", () => {
    const { nodes, edges } = definitionToFlow(DEMO);
    nodes[0].position = { x: 10.6, y: -3.2 };
    edges[0] = { ...edges[0], sourceHandle: "main", targetHandle: "main" };
    const out = flowToDefinition(nodes, edges);
    expect(out.nodes[0].position).toEqual({ x: 11, y: -3 });
    expect(out.edges[0]).toEqual({ source: "start", target: "check" });
    expect(out.variables).toEqual({});
  });

  it("keeps a non-default target port", () => {
    const out = flowToDefinition(
      [],
      [{ id: "e", source: "a", sourceHandle: "error", target: "b", targetHandle: "other" }],
    );
    expect(out.edges).toEqual([{ source: "a", source_port: "error", target: "b", target_port: "other" }]);
  });
});

describe("uniqueNodeId", () => {
  it("uses the type name, then numbers", () => {
    expect(uniqueNodeId("log", [])).toBe("log");
    expect(uniqueNodeId("log", ["log", "log_2"])).toBe("log_3");
  });

  it("replaces characters that are not identifier-safe", () => {
    expect(uniqueNodeId("my-node.type", [])).toBe("my_node_type");
  });
});
