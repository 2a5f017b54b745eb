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
  /** Re-run the execution as a new one (editor only). */
  onRerun?: (executionId: string, from: string, version: "original" | "latest") => void;
  /** Open the versions dialog comparing these two. */
  onCompare?: (range: { from: number; to: number }) => void;
}) {
  const { executionUrl, executionPage, canExecute, onChanged, onRerun, onCompare } = props;
  const execution = useRun((s) => s.execution);
  const sourceVersion = useRun((s) => s.sourceVersion);
  const mode = useRun((s) => s.mode);
  const problem = useRun((s) => s.problem);
  const notify = useEditor((s) => s.notify);
  const anyFailed = useEditor((s) => Object.values(s.runs).some((r) => r.status === "failed"));
  const [busy, setBusy] = useState(false);
  const [rerunFrom, setRerunFrom] = useState("failed");
  const nodeIds = useEditor((s) => s.nodes.map((n) => n.id).join("\u0000"));
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
      {execution.test_run && (
        <span className="cm-badge cm-badge--test" data-testid="execution-kind">
          {execution.run_mode === "node"
            ? `test: ${execution.run_node_id} alone`
            : execution.run_mode === "up_to"
              ? `test: up to ${execution.run_node_id}`
              : "test run"}
        </span>
      )}
      {execution.source_execution && (
        <span className="cm-muted" data-testid="execution-source">
          re-run of <code>{execution.source_execution.slice(0, 8)}</code>
          {execution.rerun_from ? ` from ${execution.rerun_from}` : ""}
          {execution.version != null ? ` on v${execution.version}` : ""}
        </span>
      )}
      {onCompare && sourceVersion != null && execution.version != null && sourceVersion !== execution.version && (
        <button
          type="button"
          className="cm-btn"
          onClick={() => onCompare({ from: sourceVersion, to: execution.version! })}
        >
          Compare v{sourceVersion} → v{execution.version}
        </button>
      )}
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
      {canExecute && onRerun && TERMINAL.has(status) && (
        <span className="cm-row cm-rerun" data-testid="rerun">
          <label>
            Re-run from{" "}
            <select
              className="cm-input"
              aria-label="Re-run from"
              value={rerunFrom}
              onChange={(e) => setRerunFrom(e.target.value)}
            >
              <option value="failed">the failed nodes</option>
              <option value="trigger">the trigger (whole run)</option>
              {nodeIds
                .split("\u0000")
                .filter(Boolean)
                .map((id) => (
                  <option key={id} value={id}>
                    node {id}
                  </option>
                ))}
            </select>
          </label>
          <button type="button" className="cm-btn" onClick={() => onRerun(execution.id, rerunFrom, "original")}>
            Re-run{execution.version != null ? ` on v${execution.version}` : ""}
          </button>
          <button type="button" className="cm-btn" onClick={() => onRerun(execution.id, rerunFrom, "latest")}>
            Re-run on latest version
          </button>
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
