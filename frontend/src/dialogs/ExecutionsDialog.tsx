import { useEffect, useState } from "react";
import { api, unwrapList } from "../api";
import { fillUrl } from "../config";
import { formatDuration } from "../components/format";
import { Modal } from "../components/Modal";

interface ExecutionRow {
  id: string;
  status: string;
  version: number | null;
  trigger_kind: string;
  created_at: string;
  duration_ms: number | null;
  test_run?: boolean;
  run_mode?: string | null;
  run_node_id?: string | null;
  source_execution?: string | null;
}

/** "test", "test: node x", "re-run" beside the trigger kind (servers before issue 18 send none of it). */
function runKind(row: ExecutionRow): string {
  if (row.source_execution) return " · re-run";
  if (row.run_mode === "node" && row.run_node_id) return ` · test: ${row.run_node_id} alone`;
  if (row.run_mode === "up_to" && row.run_node_id) return ` · test: up to ${row.run_node_id}`;
  return row.test_run ? " · test" : "";
}

/** The workflow's recent executions, newest first: show one on the canvas or open its page. */
export function ExecutionsDialog(props: {
  listUrl: string;
  executionPage: string;
  onShow: (executionId: string) => void;
  /** "Debug in editor": show it and pin its nodes' data. */
  onDebug?: (executionId: string) => void;
  onClose: () => void;
}) {
  const { listUrl, executionPage, onShow, onDebug, onClose } = props;
  const [rows, setRows] = useState<ExecutionRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api("GET", listUrl)
      .then((data) => setRows(unwrapList<ExecutionRow>(data)))
      .catch((e: Error) => setError(e.message));
  }, [listUrl]);
  return (
    <Modal title="Executions" onClose={onClose}>
      {error && <p className="cm-error">{error}</p>}
      {!rows && !error && <p className="cm-muted">Loading…</p>}
      {rows?.length === 0 && <p className="cm-muted">No execution yet: press Run.</p>}
      {rows && rows.length > 0 && (
        <table className="cm-table">
          <thead>
            <tr>
              <th>Started</th>
              <th>Status</th>
              <th>Version</th>
              <th>Trigger</th>
              <th>Took</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} data-execution={row.id} data-status={row.status}>
                <td>{new Date(row.created_at).toLocaleString()}</td>
                <td>
                  <span className={`cm-badge cm-badge--${row.status}`}>{row.status}</span>
                </td>
                <td>{row.version != null ? `v${row.version}` : ""}</td>
                <td>
                  {row.trigger_kind}
                  {runKind(row)}
                </td>
                <td>{row.duration_ms != null ? formatDuration(row.duration_ms) : ""}</td>
                <td className="cm-row">
                  <button type="button" className="cm-btn" onClick={() => onShow(row.id)}>
                    Show
                  </button>
                  {onDebug && (
                    <button
                      type="button"
                      className="cm-btn"
                      onClick={() => onDebug(row.id)}
                      title="Show it here and pin the outputs of the nodes that ran, to fix and test from there"
                    >
                      Debug in editor
                    </button>
                  )}
                  <a className="cm-link" href={fillUrl(executionPage, { id: row.id })}>
                    Page
                  </a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Modal>
  );
}
