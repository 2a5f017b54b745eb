import { useEffect, useMemo, useRef } from "react";
import { ApiError, api, unwrapList } from "./api";
import { Canvas } from "./components/Canvas";
import { ExecutionBar } from "./components/ExecutionBar";
import { ReadOnlyBadge } from "./components/ReadOnlyBadge";
import { SidePanel } from "./components/SidePanel";
import { Toast } from "./components/Toast";
import { fillUrl, socketUrl, type EditorConfig } from "./config";
import { useClipboardEvents } from "./keyboard";
import { watchExecution, type Watch } from "./live";
import { useEditor } from "./store";
import type { NodeTypeInfo } from "./types";

/** One execution, read-only and live: the pinned version's graph coloured by node status. */
export function ExecutionApp({ config }: { config: EditorConfig }) {
  const execution = config.execution!;
  const watchRef = useRef<Watch | null>(null);
  const notify = useEditor((s) => s.notify);
  // Copying nodes out of a run into a workflow works here too; pasting is refused (read-only).
  useClipboardEvents(notify);

  useEffect(() => {
    api<unknown>("GET", config.urls.node_types)
      .then((data) => useEditor.getState().setNodeTypes(unwrapList<NodeTypeInfo>(data)))
      .catch((e: Error) => notify({ kind: "error", text: `Could not load node types: ${e.message}` }));
    watchRef.current = watchExecution(
      execution.id,
      fillUrl(config.urls.execution, { id: execution.id }),
      socketUrl(fillUrl(config.urls.ws_execution, { id: execution.id })),
    );
    return () => watchRef.current?.stop();
  }, []); // once per page: the config does not change

  const actions = useMemo(
    () => ({
      approve: (nodeId: string) => decide("approve", nodeId),
      reject: (nodeId: string) => decide("reject", nodeId),
    }),
    [], // decide() reads only refs and stable store actions
  );
  // A re-run is a new execution: open its page.
  async function rerun(executionId: string, from: string, version: "original" | "latest") {
    try {
      const created = await api<{ id: string }>("POST", `${fillUrl(config.urls.execution, { id: executionId })}rerun/`, {
        from,
        version,
      });
      window.location.assign(fillUrl(config.urls.execution_page, { id: created.id }));
    } catch (e) {
      const error = e as ApiError;
      const detail = error.problems?.length ? error.problems.map((p) => p.message).join("; ") : error.message;
      notify({ kind: "error", text: `Could not re-run: ${detail}` });
    }
  }

  async function decide(decision: "approve" | "reject", nodeId: string) {
    try {
      await api("POST", `${fillUrl(config.urls.execution, { id: execution.id })}${decision}/`, { node_id: nodeId });
      notify({ kind: "success", text: decision === "approve" ? "Approved." : "Rejected." });
      void watchRef.current?.refresh();
    } catch (e) {
      notify({ kind: "error", text: `${decision} failed: ${(e as Error).message}` });
    }
  }

  return (
    <div className="cm-app">
      <header className="cm-toolbar">
        <div className="cm-toolbar__title">
          <a className="cm-link" href={fillUrl(config.urls.editor_page, { id: execution.workflow_id })}>
            {execution.workflow_name}
          </a>
          {execution.version != null && <span className="cm-muted">v{execution.version}</span>}
          <span className="cm-muted">execution {execution.id}</span>
          <ReadOnlyBadge reason="Execution view" />
        </div>
        <div className="cm-toolbar__actions">
          <a
            className="cm-btn"
            href={`${fillUrl(config.urls.editor_page, { id: execution.workflow_id })}?debug=${encodeURIComponent(execution.id)}`}
            title="Open the workflow with this execution shown and its nodes' data pinned"
          >
            Debug in editor
          </a>
        </div>
      </header>
      <ExecutionBar
        executionUrl={config.urls.execution}
        executionPage={null}
        canExecute={config.user.can_execute}
        onChanged={() => void watchRef.current?.refresh()}
        onRerun={config.user.can_execute ? rerun : undefined}
      />
      <main className="cm-main cm-main--no-palette">
        <Canvas onRefused={() => undefined} />
        <SidePanel actions={config.user.can_execute ? actions : undefined} generalProblems={[]} />
      </main>
      <Toast />
    </div>
  );
}
