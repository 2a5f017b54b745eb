/**
 * Runs started from the editor and the execution the canvas follows: start a test run (saving first),
 * follow an execution live, approve or reject a waiting approval node of the followed execution.
 */
import { useCallback, useEffect, useMemo, useRef } from "react";
import { ApiError, api } from "../api";
import { fillUrl, socketUrl, type EditorConfig } from "../config";
import { pinsFromRuns, triggerInput } from "../debug";
import { runsFrom, useRun, watchExecution, type Watch } from "../live";
import { useEditor } from "../store";
import type { WorkflowDocument } from "./useWorkflowDocument";

/** Where the Run dialog keeps the last test input per workflow (RunDialog reads and writes it). */
export const RUN_INPUT_KEY = "concertmaster.run-input.";
export const MSG_REPLACE_PINS = "Replace the current pinned data with this execution's data?";

export type RerunFrom = "failed" | "trigger" | string;
export type RerunVersion = "original" | "latest";

/** The test input last typed in the Run dialog for this workflow, when it parses. */
function rememberedInput(workflowId: string): unknown {
  try {
    const text = localStorage.getItem(RUN_INPUT_KEY + workflowId);
    return text?.trim() ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export interface ApprovalActions {
  approve(nodeId: string): void;
  reject(nodeId: string): void;
}

export interface TestRun {
  /** Show this execution on the canvas, live. */
  follow(executionId: string): void;
  /** Fetch the followed execution again (after an action changed it). */
  refresh(): void;
  /** Save if needed, then run the workflow with this test input (a test run: pins stand in) and follow it. */
  run(input: unknown): Promise<void>;
  /** A partial test run: this node alone (`node`) or it and its ancestors (`up_to`). */
  runPartial(mode: "node" | "up_to", nodeId: string): Promise<void>;
  /** Re-run an execution as a new one (from its failed nodes, the trigger or a node; on a version). */
  rerun(executionId: string, from: RerunFrom, version: RerunVersion): Promise<void>;
  /** "Debug in editor": pin the outputs of the nodes that succeeded in an execution and show it. */
  debugExecution(executionId: string): Promise<void>;
  approval: ApprovalActions;
}

export function useTestRun(urls: EditorConfig["urls"], workflowId: string, doc: WorkflowDocument): TestRun {
  const watchRef = useRef<Watch | null>(null);
  const notify = useEditor((s) => s.notify);
  const { save, savePins, setBusy, showProblems, url: workflowUrl } = doc;

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
        const execution = await api<{ id: string }>("POST", `${workflowUrl}execute/`, { input, test: true });
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

  const runPartial = useCallback(
    async (mode: "node" | "up_to", nodeId: string) => {
      if (useEditor.getState().dirty && !(await save())) return;
      const state = useEditor.getState();
      // A pinned trigger payload is the run's trigger data; else the Run dialog's last input; a single
      // node without either takes the latest execution's trigger data (the server's default).
      const input = triggerInput(state.definition(), state.pins, rememberedInput(workflowId));
      const body: Record<string, unknown> = { run: { mode, node: nodeId } };
      if (input !== undefined) body.input = input;
      else if (mode === "up_to") body.input = {};
      setBusy("run");
      try {
        const execution = await api<{ id: string }>("POST", `${workflowUrl}execute/`, body);
        follow(execution.id);
        notify({ kind: "info", text: mode === "node" ? `Running ${nodeId} alone.` : `Running up to ${nodeId}.` });
      } catch (e) {
        const error = e as ApiError;
        const where = error.problems?.find((p) => p.path.startsWith("/run") || p.path.startsWith("/test"));
        if (error.problems?.length && !where) showProblems(error.problems, useEditor.getState().definition());
        notify({ kind: "error", text: `Could not run: ${where ? where.message : error.message}` });
      } finally {
        setBusy(null);
      }
    },
    [save, setBusy, workflowUrl, workflowId, follow, notify, showProblems],
  );

  const rerun = useCallback(
    async (executionId: string, from: RerunFrom, version: RerunVersion) => {
      const source = useRun.getState().execution;
      try {
        const execution = await api<{ id: string }>(
          "POST",
          `${fillUrl(urls.execution, { id: executionId })}rerun/`,
          { from, version },
        );
        follow(execution.id);
        if (source?.id === executionId) useRun.getState().set({ sourceVersion: source.version ?? null });
        const what = from === "failed" ? "from the failed nodes" : from === "trigger" ? "from the trigger" : `from ${from}`;
        notify({ kind: "info", text: `Re-running ${what} on the ${version === "latest" ? "latest" : "original"} version.` });
      } catch (e) {
        const error = e as ApiError;
        const detail = error.problems?.length ? error.problems.map((p) => p.message).join("; ") : error.message;
        notify({ kind: "error", text: `Could not re-run: ${detail}` });
      }
    },
    [urls, follow, notify],
  );

  const debugExecution = useCallback(
    async (executionId: string) => {
      try {
        const raw = await api<Record<string, unknown>>("GET", fillUrl(urls.execution, { id: executionId }));
        const runs = runsFrom(raw.node_executions ?? raw.nodes);
        const state = useEditor.getState();
        const pins = pinsFromRuns(runs, state.nodes.map((n) => n.id));
        const current = state.pins;
        const replacing = Object.keys(current).length > 0 && JSON.stringify(current) !== JSON.stringify(pins);
        follow(executionId);
        if (!state.readOnly && (!replacing || window.confirm(MSG_REPLACE_PINS))) {
          if (await savePins(pins)) {
            const n = Object.keys(pins).length;
            notify({ kind: "info", text: `Debugging this execution: ${n} node${n === 1 ? "" : "s"} pinned with its data.` });
          }
        }
      } catch (e) {
        notify({ kind: "error", text: `Could not open the execution: ${(e as Error).message}` });
      }
    },
    [urls, follow, savePins, notify],
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

  return { follow, refresh, run, runPartial, rerun, debugExecution, approval };
}
