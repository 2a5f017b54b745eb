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
}

/** The workflow's recent executions, newest first: show one on the canvas or open its page. */
export function ExecutionsDialog(props: {
  listUrl: string;
  executionPage: string;
  onShow: (executionId: string) => void;
  onClose: () => void;
}) {
  const { listUrl, executionPage, onShow, onClose } = props;
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
              <tr key={row.id}>
                <td>{new Date(row.created_at).toLocaleString()}</td>
                <td>
                  <span className={`cm-badge cm-badge--${row.status}`}>{row.status}</span>
                </td>
                <td>{row.version != null ? `v${row.version}` : ""}</td>
                <td>{row.trigger_kind}</td>
                <td>{row.duration_ms != null ? formatDuration(row.duration_ms) : ""}</td>
                <td className="cm-row">
                  <button type="button" className="cm-btn" onClick={() => onShow(row.id)}>
                    Show
                  </button>
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
