/**
 * Follow one execution: the REST detail for the full picture (inputs, outputs, errors), the WebSocket for
 * live statuses (snapshot, then events after a seq; reconnects with ?since=), REST polling when no socket.
 */
import { create } from "zustand";
import { api } from "./api";
import { durationOf } from "./components/format";
import { lastLogId, mergeLogs, type LogLine } from "./debug";
import { useEditor } from "./store";
import type { NodeRun, NodeStatus } from "./types";

export interface ExecutionView {
  id: string;
  status: string;
  workflow_id?: string;
  input?: unknown;
  output?: unknown;
  error?: unknown;
  started_at?: string | null;
  finished_at?: string | null;
  /** The workflow version it ran. */
  version?: number | null;
  /** Issue 18: a test run (pins used), its mode (`full`, `node`, `up_to`) and node; the execution re-run. */
  test_run?: boolean;
  run_mode?: string | null;
  run_node_id?: string | null;
  source_execution?: string | null;
  rerun_from?: string | null;
}

export type LiveMode = "idle" | "connecting" | "live" | "polling" | "done";

interface RunState {
  execution: ExecutionView | null;
  mode: LiveMode;
  lastSeq: number;
  problem: string | null;
  /** What the nodes of the followed execution logged, oldest first (REST list and live `log` messages). */
  logs: LogLine[];
  /** The server has no logs endpoint: stop asking. */
  logsUnavailable: boolean;
  /** The version of the execution a re-run started from the editor came from (for "Compare versions"). */
  sourceVersion: number | null;
  set(patch: Partial<RunState>): void;
}

export const useRun = create<RunState>()((set) => ({
  execution: null,
  mode: "idle",
  lastSeq: 0,
  problem: null,
  logs: [],
  logsUnavailable: false,
  sourceVersion: null,
  set: (patch) => set(patch),
}));

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const EVENT_STATUS: Record<string, NodeStatus> = {
  node_queued: "queued",
  node_started: "running",
  node_succeeded: "succeeded",
  node_failed: "failed",
  node_retrying: "retrying",
  node_skipped: "skipped",
  node_waiting: "waiting",
  node_cancelled: "cancelled",
};
const EXECUTION_STATUS: Record<string, string> = {
  execution_started: "running",
  execution_paused: "paused",
  execution_resumed: "running",
  execution_succeeded: "succeeded",
  execution_failed: "failed",
  execution_cancelled: "cancelled",
};
const POLL_MS = 1000;
const DETAIL_DEBOUNCE_MS = 150;
/** Close codes that mean "this will never work": not authenticated, no permission, not found. */
const FATAL_CLOSE = new Set([4401, 4403, 4404]);

type Raw = Record<string, unknown>;

function nodeRunFrom(raw: Raw): NodeRun {
  const started = (raw.started_at as string | null) ?? null;
  const finished = (raw.finished_at as string | null) ?? null;
  return {
    status: raw.status as NodeStatus,
    attempt: raw.attempt as number | undefined,
    started_at: started,
    finished_at: finished,
    duration_ms: (raw.duration_ms as number | null | undefined) ?? durationOf(started, finished),
    ...(typeof raw.waited_ms === "number" ? { waited_ms: raw.waited_ms } : {}),
    input: raw.input,
    output: raw.output,
    error: raw.error,
  };
}

/** Node executions from a detail or snapshot: a list of rows, or a map of node id -> row or status. */
export function runsFrom(raw: unknown): Record<string, NodeRun> {
  const runs: Record<string, NodeRun> = {};
  if (Array.isArray(raw)) {
    for (const row of raw as Raw[]) {
      const id = String(row.node_id ?? row.id ?? "");
      const previous = runs[id];
      if (!previous || Number(row.attempt ?? 0) >= Number(previous.attempt ?? 0)) runs[id] = nodeRunFrom(row);
    }
  } else if (raw && typeof raw === "object") {
    for (const [id, value] of Object.entries(raw as Raw)) {
      runs[id] = typeof value === "string" ? { status: value as NodeStatus } : nodeRunFrom(value as Raw);
    }
  }
  return runs;
}

function executionFrom(raw: Raw): ExecutionView {
  return {
    id: String(raw.id),
    status: String(raw.status ?? "pending"),
    workflow_id: raw.workflow_id ? String(raw.workflow_id) : raw.workflow ? String(raw.workflow) : undefined,
    input: raw.input ?? raw.trigger_data,
    output: raw.output,
    error: raw.error,
    started_at: raw.started_at as string | null,
    finished_at: raw.finished_at as string | null,
    version: typeof raw.version === "number" ? raw.version : null,
    test_run: raw.test_run === true,
    run_mode: (raw.run_mode as string | null | undefined) ?? null,
    run_node_id: (raw.run_node_id as string | null | undefined) ?? null,
    source_execution: raw.source_execution ? String(raw.source_execution) : null,
    rerun_from: (raw.rerun_from as string | null | undefined) ?? null,
  };
}

export interface Watch {
  stop(): void;
  refresh(): Promise<void>;
}

