/**
 * Import workflows into this workflow's organization: an export document, one n8n workflow or an n8n export of
 * several (`POST /workflows/import/`). Each import creates drafts; the answer lists them (with links) and, for
 * n8n JSON, the per-node report and the workflows that were refused.
 */
import { useState } from "react";
import { api, ApiError } from "../api";
import { Modal } from "../components/Modal";
import { outcomeText, readImportResult, summaryText, type ImportOutcome, type ImportReport } from "../importResult";

function Report({ report }: { report: ImportReport }) {
  return (
    <details className="cm-import-report">
      <summary>
        {summaryText(report.summary) || "no nodes"}
        {report.reasons.length > 0 && <span className="cm-error"> · {report.reasons.join(" ")}</span>}
      </summary>
      <table className="cm-table">
        <thead>
          <tr>
            <th>n8n node</th>
            <th>Type</th>
            <th>Outcome</th>
            <th>Changes or reason</th>
          </tr>
        </thead>
        <tbody>
          {report.nodes.map((node) => (
            <tr key={node.node} data-outcome={node.outcome}>
              <td>{node.node}</td>
              <td>{node.type}</td>
              <td>{node.outcome.replace(/_/g, " ")}</td>
              <td>{node.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {report.credentials.length > 0 && (
        <p className="cm-muted">Credentials to create: {report.credentials.join("; ")}</p>
      )}
    </details>
  );
}

export function ImportDialog(props: {
  importUrl: string;
  organization: string | null;
  editorPage: string;
  onClose: () => void;
}) {
  const { importUrl, organization, editorPage, onClose } = props;
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<ImportOutcome | null>(null);

  async function submit() {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (e) {
      setError(`Not valid JSON: ${(e as Error).message}`);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = organization ? { organization, document } : { document };
      setOutcome(readImportResult(await api("POST", importUrl, body), editorPage));
    } catch (e) {
      const problems = e instanceof ApiError ? e.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)) : [];
      setError([(e as Error).message, ...problems].join(" "));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title="Import workflows" onClose={onClose}>
      {outcome === null ? (
        <>
          <p className="cm-muted">
            Paste or open an exported workflow, an n8n workflow or an n8n export of several. Each becomes a new draft;
            n8n nodes are translated and reported one by one.
          </p>
          <input
            type="file"
            accept=".json,application/json"
            aria-label="Workflow file (JSON)"
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) void file.text().then((content) => setText(content));
            }}
          />
          <textarea
            className="cm-input cm-code"
            rows={10}
            spellCheck={false}
            value={text}
            aria-label="Workflow JSON"
            onChange={(e) => {
              setText(e.target.value);
              setError(null);
            }}
          />
          {error && (
            <p className="cm-error" role="alert">
              {error}
            </p>
          )}
          <div className="cm-row cm-row--end">
            <button type="button" className="cm-btn" onClick={onClose}>
              Cancel
            </button>
            <button
              type="button"
              className="cm-btn cm-btn--primary"
              onClick={() => void submit()}
              disabled={busy || !text.trim()}
              data-testid="import-submit"
            >
              {busy ? "Importing…" : "Import"}
            </button>
          </div>
        </>
      ) : (
        <div data-testid="import-result">
          <p role="status">{outcomeText(outcome)}</p>
          {outcome.created.length > 0 && (
            <ul className="cm-import-list" aria-label="Created drafts">
              {outcome.created.map((workflow) => (
                <li key={workflow.id}>
                  <a className="cm-link" href={workflow.url}>
                    {workflow.name || workflow.id}
                  </a>
                  {workflow.report && <Report report={workflow.report} />}
                </li>
              ))}
            </ul>
          )}
          {outcome.refused.length > 0 && (
            <>
              <h4>Refused</h4>
              <ul className="cm-import-list" aria-label="Refused workflows">
                {outcome.refused.map((report) => (
                  <li key={`${report.n8nId}:${report.name}`}>
                    <strong>{report.name || report.n8nId}</strong>
                    {report.reasons.length > 0 && <span className="cm-error"> {report.reasons.join(" ")}</span>}
                    <Report report={report} />
                  </li>
                ))}
              </ul>
            </>
          )}
          <div className="cm-row cm-row--end">
            <button type="button" className="cm-btn" onClick={() => setOutcome(null)}>
              Import more
            </button>
            <button type="button" className="cm-btn cm-btn--primary" onClick={onClose}>
              Close
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}
