import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, api, unwrapList } from "./api";
import { clientProblems } from "./clientValidation";
import { Canvas } from "./components/Canvas";
import { ExecutionBar } from "./components/ExecutionBar";
import { ExecutionsDialog } from "./components/ExecutionsDialog";
import { Palette } from "./components/Palette";
import { ReadOnlyBadge } from "./components/ReadOnlyBadge";
import { RunDialog } from "./components/RunDialog";
import { ShortcutsDialog } from "./components/ShortcutsDialog";
import { SidePanel } from "./components/SidePanel";
import { Toast } from "./components/Toast";
import { TriggersDialog } from "./components/TriggersDialog";
import { VersionsDialog } from "./components/VersionsDialog";
import { fillUrl, socketUrl, type EditorConfig } from "./config";
import { useClipboardEvents, useShortcuts, writeSelectionToClipboard } from "./keyboard";
import { MSG_CONFLICT, MSG_RELOAD_CONFIRM, conflictOf, ifMatchHeader, saveOutcome, type SaveResponse } from "./save";
import { useRun, watchExecution, type Watch } from "./live";
import type { ProblemIndex } from "./problems";
import { useEditor } from "./store";
import type { Definition, NodeTypeInfo, Problem } from "./types";

export const MSG_UNSAVED = "You have unsaved changes. Leave anyway?";
export const MSG_VIEW_ONLY = "You can view this workflow but not change it";

interface WorkflowResponse extends SaveResponse {
  id: string;
  name: string;
  status: string;
  definition: Definition;
  permissions?: string[];
}

