/** The editor page's dialogs: at most one is open, named by `open`. */
import { fillUrl, type EditorConfig } from "../config";
import type { TestRun } from "../hooks/useTestRun";
import type { WorkflowDocument } from "../hooks/useWorkflowDocument";
import { useEditor } from "../store";
import { CredentialsDialog } from "./CredentialsDialog";
import { ExecutionsDialog } from "./ExecutionsDialog";
import { ImportDialog } from "./ImportDialog";
import { RunDialog } from "./RunDialog";
import { ShortcutsDialog } from "./ShortcutsDialog";
import { TriggersDialog } from "./TriggersDialog";
import { VersionsDialog } from "./VersionsDialog";

export type EditorDialog = null | "run" | "versions" | "triggers" | "executions" | "help" | "import" | "credentials";

interface Props {
  open: EditorDialog;
  onClose(): void;
  config: EditorConfig;
  doc: WorkflowDocument;
  testRun: TestRun;
  /** Versions to compare as the versions dialog opens. */
  diffPreset?: { from: number; to: number } | null;
}

export function EditorDialogs({ open, onClose, config, doc, testRun, diffPreset }: Props) {
  const dirty = useEditor((s) => s.dirty);
  const notify = useEditor((s) => s.notify);
  const workflowId = config.workflow!.id;
  const canEdit = config.user.can_edit;
  switch (open) {
    case "run":
      return (
        <RunDialog
          workflowId={workflowId}
          dirty={dirty}
          onRun={(input) => {
            onClose();
            void testRun.run(input);
          }}
          onClose={onClose}
        />
      );
    case "versions":
      return (
        <VersionsDialog
          listUrl={`${doc.url}versions/`}
          restoreUrl={(v) => `${doc.url}versions/${v.number}/restore/`}
          current={doc.meta.version}
          canEdit={canEdit && !dirty}
          diffUrl={(a, b) => `${doc.url}versions/${a}/diff/${b}/`}
          preset={diffPreset ?? null}
          onRestored={() => {
            onClose();
            void doc.reload().then(() => notify({ kind: "success", text: "Version restored (saved as the newest)." }));
          }}
          onClose={onClose}
        />
      );
    case "help":
      return <ShortcutsDialog onClose={onClose} />;
    case "import":
      return (
        <ImportDialog
          importUrl={config.urls.import ?? fillUrl(config.urls.workflow, { id: "import" })}
          organization={config.workflow!.organization ?? null}
          editorPage={config.urls.editor_page}
          onClose={onClose}
        />
      );
    case "executions":
      return (
        <ExecutionsDialog
          listUrl={`${doc.url}executions/`}
          executionPage={config.urls.execution_page}
          onShow={(id) => {
            onClose();
            testRun.follow(id);
          }}
          onDebug={(id) => {
            onClose();
            void testRun.debugExecution(id);
          }}
          onClose={onClose}
        />
      );
    case "triggers":
      return (
        <TriggersDialog
          triggersUrl={config.urls.triggers}
          workflowId={workflowId}
          canManage={doc.permissions.includes("manage")}
          onClose={onClose}
        />
      );
    case "credentials":
      return (
        <CredentialsDialog
          organization={config.workflow!.organization ?? null}
          canManage={doc.permissions.includes("manage")}
          onClose={onClose}
        />
      );
    default:
      return null;
  }
}