/** Start following `executionId`; statuses go into the editor store's `runs`. */
export function watchExecution(executionId: string, detailUrl: string, socketUrl: string): Watch {
  let stopped = false;
  let socket: WebSocket | null = null;
  let pollTimer: number | undefined;
  let detailTimer: number | undefined;
  let reconnectDelay = 500;
  useRun.getState().set({
    execution: { id: executionId, status: "pending" },
    mode: "connecting",
    lastSeq: 0,
    problem: null,
    logs: [],
    sourceVersion: null,
  });
  useEditor.getState().setRuns({});

  /** Log lines after the last one held (logs have no seq: this is how a reconnect catches up). */
  async function fetchLogs() {
    if (useRun.getState().logsUnavailable) return;
    const after = lastLogId(useRun.getState().logs);
    try {
      const lines = await api<LogLine[]>("GET", `${detailUrl}logs/${after != null ? `?after=${after}` : ""}`);
      if (stopped || !Array.isArray(lines)) return;
      useRun.getState().set({ logs: mergeLogs(useRun.getState().logs, lines) });
    } catch (error) {
      if ((error as { status?: number }).status === 404) useRun.getState().set({ logsUnavailable: true });
    }
  }

  async function refresh() {
    try {
      void fetchLogs();
      const raw = await api<Raw>("GET", detailUrl);
      if (stopped) return;
      const execution = executionFrom(raw);
      useRun.getState().set({ execution });
      const rows = raw.node_executions ?? raw.nodes;
      if (rows) useEditor.setState((s) => ({ runs: { ...s.runs, ...runsFrom(rows) } }));
      if (TERMINAL.has(execution.status) && useRun.getState().mode === "polling") finish();
    } catch (error) {
      useRun.getState().set({ problem: (error as Error).message });
    }
  }

  function scheduleRefresh() {
    window.clearTimeout(detailTimer);
    detailTimer = window.setTimeout(refresh, DETAIL_DEBOUNCE_MS);
  }

  function finish() {
    useRun.getState().set({ mode: "done" });
    window.clearInterval(pollTimer);
    socket?.close(1000);
  }

  function startPolling() {
    if (stopped || pollTimer !== undefined) return;
    useRun.getState().set({ mode: "polling" });
    pollTimer = window.setInterval(refresh, POLL_MS);
  }

  function onMessage(message: Raw) {
    const type = String(message.type ?? "");
    const seq = Number(message.seq ?? message.last_seq ?? 0);
    const run = useRun.getState();
    if (type === "snapshot") {
      // The snapshot carries statuses only: merge them so outputs already read over REST stay.
      const rows = runsFrom(message.nodes ?? message.node_executions);
      useEditor.setState((s) => ({
        runs: Object.fromEntries(
          [...new Set([...Object.keys(s.runs), ...Object.keys(rows)])].map((id) => [id, { ...s.runs[id], ...rows[id] }]),
        ),
      }));
      const status = (message.status ?? (message.execution as Raw | undefined)?.status) as string | undefined;
      if (status && run.execution) run.set({ execution: { ...run.execution, status } });
      run.set({ lastSeq: Math.max(run.lastSeq, seq) });
      if (status && TERMINAL.has(status)) refresh().then(finish);
      else scheduleRefresh();
      return;
    }
    if (type === "log") {
      // Log lines carry no seq (they are not transitions); their own ids order and deduplicate them.
      const line = message.data as LogLine | undefined;
      if (line && typeof line.id === "number") run.set({ logs: mergeLogs(run.logs, [line]) });
      return;
    }
    if (seq && seq <= run.lastSeq) return;
    if (seq) run.set({ lastSeq: seq });
    const nodeId = message.node_id as string | undefined;
    const data = (message.data ?? {}) as Raw;
    if (nodeId && (EVENT_STATUS[type] || type.startsWith("node_"))) {
      const patch: Partial<NodeRun> = { status: (EVENT_STATUS[type] ?? message.status) as NodeStatus };
      if (typeof data.duration_ms === "number") patch.duration_ms = data.duration_ms;
      if (typeof data.waited_ms === "number") patch.waited_ms = data.waited_ms;
      if (typeof data.attempt === "number") patch.attempt = data.attempt;
      if (data.error !== undefined) patch.error = data.error;
      useEditor.getState().patchRun(nodeId, patch);
      if (type !== "node_started" && type !== "node_queued") scheduleRefresh();
    }
    const executionStatus = EXECUTION_STATUS[type];
    if (executionStatus && run.execution) {
      run.set({ execution: { ...run.execution, status: executionStatus } });
      if (TERMINAL.has(executionStatus)) {
        // The detail carries outputs and durations; fetch it once more, then stop listening.
        refresh().then(finish);
      }
    }
  }

  function connect() {
    if (stopped) return;
    const since = useRun.getState().lastSeq;
    const url = `${socketUrl}${since ? `?since=${since}` : ""}`;
    let opened = false;
    try {
      socket = new WebSocket(url);
    } catch {
      startPolling();
      return;
    }
    socket.onopen = () => {
      opened = true;
      reconnectDelay = 500;
      useRun.getState().set({ mode: "live" });
    };
    socket.onmessage = (event) => {
      try {
        onMessage(JSON.parse(event.data as string) as Raw);
      } catch {
        // A frame that is not JSON is not ours to interpret (e.g. a proxy's keep-alive).
      }
    };
    socket.onclose = (event) => {
      socket = null;
      if (stopped || useRun.getState().mode === "done") return;
      if (FATAL_CLOSE.has(event.code) || !opened) {
        // No live channel: fall back to reading the REST detail every second.
        startPolling();
        return;
      }
      window.setTimeout(connect, reconnectDelay);
      reconnectDelay = Math.min(reconnectDelay * 2, 10_000);
    };
  }

  // Subscribe at once (the snapshot covers whatever happened before) and read the full detail meanwhile.
  connect();
  void refresh();

  return {
    stop() {
      stopped = true;
      window.clearInterval(pollTimer);
      window.clearTimeout(detailTimer);
      socket?.close(1000);
    },
    refresh,
  };
}
