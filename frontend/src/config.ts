/** The page's configuration, written by Django with `json_script` into #editor-config. */
import type { Definition } from "./types";

export interface WorkflowInfo {
  id: string;
  name: string;
  status: string;
  definition: Definition;
  version: number | null;
  /** The revision of `definition` (sent back as If-Match when saving); absent on older servers. */
  revision?: number | null;
  /** The workflow's organization (imports go there); absent on older servers. */
  organization?: string;
}

export interface ExecutionInfo {
  id: string;
  status: string;
  workflow_id: string;
  workflow_name: string;
  version: number | null;
  definition: Definition;
}

export interface EditorConfig {
  page: "editor" | "execution";
  csrf_token: string;
  user: { username: string; can_edit: boolean; can_execute: boolean };
  workflow: WorkflowInfo | null;
  execution: ExecutionInfo | null;
  urls: {
    /** Templates hold a literal `{id}` (and `{number}` for versions). */
    node_types: string;
    workflow: string;
    execution: string;
    triggers: string;
    /** POST an export document or n8n JSON; absent on older servers. */
    import?: string;
    ws_execution: string;
    editor_page: string;
    execution_page: string;
    admin_workflow: string | null;
  };
}

export function readConfig(): EditorConfig {
  const element = document.getElementById("editor-config");
  if (!element?.textContent) throw new Error("The page has no #editor-config script.");
  return JSON.parse(element.textContent) as EditorConfig;
}

/** Fill `{id}` (and other) placeholders of a URL template written by Django. */
export function fillUrl(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in values ? encodeURIComponent(String(values[key])) : whole,
  );
}

/** An absolute ws:// or wss:// URL for a path on this host. */
export function socketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}`;
}
