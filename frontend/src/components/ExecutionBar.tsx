import { useState } from "react";
import { api } from "../api";
import { fillUrl } from "../config";
import { TERMINAL, useRun } from "../live";
import { useEditor } from "../store";

/** The running execution's status, live mode and the controls the API offers for it. */
export function ExecutionBar(props: {
  executionUrl: string;
  executionPage: string | null;
  canExecute: boolean;
  onChanged: () => void;
}) {
  const { executionUrl, executionPage, canExecute, onChanged } = props;
  const execution = useRun((s) => s.execution);
  const mode = useRun((s) => s.mode);
  const problem = useRun((s) => s.problem);
  const notify = useEditor((s) => s.notify);
  const anyFailed = useEditor((s) => Object.values(s.runs).some((r) => r.status === "failed"));
  const [busy, setBusy] = useState(false);
  if (!execution) return null;
  const status = execution.status;

  async function act(action: string) {
    if (!execution) return;
    setBusy(true);
    try {
      await api("POST", `${fillUrl(executionUrl, { id: execution.id })}${action}/`, {});
      notify({ kind: "info", text: `${action[0].toUpperCase()}${action.slice(1)} requested.` });
      onChanged();
    } catch (e) {
      notify({ kind: "error", text: `${action} failed: ${(e as Error).message}` });
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="cm-execbar" data-testid="execution-bar" data-status={status}>
      <span>
        Execution <code>{execution.id.slice(0, 8)}</code>
      </span>
      <span className={`cm-badge cm-badge--${status}`} data-testid="execution-status">
        {status}
      </span>
      <span className="cm-muted" title="How the page follows the execution">
        {mode === "live" ? "● live" : mode === "polling" ? "polling" : mode === "connecting" ? "connecting…" : ""}
      </span>
      {problem && <span className="cm-error">{problem}</span>}
      {canExecute && (
        <span className="cm-row">
          {status === "running" && (
            <button type="button" className="cm-btn" disabled={busy} onClick={() => act("pause")}>
              Pause
            </button>
          )}
          {status === "paused" && (
            <button type="button" className="cm-btn" disabled={busy} onClick={() => act("resume")}>
              Resume
            </button>
          )}
          {!TERMINAL.has(status) && (
            <button type="button" className="cm-btn cm-btn--danger" disabled={busy} onClick={() => act("cancel")}>
              Cancel
            </button>
          )}
          {status === "failed" && anyFailed && (
            <button type="button" className="cm-btn" disabled={busy} onClick={() => act("retry")}>
              Retry failed
            </button>
          )}
        </span>
      )}
      {executionPage && (
        <a className="cm-link" href={fillUrl(executionPage, { id: execution.id })}>
          Open execution page
        </a>
      )}
    </div>
  );
}
