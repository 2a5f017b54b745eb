/**
 * What `POST /workflows/import/` answered, as the import dialog shows it (pure: no DOM, no fetch).
 *
 * Three shapes: an export document answers the created workflow; one n8n workflow answers the workflow with its
 * `n8n_report`; a list of n8n workflows answers `{workflows: [workflow + n8n_report], refused: [report]}`.
 */
import { fillUrl } from "./config";

export interface ReportNode {
  node: string;
  type: string;
  outcome: string;
  /** What was changed, or why the node was refused. */
  detail: string;
}

export interface ImportReport {
  name: string;
  n8nId: string;
  reasons: string[];
  summary: Record<string, number>;
  nodes: ReportNode[];
  credentials: string[];
}

export interface ImportedWorkflow {
  id: string;
  name: string;
  url: string;
  report: ImportReport | null;
}

export interface ImportOutcome {
  created: ImportedWorkflow[];
  refused: ImportReport[];
}

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map((v) => String(v)) : [];
}

/** One n8n report (`translate_workflow(...).as_dict()`), or null when there is none (an export import). */
export function readReport(value: unknown): ImportReport | null {
  if (!value || typeof value !== "object") return null;
  const report = asObject(value);
  const summary: Record<string, number> = {};
  for (const [key, count] of Object.entries(asObject(report.summary))) summary[key] = Number(count) || 0;
  const nodes = (Array.isArray(report.nodes) ? report.nodes : []).map((entry) => {
    const node = asObject(entry);
    const reason = typeof node.reason === "string" ? node.reason : "";
    return {
      node: String(node.node ?? ""),
      type: String(node.type ?? ""),
      outcome: String(node.outcome ?? ""),
      detail: reason || strings(node.changes).join(" "),
    };
  });
  const credentials = (Array.isArray(report.credentials) ? report.credentials : []).map((entry) => {
    const credential = asObject(entry);
    return `${String(credential.name ?? "")} (${String(credential.n8n_type ?? "")}, node ${String(credential.node ?? "")})`;
  });
  return {
    name: String(report.name ?? ""),
    n8nId: String(report.n8n_id ?? ""),
    reasons: strings(report.reasons),
    summary,
    nodes,
    credentials,
  };
}

function readWorkflow(value: unknown, editorPage: string): ImportedWorkflow | null {
  const workflow = asObject(value);
  if (typeof workflow.id !== "string" || !workflow.id) return null;
  return {
    id: workflow.id,
    name: String(workflow.name ?? ""),
    url: fillUrl(editorPage, { id: workflow.id }),
    report: readReport(workflow.n8n_report),
  };
}

/** The created drafts (with a link to each one's editor) and the refused n8n workflows, from any of the shapes. */
export function readImportResult(body: unknown, editorPage: string): ImportOutcome {
  const answer = asObject(body);
  if (Array.isArray(answer.workflows) || Array.isArray(answer.refused)) {
    const created = (Array.isArray(answer.workflows) ? answer.workflows : [])
      .map((w) => readWorkflow(w, editorPage))
      .filter((w): w is ImportedWorkflow => w !== null);
    const refused = (Array.isArray(answer.refused) ? answer.refused : [])
      .map(readReport)
      .filter((r): r is ImportReport => r !== null);
    return { created, refused };
  }
  const one = readWorkflow(answer, editorPage);
  return { created: one ? [one] : [], refused: [] };
}

/** "3 translated, 1 with changes, 1 not translatable" (the outcomes present, in the translator's order). */
export function summaryText(summary: Record<string, number>): string {
  const labels: Record<string, string> = {
    translated: "translated",
    translated_with_changes: "with changes",
    not_translatable: "not translatable",
  };
  return Object.entries(summary)
    .filter(([, count]) => count > 0)
    .map(([key, count]) => `${count} ${labels[key] ?? key.replace(/_/g, " ")}`)
    .join(", ");
}

/** A headline for the dialog once the import answered. */
export function outcomeText(outcome: ImportOutcome): string {
  const made = outcome.created.length;
  const parts = [`${made} draft workflow${made === 1 ? "" : "s"} created`];
  if (outcome.refused.length) parts.push(`${outcome.refused.length} refused`);
  return `${parts.join(", ")}.`;
}
