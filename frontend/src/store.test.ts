import { beforeEach, describe, expect, it } from "vitest";
import { useEditor } from "./store";
import type { Definition, NodeTypeInfo } from "./types";

const TYPE = (name: string, inputs: string[], outputs: string[]): NodeTypeInfo => ({
  name,
  category: inputs.length ? "transforms" : "triggers",
  display_name: name,
  description: "",
  icon: "box",
  config_schema: { type: "object" },
  inputs,
  outputs,
  is_enabled: true,
});

const DEF: Definition = {
  nodes: [
    { id: "start", type: "manual", config: {}, position: { x: 0, y: 0 } },
    { id: "check", type: "if_else", config: {}, position: { x: 200, y: 0 } },
    { id: "log", type: "log", config: { message: "hi" }, position: { x: 400, y: 0 } },
  ],
  edges: [
    { source: "start", target: "check" },
    { source: "check", source_port: "true", target: "log" },
  ],
  variables: {},
};

describe("editor store", () => {
  beforeEach(() => {
    useEditor.getState().setNodeTypes([TYPE("manual", [], ["main"]), TYPE("if_else", ["main"], ["true", "false"]), TYPE("log", ["main"], ["main"])]);
    useEditor.getState().load(DEF);
  });

  it("loads a definition clean and gives it back unchanged", () => {
    expect(useEditor.getState().dirty).toBe(false);
    expect(useEditor.getState().definition()).toEqual(DEF);
  });

  it("refuses a bad connection and records a good one as one undo step", () => {
    const store = useEditor.getState();
    expect(store.connect({ source: "log", target: "start", sourceHandle: "main", targetHandle: "main" })).not.toBeNull();
    expect(store.connect({ source: "check", target: "log", sourceHandle: "false", targetHandle: "main" })).toBeNull();
    expect(useEditor.getState().edges).toHaveLength(3);
    expect(useEditor.getState().dirty).toBe(true);
    useEditor.getState().undo();
    expect(useEditor.getState().edges).toHaveLength(2);
    useEditor.getState().redo();
    expect(useEditor.getState().edges).toHaveLength(3);
  });

  it("undoes a node deletion and its edges in one step, as React Flow reports them in two calls", () => {
    const store = useEditor.getState();
    store.onEdgesChange([{ type: "remove", id: useEditor.getState().edges[1].id }]);
    store.onNodesChange([{ type: "remove", id: "log" }]);
    expect(useEditor.getState().nodes).toHaveLength(2);
    expect(useEditor.getState().edges).toHaveLength(1);
    useEditor.getState().undo();
    expect(useEditor.getState().definition()).toEqual(DEF);
  });

  it("coalesces typing in one node's config into one undo step", () => {
    const store = useEditor.getState();
    store.updateConfig("log", { message: "h" });
    store.updateConfig("log", { message: "he" });
    store.updateConfig("log", { message: "hey" });
    useEditor.getState().undo();
    expect(useEditor.getState().definition().nodes[2].config).toEqual({ message: "hi" });
  });

  it("pastes copies with fresh ids, their inner edges, offset from the originals", () => {
    useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: n.id !== "start" })) }));
    expect(useEditor.getState().copySelected()).toBe(2);
    expect(useEditor.getState().paste()).toBe(2);
    const { nodes, edges } = useEditor.getState();
    expect(nodes.map((n) => n.id)).toEqual(["start", "check", "log", "if_else", "log_2"]);
    expect(edges.at(-1)).toMatchObject({ source: "if_else", sourceHandle: "true", target: "log_2" });
    expect(nodes[3].position).toEqual({ x: 240, y: 40 });
  });

  it("drops edges whose port disappears when the config changes", () => {
    useEditor.getState().updateExtra("check", "on_error", "route");
    useEditor.getState().connect({ source: "check", target: "log", sourceHandle: "error", targetHandle: "main" });
    expect(useEditor.getState().edges).toHaveLength(3);
    useEditor.getState().updateExtra("check", "on_error", "stop");
    expect(useEditor.getState().edges).toHaveLength(2);
    expect(useEditor.getState().definition().nodes[1].on_error).toBe("stop");
  });

  it("saves variables with the definition and undoes them like any edit", () => {
    useEditor.getState().setVariables({ threshold: 5 });
    expect(useEditor.getState().definition().variables).toEqual({ threshold: 5 });
    expect(useEditor.getState().dirty).toBe(true);
    useEditor.getState().undo();
    expect(useEditor.getState().definition().variables).toEqual({});
  });

  it("renames a node with its edges and the expressions that read it", () => {
    useEditor.getState().updateConfig("log", { message: "{{ nodes.check.output }}" });
    expect(useEditor.getState().renameNode("check", "start")).not.toBeNull();
    expect(useEditor.getState().renameNode("check", "decide")).toBeNull();
    const definition = useEditor.getState().definition();
    expect(definition.nodes.map((n) => n.id)).toEqual(["start", "decide", "log"]);
    expect(definition.edges).toEqual([
      { source: "start", target: "decide" },
      { source: "decide", source_port: "true", target: "log" },
    ]);
    expect(definition.nodes[2].config).toEqual({ message: "{{ nodes.decide.output }}" });
    useEditor.getState().undo();
    expect(useEditor.getState().definition().nodes[1].id).toBe("check");
  });

  it("adds a dropped node with a unique id, selected", () => {
    const id = useEditor.getState().addNode("log", { x: 5, y: 5 });
    expect(id).toBe("log_2");
    expect(useEditor.getState().selectedId).toBe("log_2");
  });

  it("is clean again after undoing back to the saved graph, and dirty after redoing", () => {
    useEditor.getState().updateConfig("log", { message: "changed" });
    expect(useEditor.getState().dirty).toBe(true);
    useEditor.getState().undo();
    expect(useEditor.getState().dirty).toBe(false);
    useEditor.getState().redo();
    expect(useEditor.getState().dirty).toBe(true);
    useEditor.getState().markSaved();
    expect(useEditor.getState().dirty).toBe(false);
    useEditor.getState().undo();
    expect(useEditor.getState().dirty).toBe(true);
  });

  it("stays dirty for an edit made while a save was out", () => {
    useEditor.getState().updateConfig("log", { message: "sent" });
    const sent = useEditor.getState().definition();
    useEditor.getState().updateConfig("check", { condition: "typed meanwhile" });
    useEditor.getState().markSaved(sent);
    expect(useEditor.getState().dirty).toBe(true);
    useEditor.getState().undo();
    expect(useEditor.getState().dirty).toBe(false);
  });

  it("is clean after a change that puts back what was saved (a node dragged back)", () => {
    useEditor.getState().onNodesChange([{ type: "position", id: "log", position: { x: 500, y: 0 }, dragging: true }]);
    expect(useEditor.getState().dirty).toBe(true);
    useEditor.getState().onNodesChange([{ type: "position", id: "log", position: { x: 400, y: 0 }, dragging: true }]);
    expect(useEditor.getState().dirty).toBe(false);
  });

  it("pastes nodes copied in another workflow: fresh ids, offset positions, edges re-pointed", () => {
    useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: n.id !== "start" })) }));
    const text = useEditor.getState().clipboardText();
    expect(text).not.toBeNull();
    useEditor.getState().load({ nodes: [{ id: "check", type: "manual", config: {}, position: { x: 0, y: 0 } }], edges: [] });
    expect(useEditor.getState().pasteText(text!)).toBe(2);
    const { nodes, edges } = useEditor.getState();
    expect(nodes.map((n) => n.id)).toEqual(["check", "if_else", "log"]);
    expect(nodes[1].position).toEqual({ x: 240, y: 40 });
    expect(nodes[1].data.config).toEqual({});
    expect(edges).toHaveLength(1);
    expect(edges[0]).toMatchObject({ source: "if_else", sourceHandle: "true", target: "log" });
    expect(useEditor.getState().dirty).toBe(true);
  });

  it("ignores clipboard text that holds no nodes", () => {
    expect(useEditor.getState().pasteText("hello")).toBe(-1);
    expect(useEditor.getState().pasteText('{"nodes": "x"}')).toBe(-1);
    expect(useEditor.getState().nodes).toHaveLength(3);
    expect(useEditor.getState().dirty).toBe(false);
  });
});

