/** The editor's state (zustand): the graph, its history, selection, server problems and the live run. */
import { applyEdgeChanges, applyNodeChanges, type Connection, type EdgeChange, type NodeChange } from "@xyflow/react";
import { create } from "zustand";
import { connectionProblem } from "./connection";
import { definitionToFlow, edgeId, flowToDefinition, uniqueNodeId, type FlowEdge, type FlowNode } from "./definition";
import { decodeClipboard, encodeClipboard } from "./clipboard";
import { autoLayout, needsLayout } from "./layout";
import { portsOfDefNode } from "./ports";
import { indexProblems, type ProblemIndex } from "./problems";
import { idProblem, renameManyReferences, renameReferences } from "./rename";
import type { DiffMark, Pins } from "./debug";
import type { Definition, JsonObject, NodeRun, NodeTypeInfo, Problem } from "./types";

const HISTORY_LIMIT = 100;
/** Keystrokes in one field within this window are one undo step. */
const COALESCE_MS = 1000;
const PASTE_OFFSET = 40;
export const MSG_READ_ONLY = "This page is read-only.";

interface Snapshot {
  nodes: FlowNode[];
  edges: FlowEdge[];
  variables?: JsonObject;
}

export type SideTab = "config" | "settings" | "run" | "pin";

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
  /** The graph differs from `savedKey`: derived after every change, so undoing back to it is clean again. */
  dirty: boolean;
  /** The normalized definition last loaded or saved. */
  savedKey: string;
  past: Snapshot[];
  future: Snapshot[];
  lastHistoryKey: string | null;
  lastHistoryAt: number;
  selectedId: string | null;
  clipboard: Snapshot | null;
  problems: ProblemIndex;
  runs: Record<string, NodeRun>;
  /** Node id -> pinned output: saved beside the draft (not in the definition), used by test runs. */
  pins: Pins;
  /** Nodes a version diff marks on the canvas (empty: no diff shown). */
  diffMarks: Record<string, DiffMark>;
  /** The versions the marks compare, for the banner that clears them. */
  diffRange: { from: number; to: number } | null;
  /** The side panel's tab for the selected node. */
  sideTab: SideTab;
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
  paste(clip?: Snapshot): number;
  /** The selected nodes (with their inner edges) as clipboard JSON, or null when none is selected. */
  clipboardText(): string | null;
  /** Paste clipboard JSON from any workflow or tab: the number of nodes pasted, -1 when it holds none. */
  pasteText(text: string): number;
  layout(): void;
  select(nodeId: string | null): void;
  setProblems(problems: Problem[], definition: Definition): void;
  clearProblems(): void;
  setRuns(runs: Record<string, NodeRun>): void;
  patchRun(nodeId: string, patch: Partial<NodeRun>): void;
  setPins(pins: Pins): void;
  setSideTab(tab: SideTab): void;
  setDiffMarks(marks: Record<string, DiffMark>, range: { from: number; to: number } | null): void;
  /** `saved`: the definition the server stored (by default, the graph as it is now). */
  markSaved(saved?: Definition): void;
  notify(toast: Toast | null): void;
}

