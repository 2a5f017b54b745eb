/**
 * Runs started from the editor and the execution the canvas follows: start a test run (saving first),
 * follow an execution live, approve or reject a waiting approval node of the followed execution.
 */
import { useCallback, useEffect, useMemo, useRef } from "react";
import { ApiError, api } from "../api";
import { fillUrl, socketUrl, type EditorConfig } from "../config";
import { useRun, watchExecution, type Watch } from "../live";
import { useEditor } from "../store";
import type { WorkflowDocument } from "./useWorkflowDocument";

export interface ApprovalActions {
  approve(nodeId: string): void;
  reject(nodeId: string): void;
}

export interface TestRun {
  /** Show this execution on the canvas, live. */
  follow(executionId: string): void;
  /** Fetch the followed execution again (after an action changed it). */
  refresh(): void;
  /** Save if needed, then run the workflow with this test input and follow the run. */
  run(input: unknown): Promise<void>;
  approval: ApprovalActions;
}

export function useTestRun(urls: EditorConfig["urls"], doc: WorkflowDocument): TestRun {
  const watchRef = useRef<Watch | null>(null);
  const notify = useEditor((s) => s.notify);
  const { save, setBusy, showProblems, url: workflowUrl } = doc;

  useEffect(() => () => watchRef.current?.stop(), []);

  const follow = useCallback(
    (executionId: string) => {
      watchRef.current?.stop();
      watchRef.current = watchExecution(
        executionId,
        fillUrl(urls.execution, { id: executionId }),
        socketUrl(fillUrl(urls.ws_execution, { id: executionId })),
      );
    },
    [urls],
  );

  const refresh = useCallback(() => void watchRef.current?.refresh(), []);

  const run = useCallback(
    async (input: unknown) => {
      if (useEditor.getState().dirty && !(await save())) return;
      setBusy("run");
      try {
        const execution = await api<{ id: string }>("POST", `${workflowUrl}execute/`, { input });
        follow(execution.id);
        notify({ kind: "info", text: "Execution started." });
      } catch (e) {
        const error = e as ApiError;
        if (error.problems?.length) showProblems(error.problems, useEditor.getState().definition());
        notify({ kind: "error", text: `Could not run: ${error.message}` });
      } finally {
        setBusy(null);
      }
    },
    [save, setBusy, workflowUrl, follow, notify, showProblems],
  );

  const approval = useMemo(() => {
    async function decide(decision: "approve" | "reject", nodeId: string) {
      const execution = useRun.getState().execution;
      if (!execution) return;
      try {
        await api("POST", `${fillUrl(urls.execution, { id: execution.id })}${decision}/`, { node_id: nodeId });
        useEditor.getState().notify({ kind: "success", text: decision === "approve" ? "Approved." : "Rejected." });
        void watchRef.current?.refresh();
      } catch (e) {
        useEditor.getState().notify({ kind: "error", text: `${decision} failed: ${(e as Error).message}` });
      }
    }
    return {
      approve: (nodeId: string) => void decide("approve", nodeId),
      reject: (nodeId: string) => void decide("reject", nodeId),
    };
  }, [urls]);

  return { follow, refresh, run, approval };
}
