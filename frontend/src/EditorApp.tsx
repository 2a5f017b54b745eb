import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useState } from "react";
import { Canvas } from "./components/Canvas";
import { ConflictBanner, EditorToolbar } from "./components/EditorToolbar";
import { ExecutionBar } from "./components/ExecutionBar";
import { Palette } from "./components/Palette";
import { SidePanel } from "./components/SidePanel";
import { Toast } from "./components/Toast";
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
  const testRun = useTestRun(config.urls, doc);
  const [dialog, setDialog] = useState<EditorDialog>(null);
  const general = useEditor((s) => s.problems.general);
  const notify = useEditor((s) => s.notify);
  const { fitView, getViewport, setCenter } = useReactFlow();
  const closeDialog = useCallback(() => setDialog(null), []);

  useEffect(() => {
    // The admin's "Run" link opens the editor with the Run dialog; a reload should not open it again.
    const params = new URLSearchParams(window.location.search);
    if (params.get("run") === "1") {
      if (canExecute) setDialog("run");
      params.delete("run");
      const query = params.toString();
      window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
    }
  }, []); // once per page: the config does not change

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
      escape: () => useEditor.getState().select(null),
      help: () => setDialog("help"),
    }),
    [save, fitView, canExecute],
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
      />
      <ConflictBanner doc={doc} />
      <main className={canEdit ? "cm-main" : "cm-main cm-main--no-palette"}>
        {canEdit && <Palette onAdd={addAtCentre} error={paletteError} />}
        <Canvas onRefused={(reason) => notify({ kind: "error", text: reason })} />
        <SidePanel actions={testRun.approval} generalProblems={general} />
      </main>
      <Toast />
      <EditorDialogs open={dialog} onClose={closeDialog} config={config} doc={doc} testRun={testRun} />
    </div>
  );
}
