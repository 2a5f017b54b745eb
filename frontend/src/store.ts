/** The editor's state (zustand): the graph, its history, selection, server problems and the live run. */
import { applyEdgeChanges, applyNodeChanges, type Connection, type EdgeChange, type NodeChange } from "@xyflow/react";
import { create } from "zustand";
import { connectionProblem } from "./connection";
import { definitionToFlow, edgeId, flowToDefinition, uniqueNodeId, type FlowEdge, type FlowNode } from "./definition";
import { autoLayout } from "./layout";
import { portsOfDefNode } from "./ports";
import { indexProblems, type ProblemIndex } from "./problems";
import { idProblem, renameReferences } from "./rename";
import type { Definition, JsonObject, NodeRun, NodeTypeInfo, Problem } from "./types";

const HISTORY_LIMIT = 100;
/** Keystrokes in one field within this window are one undo step. */
const COALESCE_MS = 1000;
const PASTE_OFFSET = 40;

interface Snapshot {
  nodes: FlowNode[];
  edges: FlowEdge[];
  variables?: JsonObject;
}

export interface Toast {
  kind: "info" | "error" | "success";
  text: string;
}

const EMPTY_PROBLEMS: ProblemIndex = { nodes: {}, fields: {}, edges: {}, general: [] };

export interface EditorState {
  nodeTypes: Record<string, NodeTypeInfo>;
  nodes: FlowNode[];
  edges: FlowEdge[];
  variables: JsonObject;
  readOnly: boolean;
  dirty: boolean;
  past: Snapshot[];
  future: Snapshot[];
  lastHistoryKey: string | null;
  lastHistoryAt: number;
  selectedId: string | null;
  clipboard: Snapshot | null;
  problems: ProblemIndex;
  runs: Record<string, NodeRun>;
  toast: Toast | null;

  setNodeTypes(types: NodeTypeInfo[]): void;
  load(definition: Partial<Definition> | null, options?: { readOnly?: boolean }): void;
  definition(): Definition;
  portsOf(nodeId: string): { inputs: string[]; outputs: string[] } | undefined;
  pushHistory(key?: string): void;
  undo(): void;
  redo(): void;
  onNodesChange(changes: NodeChange<FlowNode>[]): void;
  onEdgesChange(changes: EdgeChange<FlowEdge>[]): void;
  connect(connection: Connection): string | null;
  addNode(type: string, position: { x: number; y: number }): string;
  updateConfig(nodeId: string, config: JsonObject): void;
  updateExtra(nodeId: string, key: string, value: unknown): void;
  setVariables(variables: JsonObject): void;
  renameNode(from: string, to: string): string | null;
  deleteSelected(): void;
  copySelected(): number;
  paste(): number;
  layout(): void;
  select(nodeId: string | null): void;
  setProblems(problems: Problem[], definition: Definition): void;
  clearProblems(): void;
  setRuns(runs: Record<string, NodeRun>): void;
  patchRun(nodeId: string, patch: Partial<NodeRun>): void;
  markSaved(): void;
  notify(toast: Toast | null): void;
}

function snapshot(state: EditorState): Snapshot {
  return { nodes: state.nodes, edges: state.edges, variables: state.variables };
}

/** Drop edges whose ports vanished (a switch case removed, error routing turned off). */
function pruneEdges(state: EditorState, nodes: FlowNode[], edges: FlowEdge[]): FlowEdge[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return edges.filter((e) => {
    const source = byId.get(e.source);
    const target = byId.get(e.target);
    if (!source || !target) return false;
    const sourcePorts = portsOfDefNode({ id: source.id, type: source.data.type, config: source.data.config, ...source.data.extra }, state.nodeTypes);
    const targetPorts = portsOfDefNode({ id: target.id, type: target.data.type, config: target.data.config }, state.nodeTypes);
    return sourcePorts.outputs.includes(e.sourceHandle ?? "main") && targetPorts.inputs.includes(e.targetHandle ?? "main");
  });
}

