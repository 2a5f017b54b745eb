import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type Edge,
  type FinalConnectionState,
  type IsValidConnection,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, type DragEvent } from "react";
import { ERR_DIRECTION, connectionProblem } from "../connection";
import type { FlowNode } from "../definition";
import { useEditor } from "../store";
import { DRAG_MIME } from "./Palette";
import { NODE_TYPES } from "./WorkflowNode";

const STATUS_COLOURS: Record<string, string> = {
  succeeded: "#16a34a",
  failed: "#dc2626",
  running: "#2563eb",
  queued: "#64748b",
  retrying: "#d97706",
  waiting: "#9333ea",
  skipped: "#cbd5e1",
  cancelled: "#94a3b8",
};

/** The React Flow canvas: drop target of the palette, connection checks, minimap and controls. */
export function Canvas({ onRefused }: { onRefused: (reason: string) => void }) {
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const readOnly = useEditor((s) => s.readOnly);
  const runs = useEditor((s) => s.runs);
  const edgeProblems = useEditor((s) => s.problems.edges);
  const onNodesChange = useEditor((s) => s.onNodesChange);
  const onEdgesChange = useEditor((s) => s.onEdgesChange);
  const { screenToFlowPosition, fitView } = useReactFlow();
  const initialized = useNodesInitialized();
  const fitted = useRef(false);

  // Fit once, when the loaded nodes have been measured (the fitView prop can run before that).
  useEffect(() => {
    if (initialized && !fitted.current) {
      fitted.current = true;
      void fitView({ padding: 0.2, maxZoom: 1.2 });
    }
  }, [initialized, fitView]);

  const isValidConnection: IsValidConnection = useCallback((connection) => {
    const state = useEditor.getState();
    return connectionProblem(connection as Connection, state.edges, state.portsOf) === null;
  }, []);

  const onConnect = useCallback(
    (connection: Connection) => {
      const reason = useEditor.getState().connect(connection);
      if (reason) onRefused(reason);
    },
    [onRefused],
  );

  // A refused edge is simply not drawn; say why when the pointer was released over a handle.
  const onConnectEnd = useCallback(
    (_: MouseEvent | TouchEvent, state: FinalConnectionState) => {
      if (state.isValid !== false || !state.fromHandle || !state.toHandle || !state.toNode) return;
      if (state.fromHandle.type === state.toHandle.type) {
        onRefused(ERR_DIRECTION);
        return;
      }
      const [from, to] =
        state.fromHandle.type === "source" ? [state.fromHandle, state.toHandle] : [state.toHandle, state.fromHandle];
      const connection = {
        source: from.nodeId,
        sourceHandle: from.id ?? null,
        target: to.nodeId,
        targetHandle: to.id ?? null,
      };
      const store = useEditor.getState();
      const reason = connectionProblem(connection, store.edges, store.portsOf);
      if (reason) onRefused(reason);
    },
    [onRefused],
  );

  const onDrop = useCallback(
    (event: DragEvent) => {
      event.preventDefault();
      const type = event.dataTransfer.getData(DRAG_MIME);
      if (!type || useEditor.getState().readOnly) return;
      const position = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      useEditor.getState().addNode(type, { x: Math.round(position.x - 100), y: Math.round(position.y - 30) });
    },
    [screenToFlowPosition],
  );

  // Edges taken by the run are drawn in the colour of their source; problem edges in red.
  const styledEdges: Edge[] = useMemo(() => {
    const problemIds = new Set<string>();
    const definitionEdges = useEditor.getState().edges;
    for (const index of Object.keys(edgeProblems)) {
      const edge = definitionEdges[Number(index)];
      if (edge) problemIds.add(edge.id);
    }
    return edges.map((e) => {
      const status = runs[e.source]?.status;
      if (problemIds.has(e.id)) return { ...e, className: "cm-edge--invalid", animated: false };
      if (status === "running") return { ...e, animated: true };
      if (status === "succeeded" && runs[e.target]) return { ...e, style: { stroke: STATUS_COLOURS.succeeded, strokeWidth: 2 } };
      return e;
    });
  }, [edges, runs, edgeProblems]);

  return (
    <div
      className="cm-canvas"
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
      }}
      onDrop={onDrop}
      data-testid="canvas"
    >
      <ReactFlow<FlowNode>
        nodes={nodes}
        edges={styledEdges}
        nodeTypes={NODE_TYPES}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onConnect={readOnly ? undefined : onConnect}
        onConnectEnd={onConnectEnd}
        isValidConnection={isValidConnection}
        onNodeDragStart={() => useEditor.getState().pushHistory()}
        onNodeClick={(event, node) => {
          // With Shift/Ctrl/Cmd, React Flow adds the node to the selection: keep it.
          if (!(event.shiftKey || event.ctrlKey || event.metaKey)) useEditor.getState().select(node.id);
        }}
        onPaneClick={() => useEditor.getState().select(null)}
        nodesDraggable={!readOnly}
        nodesConnectable={!readOnly}
        edgesFocusable={!readOnly}
        deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
        multiSelectionKeyCode={["Shift", "Meta", "Control"]}
        fitView
        fitViewOptions={{ padding: 0.2, maxZoom: 1.2 }}
        minZoom={0.1}
        onlyRenderVisibleElements={nodes.length > 100}
        proOptions={{ hideAttribution: true }}
      >
        <Background gap={16} />
        <Controls showInteractive={false} />
        <MiniMap
          pannable
          zoomable
          nodeColor={(n) => STATUS_COLOURS[runs[n.id]?.status ?? ""] ?? "#e2e8f0"}
          nodeStrokeWidth={2}
        />
      </ReactFlow>
    </div>
  );
}
