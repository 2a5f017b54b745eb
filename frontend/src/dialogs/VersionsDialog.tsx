import { useEffect, useState } from "react";
import { api, unwrapList } from "../api";
import type { Definition } from "../types";
import { Modal } from "../components/Modal";
import { diffIsEmpty, diffMarks, edgeLabel, type VersionDiff } from "../debug";
import { useEditor } from "../store";

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
  /** The diff endpoint of two version numbers (absent: no comparing). */
  diffUrl?: (from: number, to: number) => string;
  /** Compare these at once. */
  preset?: { from: number; to: number } | null;
  onRestored: () => void;
  onClose: () => void;
}) {
  const { listUrl, restoreUrl, current, canEdit, diffUrl, preset, onRestored, onClose } = props;
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [range, setRange] = useState<{ from: number; to: number } | null>(preset ?? null);
  const [diff, setDiff] = useState<VersionDiff | null>(null);
  const [diffError, setDiffError] = useState<string | null>(null);

  useEffect(() => {
    api("GET", listUrl)
      .then((data) => {
        const list = unwrapList<Version>(data).sort((a, b) => b.number - a.number);
        setVersions(list);
        // By default the newest version against the one before it.
        if (list.length > 1) setRange((r) => r ?? { from: list[1].number, to: list[0].number });
      })
      .catch((e: Error) => setError(e.message));
  }, [listUrl]);

  async function compare(from: number, to: number) {
    if (!diffUrl) return;
    setDiffError(null);
    try {
      const result = await api<VersionDiff>("GET", diffUrl(from, to));
      setDiff(result);
      // The changed nodes light up on the canvas (which shows the working copy) until cleared.
      useEditor.getState().setDiffMarks(diffMarks(result), { from, to });
    } catch (e) {
      setDiff(null);
      setDiffError((e as Error).message);
    }
  }

  useEffect(() => {
    if (preset) void compare(preset.from, preset.to);
  }, []); // the preset is compared once, when the dialog opens

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
      {diffUrl && versions && versions.length > 1 && range && (
        <section className="cm-diff" aria-label="Compare versions">
          <h4>Compare versions</h4>
          <div className="cm-row">
            <label>
              from{" "}
              <select
                className="cm-input"
                aria-label="Compare from version"
                value={range.from}
                onChange={(e) => setRange({ ...range, from: Number(e.target.value) })}
              >
                {versions.map((v) => (
                  <option key={v.number} value={v.number}>
                    v{v.number}
                  </option>
                ))}
              </select>
            </label>
            <label>
              to{" "}
              <select
                className="cm-input"
                aria-label="Compare to version"
                value={range.to}
                onChange={(e) => setRange({ ...range, to: Number(e.target.value) })}
              >
                {versions.map((v) => (
                  <option key={v.number} value={v.number}>
                    v{v.number}
                  </option>
                ))}
              </select>
            </label>
            <button type="button" className="cm-btn" onClick={() => void compare(range.from, range.to)}>
              Show changes
            </button>
          </div>
          {diffError && <p className="cm-error">{diffError}</p>}
          {diff && <DiffView diff={diff} />}
        </section>
      )}
    </Modal>
  );
}

function show(value: unknown): string {
  return value === null || value === undefined ? "—" : JSON.stringify(value);
}

/** A version diff as lists: nodes added, removed, changed (JSON-pointer changes), moved; edges; variables; settings. */
function DiffView({ diff }: { diff: VersionDiff }) {
  if (diffIsEmpty(diff)) return <p className="cm-muted" data-testid="version-diff">No differences.</p>;
  const { nodes, edges, variables, settings } = diff;
  const variableNames = [
    ...Object.keys(variables.added).map((k) => `+ ${k} = ${show(variables.added[k])}`),
    ...Object.keys(variables.removed).map((k) => `− ${k}`),
    ...Object.entries(variables.changed).map(([k, c]) => `${k}: ${show(c.from)} → ${show(c.to)}`),
  ];
  return (
    <div className="cm-diff__body" data-testid="version-diff">
      <p className="cm-muted">
        v{diff.from_version} → v{diff.to_version}; the changed nodes are marked on the canvas.
      </p>
      {nodes.added.length > 0 && <p data-testid="diff-added">Nodes added: {nodes.added.join(", ")}</p>}
      {nodes.removed.length > 0 && <p data-testid="diff-removed">Nodes removed: {nodes.removed.join(", ")}</p>}
      {nodes.changed.map((node) => (
        <div key={node.id} className="cm-diff__node" data-testid="diff-changed" data-node={node.id}>
          <strong>{node.id}</strong> changed
          <ul>
            {node.changes.map((c, i) => (
              <li key={i}>
                <code>{c.path}</code> {c.op === "add" ? `added: ${show(c.to)}` : c.op === "remove" ? `removed (was ${show(c.from)})` : `${show(c.from)} → ${show(c.to)}`}
              </li>
            ))}
          </ul>
        </div>
      ))}
      {(nodes.moved ?? []).length > 0 && <p className="cm-muted">Moved only: {(nodes.moved ?? []).join(", ")}</p>}
      {edges.added.length > 0 && <p>Edges added: {edges.added.map(edgeLabel).join(", ")}</p>}
      {edges.removed.length > 0 && <p>Edges removed: {edges.removed.map(edgeLabel).join(", ")}</p>}
      {variableNames.length > 0 && <p>Variables: {variableNames.join("; ")}</p>}
      {settings.changed.length > 0 && (
        <p>
          Settings: {settings.changed.map((c) => `${c.path}: ${show(c.from)} → ${show(c.to)}`).join("; ")}
        </p>
      )}
    </div>
  );
}