describe("opening a workflow", () => {
  const stacked: Definition = {
    nodes: [
      { id: "start", type: "manual", config: {}, position: { x: 0, y: 0 } },
      { id: "check", type: "if_else", config: {}, position: { x: 0, y: 0 } },
      { id: "log", type: "log", config: {}, position: { x: 0, y: 0 } },
    ],
    edges: [
      { source: "start", target: "check" },
      { source: "check", source_port: "true", target: "log" },
    ],
  };

  it("lays out nodes that share a position, left to right, and counts that as the saved state", () => {
    useEditor.getState().load(stacked);
    const xs = useEditor.getState().nodes.map((n) => n.position.x);
    expect(xs[0]).toBeLessThan(xs[1]);
    expect(xs[1]).toBeLessThan(xs[2]);
    expect(useEditor.getState().dirty).toBe(false);
  });

  it("lays out nodes saved without positions", () => {
    useEditor.getState().load({ ...stacked, nodes: stacked.nodes.map(({ position: _p, ...n }) => n) });
    const positions = new Set(useEditor.getState().nodes.map((n) => `${n.position.x},${n.position.y}`));
    expect(positions.size).toBe(3);
  });

  it("leaves distinct positions where they are", () => {
    useEditor.getState().load(DEF);
    expect(useEditor.getState().definition()).toEqual(DEF);
  });
});

describe("a read-only graph", () => {
  it("refuses connections, pastes and deletions", () => {
    useEditor.getState().load(
      { nodes: [{ id: "a", type: "manual", config: {}, position: { x: 0, y: 0 } }, { id: "b", type: "log", config: {}, position: { x: 300, y: 0 } }], edges: [] },
      { readOnly: true },
    );
    expect(useEditor.getState().connect({ source: "a", target: "b", sourceHandle: "main", targetHandle: "main" })).not.toBeNull();
    expect(useEditor.getState().edges).toHaveLength(0);
    useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: true })) }));
    const text = useEditor.getState().clipboardText();
    expect(text).not.toBeNull();
    expect(useEditor.getState().pasteText(text!)).toBe(0);
    useEditor.getState().deleteSelected();
    expect(useEditor.getState().nodes).toHaveLength(2);
    expect(useEditor.getState().dirty).toBe(false);
  });
});
