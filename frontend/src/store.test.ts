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
});
