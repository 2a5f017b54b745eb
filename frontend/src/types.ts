/** Shapes shared with the Django API (see docs/api.md and the workflow definition in DESIGN.md). */

export type JsonObject = { [key: string]: unknown };

export interface NodeTypeInfo {
  name: string;
  category: string;
  display_name: string;
  description: string;
  icon: string;
  config_schema: JsonObject;
  inputs: string[];
  outputs: string[];
  is_enabled: boolean;
}

export interface DefNode {
  id: string;
  type: string;
  config: JsonObject;
  position?: { x: number; y: number };
  retry?: JsonObject;
  timeout_seconds?: number;
  on_error?: string;
  [extra: string]: unknown;
}

export interface DefEdge {
  source: string;
  source_port?: string;
  target: string;
  target_port?: string;
}

export interface Definition {
  nodes: DefNode[];
  edges: DefEdge[];
  variables?: JsonObject;
  [extra: string]: unknown;
}

/** One problem of the API's error shape: a JSON pointer (or field path) and a message. */
export interface Problem {
  path: string;
  message: string;
}

export type NodeStatus =
  | "pending"
  | "queued"
  | "running"
  | "retrying"
  | "waiting"
  | "succeeded"
  | "failed"
  | "skipped"
  | "cancelled";

export interface NodeRun {
  status: NodeStatus;
  attempt?: number;
  started_at?: string | null;
  finished_at?: string | null;
  duration_ms?: number | null;
  /** Time spent waiting (queued, delayed, waiting for approval): absent from servers that do not report it. */
  waited_ms?: number | null;
  input?: unknown;
  output?: unknown;
  error?: unknown;
}

/** What a canvas node carries: the definition node minus id and position. */
export interface WorkflowNodeData extends Record<string, unknown> {
  type: string;
  config: JsonObject;
  /** Every other definition key (retry, timeout_seconds, on_error, ...), kept verbatim. */
  extra: JsonObject;
}
