import { useEffect, useState } from "react";
import { api, unwrapList } from "../api";
import type { Definition } from "../types";
import { Modal } from "../components/Modal";

interface Version {
  id: string;
  number: number;
  definition: Definition;
  created_at: string;
  created_by: unknown;
}

/** The saved versions of a workflow, newest first; restoring one saves it as the newest version. */
export function VersionsDialog(props: {
  listUrl: string;
  restoreUrl: (version: Version) => string;
  current: number | null;
  canEdit: boolean;
  onRestored: () => void;
  onClose: () => void;
}) {
  const { listUrl, restoreUrl, current, canEdit, onRestored, onClose } = props;
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api("GET", listUrl)
      .then((data) => setVersions(unwrapList<Version>(data).sort((a, b) => b.number - a.number)))
      .catch((e: Error) => setError(e.message));
  }, [listUrl]);

  async function restore(version: Version) {
    setBusy(true);
    try {
      await api("POST", restoreUrl(version), {});
      onRestored();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Modal title="Version history" onClose={onClose}>
      {error && <p className="cm-error">{error}</p>}
      {!versions && !error && <p className="cm-muted">Loading…</p>}
      {versions && (
        <table className="cm-table">
          <thead>
            <tr>
              <th>Version</th>
              <th>Saved</th>
              <th>Nodes</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.id ?? v.number} data-version={v.number}>
                <td>
                  v{v.number} {v.number === current && <span className="cm-badge">current</span>}
                </td>
                <td>{new Date(v.created_at).toLocaleString()}</td>
                <td>{v.definition?.nodes?.length ?? 0}</td>
                <td>
                  {canEdit && v.number !== current && (
                    <button type="button" className="cm-btn" disabled={busy} onClick={() => restore(v)}>
                      Restore
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Modal>
  );
}