export const useEditor = create<EditorState>()((set, get) => ({
  nodeTypes: {},
  nodes: [],
  edges: [],
  variables: {},
  readOnly: false,
  dirty: false,
  past: [],
  future: [],
  lastHistoryKey: null,
  lastHistoryAt: 0,
  selectedId: null,
  clipboard: null,
  problems: EMPTY_PROBLEMS,
  runs: {},
  toast: null,

  setNodeTypes(types) {
    set({ nodeTypes: Object.fromEntries(types.map((t) => [t.name, t])) });
  },

  load(definition, options = {}) {
    const { nodes, edges } = definitionToFlow(definition);
    set({
      nodes,
      edges,
      variables: (definition?.variables as JsonObject) ?? {},
      readOnly: options.readOnly ?? false,
      dirty: false,
      past: [],
      future: [],
      selectedId: null,
      problems: EMPTY_PROBLEMS,
    });
  },

  definition() {
    const { nodes, edges, variables } = get();
    return flowToDefinition(nodes, edges, variables);
  },

  portsOf(nodeId) {
    const node = get().nodes.find((n) => n.id === nodeId);
    if (!node) return undefined;
    return portsOfDefNode({ id: node.id, type: node.data.type, config: node.data.config, ...node.data.extra }, get().nodeTypes);
  },

  pushHistory(key) {
    const state = get();
    const now = Date.now();
    if (key && key === state.lastHistoryKey && now - state.lastHistoryAt < COALESCE_MS) {
      set({ lastHistoryAt: now });
      return;
    }
    set({
      past: [...state.past.slice(-HISTORY_LIMIT + 1), snapshot(state)],
      future: [],
      lastHistoryKey: key ?? null,
      lastHistoryAt: now,
    });
  },

  undo() {
    const { past, future } = get();
    if (!past.length) return;
    const previous = past[past.length - 1];
    set((s) => ({ ...previous, past: past.slice(0, -1), future: [snapshot(s), ...future], dirty: true, lastHistoryKey: null }));
  },

  redo() {
    const { past, future } = get();
    if (!future.length) return;
    const [next, ...rest] = future;
    set((s) => ({ ...next, past: [...past, snapshot(s)], future: rest, dirty: true, lastHistoryKey: null }));
  },

  onNodesChange(changes) {
    if (get().readOnly) {
      changes = changes.filter((c) => c.type === "select" || c.type === "dimensions");
    }
    const meaningful = changes.some((c) => c.type === "remove" || (c.type === "position" && c.dragging));
    // React Flow removes a node and its edges in two calls: one undo step for both.
    if (changes.some((c) => c.type === "remove")) get().pushHistory("delete");
    set((s) => {
      const nodes = applyNodeChanges(changes, s.nodes);
      const selected = nodes.filter((n) => n.selected);
      const removed = changes.some((c) => c.type === "remove");
      return {
        nodes,
        edges: removed ? pruneEdges(s, nodes, s.edges) : s.edges,
        dirty: s.dirty || meaningful,
        selectedId: selected.length === 1 ? selected[0].id : selected.length ? null : s.selectedId && nodes.some((n) => n.id === s.selectedId) ? s.selectedId : null,
      };
    });
  },

  onEdgesChange(changes) {
    if (get().readOnly) changes = changes.filter((c) => c.type === "select");
    if (changes.some((c) => c.type === "remove")) get().pushHistory("delete");
    set((s) => ({
      edges: applyEdgeChanges(changes, s.edges),
      dirty: s.dirty || changes.some((c) => c.type === "remove"),
    }));
  },

  connect(connection) {
    const state = get();
    const problem = connectionProblem(connection, state.edges, state.portsOf);
    if (problem) return problem;
    state.pushHistory();
    const sourceHandle = connection.sourceHandle ?? "main";
    const targetHandle = connection.targetHandle ?? "main";
    const edge: FlowEdge = {
      id: edgeId(connection.source, sourceHandle, connection.target, targetHandle),
      source: connection.source,
      sourceHandle,
      target: connection.target,
      targetHandle,
    };
    set((s) => ({ edges: [...s.edges, edge], dirty: true }));
    return null;
  },

  addNode(type, position) {
    const state = get();
    state.pushHistory();
    const id = uniqueNodeId(type, state.nodes.map((n) => n.id));
    const node: FlowNode = { id, type: "workflow", position, data: { type, config: {}, extra: {} }, selected: true };
    set((s) => ({
      nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
      dirty: true,
      selectedId: id,
    }));
    return id;
  },

  updateConfig(nodeId, config) {
    get().pushHistory(`config:${nodeId}`);
    set((s) => {
      const nodes = s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, config } } : n));
      return { nodes, edges: pruneEdges(s, nodes, s.edges), dirty: true };
    });
  },

  updateExtra(nodeId, key, value) {
    get().pushHistory(`extra:${nodeId}:${key}`);
    set((s) => {
      const nodes = s.nodes.map((n) => {
        if (n.id !== nodeId) return n;
        const extra = { ...n.data.extra };
        if (value === undefined || value === "") delete extra[key];
        else extra[key] = value;
        return { ...n, data: { ...n.data, extra } };
      });
      return { nodes, edges: pruneEdges(s, nodes, s.edges), dirty: true };
    });
  },

  renameNode(from, to) {
    const state = get();
    if (from === to) return null;
    const problem = idProblem(to, state.nodes.map((n) => n.id));
    if (problem) return problem;
    state.pushHistory();
    const renameEnd = (id: string) => (id === from ? to : id);
    set((s) => ({
      // Other nodes' expressions that read this node's output follow the new id.
      nodes: s.nodes.map((n) => ({
        ...n,
        id: renameEnd(n.id),
        data: { ...n.data, config: renameReferences(n.data.config, from, to) },
      })),
      edges: s.edges.map((e) => {
        const source = renameEnd(e.source);
        const target = renameEnd(e.target);
        return { ...e, source, target, id: edgeId(source, e.sourceHandle ?? "main", target, e.targetHandle ?? "main") };
      }),
      selectedId: s.selectedId === from ? to : s.selectedId,
      dirty: true,
      problems: EMPTY_PROBLEMS,
    }));
    return null;
  },

  setVariables(variables) {
    get().pushHistory("variables");
    set({ variables, dirty: true });
  },

  deleteSelected() {
    const state = get();
    if (state.readOnly) return;
    const doomed = new Set(state.nodes.filter((n) => n.selected).map((n) => n.id));
    const edgesLeft = state.edges.filter((e) => !e.selected && !doomed.has(e.source) && !doomed.has(e.target));
    if (!doomed.size && edgesLeft.length === state.edges.length) return;
    state.pushHistory();
    set((s) => ({
      nodes: s.nodes.filter((n) => !doomed.has(n.id)),
      edges: edgesLeft,
      dirty: true,
      selectedId: s.selectedId && doomed.has(s.selectedId) ? null : s.selectedId,
    }));
  },

  copySelected() {
    const { nodes, edges } = get();
    const chosen = nodes.filter((n) => n.selected);
    const ids = new Set(chosen.map((n) => n.id));
    const inner = edges.filter((e) => ids.has(e.source) && ids.has(e.target));
    set({ clipboard: chosen.length ? { nodes: chosen, edges: inner } : get().clipboard });
    return chosen.length;
  },

  paste() {
    const state = get();
    const clip = state.clipboard;
    if (!clip || state.readOnly) return 0;
    state.pushHistory();
    const taken = state.nodes.map((n) => n.id);
    const renamed = new Map<string, string>();
    const pasted: FlowNode[] = clip.nodes.map((n) => {
      const id = uniqueNodeId(n.data.type, [...taken, ...renamed.values()]);
      renamed.set(n.id, id);
      return {
        ...n,
        id,
        selected: true,
        position: { x: n.position.x + PASTE_OFFSET, y: n.position.y + PASTE_OFFSET },
        data: structuredClone(n.data),
      };
    });
    const pastedEdges: FlowEdge[] = clip.edges.map((e) => {
      const source = renamed.get(e.source)!;
      const target = renamed.get(e.target)!;
      return { ...e, id: edgeId(source, e.sourceHandle ?? "main", target, e.targetHandle ?? "main"), source, target, selected: false };
    });
    set((s) => ({
      nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), ...pasted],
      edges: [...s.edges, ...pastedEdges],
      // The next paste lands offset again instead of on top of this one.
      clipboard: { nodes: pasted.map((n) => ({ ...n, selected: false })), edges: pastedEdges },
      dirty: true,
    }));
    return pasted.length;
  },

  layout() {
    const state = get();
    if (state.readOnly) return;
    state.pushHistory();
    set((s) => ({ nodes: autoLayout(s.nodes, s.edges), dirty: true }));
  },

  select(nodeId) {
    set((s) => ({
      selectedId: nodeId,
      nodes: s.nodes.map((n) => (n.selected === (n.id === nodeId) ? n : { ...n, selected: n.id === nodeId })),
    }));
  },

  setProblems(problems, definition) {
    set({ problems: indexProblems(problems, definition) });
  },

  clearProblems() {
    set({ problems: EMPTY_PROBLEMS });
  },

  setRuns(runs) {
    set({ runs });
  },

  patchRun(nodeId, patch) {
    set((s) => ({ runs: { ...s.runs, [nodeId]: { ...(s.runs[nodeId] ?? { status: "pending" }), ...patch } } }));
  },

  markSaved() {
    set({ dirty: false });
  },

  notify(toast) {
    set({ toast });
  },
}));