/** JSON with object keys sorted, so two equal definitions give the same text whatever their key order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

export function definitionKey(nodes: FlowNode[], edges: FlowEdge[], variables: JsonObject): string {
  return stableJson(flowToDefinition(nodes, edges, variables));
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
  savedKey: definitionKey([], [], {}),
  past: [],
  future: [],
  lastHistoryKey: null,
  lastHistoryAt: 0,
  selectedId: null,
  clipboard: null,
  problems: EMPTY_PROBLEMS,
  runs: {},
  pins: {},
  diffMarks: {},
  diffRange: null,
  sideTab: "config",
  toast: null,

  setNodeTypes(types) {
    set({ nodeTypes: Object.fromEntries(types.map((t) => [t.name, t])) });
  },

  load(definition, options = {}) {
    const flow = definitionToFlow(definition);
    const { edges } = flow;
    // Nodes without positions, or stacked on one spot, would open unreadable: lay them out (not saved
    // until the next edit, so opening alone leaves the workflow clean).
    const nodes = needsLayout((definition?.nodes ?? []).map((n) => n.position)) ? autoLayout(flow.nodes, edges) : flow.nodes;
    const variables = (definition?.variables as JsonObject) ?? {};
    set({
      nodes,
      edges,
      variables,
      readOnly: options.readOnly ?? false,
      dirty: false,
      savedKey: definitionKey(nodes, edges, variables),
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
    set((s) => ({ ...previous, past: past.slice(0, -1), future: [snapshot(s), ...future], lastHistoryKey: null }));
  },

  redo() {
    const { past, future } = get();
    if (!future.length) return;
    const [next, ...rest] = future;
    set((s) => ({ ...next, past: [...past, snapshot(s)], future: rest, lastHistoryKey: null }));
  },

  onNodesChange(changes) {
    if (get().readOnly) {
      changes = changes.filter((c) => c.type === "select" || c.type === "dimensions");
    }
    // React Flow removes a node and its edges in two calls: one undo step for both.
    if (changes.some((c) => c.type === "remove")) get().pushHistory("delete");
    set((s) => {
      const nodes = applyNodeChanges(changes, s.nodes);
      const selected = nodes.filter((n) => n.selected);
      const removed = changes.some((c) => c.type === "remove");
      return {
        nodes,
        edges: removed ? pruneEdges(s, nodes, s.edges) : s.edges,
        selectedId: selected.length === 1 ? selected[0].id : selected.length ? null : s.selectedId && nodes.some((n) => n.id === s.selectedId) ? s.selectedId : null,
      };
    });
  },

  onEdgesChange(changes) {
    if (get().readOnly) changes = changes.filter((c) => c.type === "select");
    if (changes.some((c) => c.type === "remove")) get().pushHistory("delete");
    set((s) => ({ edges: applyEdgeChanges(changes, s.edges) }));
  },

  connect(connection) {
    const state = get();
    if (state.readOnly) return MSG_READ_ONLY;
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
    set((s) => ({ edges: [...s.edges, edge] }));
    return null;
  },

  addNode(type, position) {
    const state = get();
    state.pushHistory();
    const id = uniqueNodeId(type, state.nodes.map((n) => n.id));
    const node: FlowNode = { id, type: "workflow", position, data: { type, config: {}, extra: {} }, selected: true };
    set((s) => ({
      nodes: [...s.nodes.map((n) => (n.selected ? { ...n, selected: false } : n)), node],
      selectedId: id,
    }));
    return id;
  },

  updateConfig(nodeId, config) {
    get().pushHistory(`config:${nodeId}`);
    set((s) => {
      const nodes = s.nodes.map((n) => (n.id === nodeId ? { ...n, data: { ...n.data, config } } : n));
      return { nodes, edges: pruneEdges(s, nodes, s.edges) };
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
      return { nodes, edges: pruneEdges(s, nodes, s.edges) };
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
      problems: EMPTY_PROBLEMS,
    }));
    return null;
  },

  setVariables(variables) {
    get().pushHistory("variables");
    set({ variables });
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

  clipboardText() {
    const { nodes, edges } = get();
    const chosen = nodes.filter((n) => n.selected);
    if (!chosen.length) return null;
    get().copySelected();
    return encodeClipboard(chosen, edges);
  },

  pasteText(text) {
    const clip = decodeClipboard(text);
    if (!clip) return -1;
    return get().paste(clip);
  },

  paste(clip = get().clipboard ?? undefined) {
    const state = get();
    if (!clip || state.readOnly) return 0;
    state.pushHistory();
    const taken = state.nodes.map((n) => n.id);
    const renamed = new Map<string, string>();
    for (const n of clip.nodes) {
      // A copy keeps its id when it is free here (a paste into another workflow), else gets a fresh one.
      const used = [...taken, ...renamed.values()];
      renamed.set(n.id, used.includes(n.id) ? uniqueNodeId(n.data.type, used) : n.id);
    }
    const pasted: FlowNode[] = clip.nodes.map((n) => {
      // Expressions between pasted nodes follow their new ids.
      const config = renameManyReferences(structuredClone(n.data.config), renamed);
      return {
        ...n,
        id: renamed.get(n.id)!,
        selected: true,
        position: { x: n.position.x + PASTE_OFFSET, y: n.position.y + PASTE_OFFSET },
        data: { ...structuredClone(n.data), config },
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
    }));
    return pasted.length;
  },

  layout() {
    const state = get();
    if (state.readOnly) return;
    state.pushHistory();
    set((s) => ({ nodes: autoLayout(s.nodes, s.edges) }));
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

  setPins(pins) {
    set({ pins });
  },

  setSideTab(sideTab) {
    set({ sideTab });
  },

  setDiffMarks(diffMarks, diffRange) {
    set({ diffMarks, diffRange });
  },

  markSaved(saved) {
    const { nodes, edges, variables } = get();
    set({ savedKey: saved ? stableJson(saved) : definitionKey(nodes, edges, variables) });
  },

  notify(toast) {
    set({ toast });
  },
}));

// `dirty` follows the graph: whatever changed it (an edit, undo, redo, a paste), compare with what was saved.
useEditor.subscribe((state, previous) => {
  if (state.nodes === previous.nodes && state.edges === previous.edges && state.variables === previous.variables && state.savedKey === previous.savedKey) {
    return;
  }
  const dirty = definitionKey(state.nodes, state.edges, state.variables) !== state.savedKey;
  if (dirty !== state.dirty) useEditor.setState({ dirty });
});
