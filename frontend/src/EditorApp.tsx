import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { Canvas } from "./components/Canvas";
import { DiffBanner } from "./components/DiffBanner";
import { ConflictBanner, EditorToolbar } from "./components/EditorToolbar";
import { ExecutionBar } from "./components/ExecutionBar";
import { Palette } from "./components/Palette";
import { SidePanel } from "./components/SidePanel";
import { Toast } from "./components/Toast";
import { NodeActionsContext, type CanvasNodeActions } from "./components/nodeActions";
import { withPin } from "./debug";
import { fillUrl, type EditorConfig } from "./config";
import { EditorDialogs, type EditorDialog } from "./dialogs/EditorDialogs";
import { useNodeTypes } from "./hooks/useNodeTypes";
import { useTestRun } from "./hooks/useTestRun";
import { useWorkflowDocument } from "./hooks/useWorkflowDocument";
import { useClipboardEvents, useShortcuts, writeSelectionToClipboard } from "./keyboard";
import { useEditor } from "./store";

export { MSG_UNSAVED } from "./hooks/useWorkflowDocument";
export { MSG_VIEW_ONLY } from "./components/EditorToolbar";

/** The workflow editor page: palette, canvas, side panel, toolbar, run overlay, dialogs. */
export function EditorApp({ config }: { config: EditorConfig }) {
  const workflow = config.workflow!;
  const canEdit = config.user.can_edit;
  const canExecute = config.user.can_execute;
  const paletteError = useNodeTypes(config.urls.node_types);
  const doc = useWorkflowDocument(workflow, fillUrl(config.urls.workflow, { id: workflow.id }), canEdit);
  const testRun = useTestRun(config.urls, workflow.id, doc);
  const [dialog, setDialog] = useState<EditorDialog>(null);
  /** The versions the versions dialog compares when it opens ("Compare versions" after a re-run). */
  const [diffPreset, setDiffPreset] = useState<{ from: number; to: number } | null>(null);
  const general = useEditor((s) => s.problems.general);
  const notify = useEditor((s) => s.notify);
  const { fitView, getViewport, setCenter } = useReactFlow();
  const closeDialog = useCallback(() => {
    setDialog(null);
    setDiffPreset(null);
  }, []);

  useEffect(() => {
    // The admin's "Run" link opens the editor with the Run dialog; a reload should not open it again.
    const params = new URLSearchParams(window.location.search);
    if (params.get("run") === "1") {
      if (canExecute) setDialog("run");
      params.delete("run");
      const query = params.toString();
      window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
    }
    // "Debug in editor" from an execution page: show that execution here, its data pinned.
    const debug = params.get("debug");
    if (debug) {
      params.delete("debug");
      const query = params.toString();
      window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
      void testRun.debugExecution(debug);
    }
  }, []); // once per page: the config does not change

  const { savePins } = doc;
  const pin = useCallback(
    async (nodeId: string, value: unknown) => {
      const ok = await savePins(withPin(useEditor.getState().pins, nodeId, value));
      if (ok) notify({ kind: "success", text: value === undefined ? `Unpinned ${nodeId}.` : `Pinned the output of ${nodeId}.` });
      return ok;
    },
    [savePins, notify],
  );
  const { runPartial, rerun, approval } = testRun;
  const nodeActions = useMemo(
    () => ({ ...approval, pin: canEdit ? pin : undefined, rerun: canExecute ? rerun : undefined }),
    [approval, pin, rerun, canEdit, canExecute],
  );
  const canvasActions = useMemo<CanvasNodeActions | null>(
    () =>
      canExecute && canEdit
        ? {
            runNode: (id) => void runPartial("node", id),
            runUpTo: (id) => void runPartial("up_to", id),
            showPin: (id) => {
              useEditor.getState().select(id);
              useEditor.getState().setSideTab("pin");
            },
          }
        : null,
    [canExecute, canEdit, runPartial],
  );

  const { save } = doc;
  const shortcuts = useMemo(
    () => ({
      save: () => void save(),
      undo: () => useEditor.getState().undo(),
      redo: () => useEditor.getState().redo(),
      copy: () => void writeSelectionToClipboard(),
      paste: () => useEditor.getState().paste(),
      duplicate: () => {
        if (useEditor.getState().copySelected()) useEditor.getState().paste();
      },
      selectAll: () => useEditor.setState((s) => ({ nodes: s.nodes.map((n) => ({ ...n, selected: true })) })),
      layout: () => {
        useEditor.getState().layout();
        window.setTimeout(() => fitView({ padding: 0.2 }), 30);
      },
      fit: () => fitView({ padding: 0.2 }),
      run: () => canExecute && setDialog("run"),
      runNode: () => {
        const id = useEditor.getState().selectedId;
        if (id && canvasActions) canvasActions.runNode(id);
      },
      runUpTo: () => {
        const id = useEditor.getState().selectedId;
        if (id && canvasActions) canvasActions.runUpTo(id);
      },
      escape: () => useEditor.getState().select(null),
      help: () => setDialog("help"),
    }),
    [save, fitView, canExecute, canvasActions],
  );
  useShortcuts(shortcuts);
  useClipboardEvents(notify);

  const addAtCentre = useCallback(
    (type: string) => {
      if (!canEdit) return;
      const { x, y, zoom } = getViewport();
      const canvas = document.querySelector(".cm-canvas")?.getBoundingClientRect();
      const cx = ((canvas?.width ?? 800) / 2 - x) / zoom;
      const cy = ((canvas?.height ?? 600) / 2 - y) / zoom;
      useEditor.getState().addNode(type, { x: Math.round(cx - 100), y: Math.round(cy - 30) });
      setCenter(cx, cy, { zoom });
    },
    [canEdit, getViewport, setCenter],
  );

  return (
    <div className="cm-app">
      <EditorToolbar
        config={config}
        doc={doc}
        openDialog={setDialog}
        undo={shortcuts.undo}
        redo={shortcuts.redo}
        layout={shortcuts.layout}
      />
      <ExecutionBar
        executionUrl={config.urls.execution}
        executionPage={config.urls.execution_page}
        canExecute={canExecute}
        onChanged={testRun.refresh}
        onRerun={canExecute ? rerun : undefined}
        onCompare={(range) => {
          setDiffPreset(range);
          setDialog("versions");
        }}
      />
      <ConflictBanner doc={doc} />
      <DiffBanner />
      <main className={canEdit ? "cm-main" : "cm-main cm-main--no-palette"}>
        {canEdit && <Palette onAdd={addAtCentre} error={paletteError} />}
        <NodeActionsContext.Provider value={canvasActions}>
          <Canvas onRefused={(reason) => notify({ kind: "error", text: reason })} />
        </NodeActionsContext.Provider>
        <SidePanel actions={nodeActions} generalProblems={general} previewUrl={`${doc.url}expressions/preview/`} />
      </main>
      <Toast />
      <EditorDialogs
        open={dialog}
        onClose={closeDialog}
        config={config}
        doc={doc}
        testRun={testRun}
        diffPreset={diffPreset}
      />
    </div>
  );
}
