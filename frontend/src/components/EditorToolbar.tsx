/** The editor's top bar: the workflow's name, status, version and save state, and its actions. */
import type { EditorConfig } from "../config";
import type { EditorDialog } from "../dialogs/EditorDialogs";
import type { WorkflowDocument } from "../hooks/useWorkflowDocument";
import { countProblems } from "../problems";
import { MSG_CONFLICT } from "../save";
import { useEditor } from "../store";
import { ReadOnlyBadge } from "./ReadOnlyBadge";

export const MSG_VIEW_ONLY = "You can view this workflow but not change it";

interface Props {
  config: EditorConfig;
  doc: WorkflowDocument;
  openDialog(dialog: EditorDialog): void;
  undo(): void;
  redo(): void;
  layout(): void;
}

export function EditorToolbar({ config, doc, openDialog, undo, redo, layout }: Props) {
  const { meta, busy, draftLabel } = doc;
  const canEdit = config.user.can_edit;
  const canExecute = config.user.can_execute;
  const dirty = useEditor((s) => s.dirty);
  const canUndo = useEditor((s) => s.past.length > 0);
  const canRedo = useEditor((s) => s.future.length > 0);
  const problemCount = useEditor((s) => countProblems(s.problems));
  return (
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
            <button type="button" className="cm-btn" onClick={undo} disabled={!canUndo} title="Undo (Ctrl+Z)">
              ↶
            </button>
            <button type="button" className="cm-btn" onClick={redo} disabled={!canRedo} title="Redo (Ctrl+Shift+Z)">
              ↷
            </button>
            <button type="button" className="cm-btn" onClick={layout} title="Auto-layout (L)">
              Layout
            </button>
          </>
        )}
        <button type="button" className="cm-btn" onClick={() => void doc.validate()} disabled={busy !== null}>
          Validate{problemCount ? ` (${problemCount})` : ""}
        </button>
        <button type="button" className="cm-btn" onClick={() => openDialog("versions")}>
          Versions
        </button>
        <button type="button" className="cm-btn" onClick={() => openDialog("triggers")}>
          Triggers
        </button>
        <button type="button" className="cm-btn" onClick={() => openDialog("credentials")}>
          Credentials
        </button>
        <button type="button" className="cm-btn" onClick={() => openDialog("executions")}>
          Executions
        </button>
        {canEdit && (
          <button
            type="button"
            className="cm-btn"
            onClick={() => openDialog("import")}
            title="Import an exported workflow or n8n JSON as new drafts"
          >
            Import
          </button>
        )}
        {canEdit && (
          <button
            type="button"
            className="cm-btn"
            onClick={() => void doc.toggleActive()}
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
            onClick={() => void doc.save()}
            disabled={busy !== null || !dirty}
            title="Save a new version (Ctrl+S)"
          >
            {busy === "save" ? "Saving…" : "Save"}
          </button>
        )}
        <button
          type="button"
          className="cm-btn cm-btn--run"
          onClick={() => openDialog("run")}
          disabled={!canExecute || busy !== null}
          title="Run with test input (Ctrl+Enter)"
        >
          ▶ Run
        </button>
      </div>
    </header>
  );
}

/** Shown after a save was refused because someone else saved first (409). */
export function ConflictBanner({ doc }: { doc: WorkflowDocument }) {
  if (!doc.conflict) return null;
  return (
    <div className="cm-conflict" role="alert" data-testid="conflict">
      <span>{MSG_CONFLICT}</span>
      <button type="button" className="cm-btn cm-btn--primary" onClick={doc.reloadDiscarding}>
        Reload
      </button>
      <button type="button" className="cm-btn" onClick={doc.dismissConflict} title="Your changes stay here; copy what you need, then reload">
        Keep editing
      </button>
    </div>
  );
}