interface ValidationResponse {
  valid: boolean;
  problems?: Problem[];
  errors?: Problem[];
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function countProblems(problems: ProblemIndex): number {
  const onNodes = Object.values(problems.nodes).reduce((n, list) => n + list.length, 0);
  return onNodes + problems.general.length + Object.keys(problems.edges).length;
}

/** The workflow editor page: palette, canvas, side panel, toolbar, run overlay. */
export function EditorApp({ config }: { config: EditorConfig }) {
  const workflow = config.workflow!;
  const workflowUrl = fillUrl(config.urls.workflow, { id: workflow.id });
  const canEdit = config.user.can_edit;
  const canExecute = config.user.can_execute;
  const [meta, setMeta] = useState({ name: workflow.name, status: workflow.status, version: workflow.version });
  const [paletteError, setPaletteError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<null | "run" | "versions" | "triggers" | "executions" | "help">(null);
  const [busy, setBusy] = useState<null | "save" | "validate" | "run" | "activate">(null);
  const [permissions, setPermissions] = useState<string[]>([]);
  /** "Saved as draft — N problems" after a save the server stored with problems; null once valid. */
  const [draftLabel, setDraftLabel] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  // The revision the editor's graph is based on, sent as If-Match (a server without revisions sends none).
  const revision = useRef<number | null>(workflow.revision ?? null);
  const dirty = useEditor((s) => s.dirty);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const general = useEditor((s) => s.problems.general);
  const problemCount = useEditor((s) => countProblems(s.problems));
  const notify = useEditor((s) => s.notify);
  const { fitView, getViewport, setCenter } = useReactFlow();
  const watchRef = useRef<Watch | null>(null);

  useEffect(() => {
    api<unknown>("GET", config.urls.node_types)
      .then((data) => {
        const types = unwrapList<NodeTypeInfo>(data);
        useEditor.getState().setNodeTypes(types);
        if (!types.length) setPaletteError("No node types are installed.");
      })
      .catch((e: Error) => setPaletteError(`Could not load node types: ${e.message}`));
    api<WorkflowResponse>("GET", workflowUrl)
      .then((data) => {
        setPermissions(data.permissions ?? []);
        if (revision.current == null && typeof data.revision === "number") revision.current = data.revision;
      })
      .catch(() => setPermissions([]));
    // The admin's "Run" link opens the editor with the Run dialog; a reload should not open it again.
    const params = new URLSearchParams(window.location.search);
    if (params.get("run") === "1") {
      if (canExecute) setDialog("run");
      params.delete("run");
      const query = params.toString();
      window.history.replaceState(null, "", `${window.location.pathname}${query ? `?${query}` : ""}`);
    }
    return () => watchRef.current?.stop();
  }, []); // once per page: the config does not change

  useEffect(() => {
    const guard = (event: BeforeUnloadEvent) => {
      if (!useEditor.getState().dirty) return;
      event.preventDefault();
      event.returnValue = MSG_UNSAVED;
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, []);

  const showProblems = useCallback(
    (problems: Problem[], definition: Definition) => {
      const state = useEditor.getState();
      state.setProblems(dedupe(problems), definition);
    },
    [],
  );

  const validate = useCallback(
    async (quiet = false): Promise<boolean> => {
      const state = useEditor.getState();
      const definition = state.definition();
      const local = Object.keys(state.nodeTypes).length ? clientProblems(definition, state.nodeTypes) : [];
      let remote: Problem[] = [];
      try {
        const result = await api<ValidationResponse>("POST", `${workflowUrl}validate/`, { definition });
        remote = result.problems ?? result.errors ?? [];
      } catch (e) {
        if (e instanceof ApiError && e.problems.length) remote = e.problems;
        else if (!quiet) notify({ kind: "error", text: `Server validation unavailable: ${(e as Error).message}` });
      }
      const all = dedupe([...local, ...remote]);
      showProblems(all, definition);
      if (!quiet) {
        notify(
          all.length
            ? { kind: "error", text: `${all.length} problem${all.length > 1 ? "s" : ""} to fix (marked on the nodes).` }
            : { kind: "success", text: "The workflow is valid." },
        );
      }
      return all.length === 0;
    },
    [workflowUrl, notify, showProblems],
  );

  const save = useCallback(async (): Promise<boolean> => {
    if (!canEdit) return false;
    if (!useEditor.getState().dirty) {
      notify({ kind: "info", text: "No changes to save." });
      return true;
    }
    const definition = useEditor.getState().definition();
    setBusy("save");
    try {
      const saved = await api<WorkflowResponse>("PATCH", workflowUrl, { definition }, ifMatchHeader(revision.current));
      // What was sent is saved, even if the graph changed while the request was out.
      useEditor.getState().markSaved(definition);
      setConflict(false);
      const outcome = saveOutcome(saved);
      if (outcome.revision != null) revision.current = outcome.revision;
      setMeta((m) => ({ ...m, status: saved.status ?? m.status, version: saved.latest_version ?? m.version }));
      // A server that reports drafts says what is wrong in its answer; an older one is asked to validate.
      const reportsDrafts = saved != null && "is_valid" in saved;
      if (reportsDrafts && outcome.draft) showProblems(outcome.problems, definition);
      else if (reportsDrafts) useEditor.getState().clearProblems();
      const valid = reportsDrafts ? !outcome.draft : await validate(true);
      const count = outcome.draft ? outcome.problems.length : countProblems(useEditor.getState().problems);
      setDraftLabel(valid ? null : (outcome.label ?? `Saved as draft — ${count} problem${count === 1 ? "" : "s"}`));
      const version = saved.latest_version ? ` as version ${saved.latest_version}` : "";
      notify(
        valid
          ? { kind: "success", text: `Saved${version}.` }
          : { kind: "info", text: "Saved as draft: fix the problems marked on the nodes before it can run." },
      );
      return true;
    } catch (e) {
      if (conflictOf(e)) {
        setConflict(true);
        notify({ kind: "error", text: `Not saved: ${MSG_CONFLICT}` });
        return false;
      }
      const error = e as ApiError;
      if (error.problems?.length) showProblems(error.problems, definition);
      notify({ kind: "error", text: `Not saved: ${error.message}` });
      return false;
    } finally {
      setBusy(null);
    }
  }, [canEdit, workflowUrl, validate, notify, showProblems]);

  const reload = useCallback(async () => {
    const data = await api<WorkflowResponse>("GET", workflowUrl);
    useEditor.getState().load(data.definition, { readOnly: !canEdit });
    revision.current = typeof data.revision === "number" ? data.revision : null;
    setConflict(false);
    setDraftLabel(null);
    setMeta({ name: data.name, status: data.status, version: data.latest_version ?? null });
    window.setTimeout(() => fitView({ padding: 0.2 }), 50);
  }, [workflowUrl, canEdit, fitView]);

  const reloadDiscarding = useCallback(() => {
    if (useEditor.getState().dirty && !window.confirm(MSG_RELOAD_CONFIRM)) return;
    void reload().then(() => notify({ kind: "info", text: "Reloaded the saved workflow." }));
  }, [reload, notify]);

  const follow = useCallback(
    (executionId: string) => {
      watchRef.current?.stop();
      watchRef.current = watchExecution(
        executionId,
        fillUrl(config.urls.execution, { id: executionId }),
        socketUrl(fillUrl(config.urls.ws_execution, { id: executionId })),
      );
    },
    [config.urls],
  );

  const run = useCallback(
    async (input: unknown) => {
      setDialog(null);
      if (useEditor.getState().dirty && !(await save())) return;
      setBusy("run");
      try {
        const execution = await api<{ id: string }>("POST", `${workflowUrl}execute/`, { input });
        follow(execution.id);
        notify({ kind: "info", text: "Execution started." });
      } catch (e) {
        const error = e as ApiError;
        if (error.problems?.length) showProblems(error.problems, useEditor.getState().definition());
        notify({ kind: "error", text: `Could not run: ${error.message}` });
      } finally {
        setBusy(null);
      }
    },
    [save, workflowUrl, follow, notify, showProblems],
  );

  const toggleActive = useCallback(async () => {
    const action = meta.status === "active" ? "deactivate" : "activate";
    setBusy("activate");
    try {
      const data = await api<WorkflowResponse>("POST", `${workflowUrl}${action}/`, {});
      setMeta((m) => ({ ...m, status: data?.status ?? (action === "activate" ? "active" : "inactive") }));
      notify({ kind: "success", text: action === "activate" ? "Activated: its triggers now start it." : "Deactivated." });
    } catch (e) {
      const error = e as ApiError;
      if (error.problems?.length) showProblems(error.problems, useEditor.getState().definition());
      notify({ kind: "error", text: `Could not ${action}: ${error.message}` });
    } finally {
      setBusy(null);
    }
  }, [meta.status, workflowUrl, notify, showProblems]);

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
    [save, fitView, notify, canExecute],
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

  const approval = useMemo(
    () => ({
      approve: (nodeId: string) => decide("approve", nodeId),
      reject: (nodeId: string) => decide("reject", nodeId),
    }),
    [], // decide() reads only refs and stable store actions
  );
  async function decide(decision: "approve" | "reject", nodeId: string) {
    const execution = useRun.getState().execution;
    if (!execution) return;
    try {
      await api("POST", `${fillUrl(config.urls.execution, { id: execution.id })}${decision}/`, { node_id: nodeId });
      notify({ kind: "success", text: decision === "approve" ? "Approved." : "Rejected." });
      void watchRef.current?.refresh();
    } catch (e) {
      notify({ kind: "error", text: `${decision} failed: ${(e as Error).message}` });
    }
  }

  const canManage = permissions.includes("manage");

  return (
    <div className="cm-app">
      <header className="cm-toolbar">
        <div className="cm-toolbar__title">
          {config.urls.admin_workflow ? (
            <a href={config.urls.admin_workflow} className="cm-link" title="Open in the admin">
              {meta.name}
            </a>
          ) : (
            <strong>{meta.name}</strong>
          )}
          <span className={`cm-badge cm-badge--wf-${meta.status}`} data-testid="workflow-status">
            {meta.status}
          </span>
          {meta.version != null && (
            <span className="cm-muted" data-testid="workflow-version">
              v{meta.version}
            </span>
          )}
          {dirty && (
            <span className="cm-dirty" data-testid="dirty">
              ● unsaved
            </span>
          )}
          {!dirty && draftLabel && (
            <span className="cm-draft" data-testid="draft-state" title="Saved, but it cannot run until the problems are fixed">
              {draftLabel}
            </span>
          )}
          {!canEdit && <ReadOnlyBadge reason={MSG_VIEW_ONLY} />}
        </div>
        <div className="cm-toolbar__actions">
          {canEdit && (
            <>
              <button type="button" className="cm-btn" onClick={shortcuts.undo} disabled={!canUndo} title="Undo (Ctrl+Z)">
                ↶
              </button>
              <button type="button" className="cm-btn" onClick={shortcuts.redo} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">
                ↷
              </button>
              <button type="button" className="cm-btn" onClick={shortcuts.layout} title="Auto-layout (L)">
                Layout
              </button>
            </>
          )}
          <button type="button" className="cm-btn" onClick={() => void validate()} disabled={busy !== null}>
            Validate{problemCount ? ` (${problemCount})` : ""}
          </button>
          <button type="button" className="cm-btn" onClick={() => setDialog("versions")}>
            Versions
          </button>
          <button type="button" className="cm-btn" onClick={() => setDialog("triggers")}>
            Triggers
          </button>
          <button type="button" className="cm-btn" onClick={() => setDialog("executions")}>
            Executions
          </button>
          {canEdit && (
            <button
              type="button"
              className="cm-btn"
              onClick={toggleActive}
              disabled={busy !== null || dirty}
              title={dirty ? "Save first" : "Switch the workflow's triggers on or off"}
            >
              {meta.status === "active" ? "Deactivate" : "Activate"}
            </button>
          )}
          {canEdit && (
            <button
              type="button"
              className="cm-btn cm-btn--primary"
              onClick={() => void save()}
              disabled={busy !== null || !dirty}
              title="Save a new version (Ctrl+S)"
            >
              {busy === "save" ? "Saving…" : "Save"}
            </button>
          )}
          <button
            type="button"
            className="cm-btn cm-btn--run"
            onClick={() => setDialog("run")}
            disabled={!canExecute || busy !== null}
            title="Run with test input (Ctrl+Enter)"
          >
            ▶ Run
          </button>
        </div>
      </header>
      <ExecutionBar
        executionUrl={config.urls.execution}
        executionPage={config.urls.execution_page}
        canExecute={canExecute}
        onChanged={() => void watchRef.current?.refresh()}
      />
      {conflict && (
        <div className="cm-conflict" role="alert" data-testid="conflict">
          <span>{MSG_CONFLICT}</span>
          <button type="button" className="cm-btn cm-btn--primary" onClick={reloadDiscarding}>
            Reload
          </button>
          <button type="button" className="cm-btn" onClick={() => setConflict(false)} title="Your changes stay here; copy what you need, then reload">
            Keep editing
          </button>
        </div>
      )}
      <main className={canEdit ? "cm-main" : "cm-main cm-main--no-palette"}>
        {canEdit && <Palette onAdd={addAtCentre} error={paletteError} />}
        <Canvas onRefused={(reason) => notify({ kind: "error", text: reason })} />
        <SidePanel actions={approval} generalProblems={general} />
      </main>
      <Toast />
      {dialog === "run" && (
        <RunDialog workflowId={workflow.id} dirty={dirty} onRun={run} onClose={() => setDialog(null)} />
      )}
      {dialog === "versions" && (
        <VersionsDialog
          listUrl={`${workflowUrl}versions/`}
          restoreUrl={(v) => `${workflowUrl}versions/${v.number}/restore/`}
          current={meta.version}
          canEdit={canEdit && !dirty}
          onRestored={() => {
            setDialog(null);
            void reload().then(() => notify({ kind: "success", text: "Version restored (saved as the newest)." }));
          }}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === "help" && <ShortcutsDialog onClose={() => setDialog(null)} />}
      {dialog === "executions" && (
        <ExecutionsDialog
          listUrl={`${workflowUrl}executions/`}
          executionPage={config.urls.execution_page}
          onShow={(id) => {
            setDialog(null);
            follow(id);
          }}
          onClose={() => setDialog(null)}
        />
      )}
      {dialog === "triggers" && (
        <TriggersDialog
          triggersUrl={config.urls.triggers}
          workflowId={workflow.id}
          canManage={canManage}
          onClose={() => setDialog(null)}
        />
      )}
    </div>
  );
}
