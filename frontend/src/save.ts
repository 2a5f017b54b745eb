/** Saving a workflow: the revision it was based on (If-Match), conflicts (409) and drafts saved with problems. */
import { ApiError } from "./api";
import type { Problem } from "./types";

export const MSG_CONFLICT = "Someone else saved this workflow since you opened it.";
export const MSG_RELOAD_CONFIRM = "Reload the saved workflow and discard your changes?";

/** What a workflow save answers (fields a server may not send yet are optional). */
export interface SaveResponse {
  status?: string;
  latest_version?: number | null;
  revision?: number | null;
  is_valid?: boolean;
  problems?: Problem[];
}

export interface SaveOutcome {
  /** Saved, but with problems: it cannot run, be activated or published until they are fixed. */
  draft: boolean;
  problems: Problem[];
  revision: number | null;
  label: string | null;
}

/** The precondition of a save: the revision the editor loaded, as a strong ETag. */
export function ifMatchHeader(revision: number | null | undefined): Record<string, string> {
  return revision == null ? {} : { "If-Match": `"${revision}"` };
}

export function conflictOf(error: unknown): { currentRevision: number | null } | null {
  if (!(error instanceof ApiError) || error.status !== 409) return null;
  const body = (error.body ?? {}) as { current_revision?: unknown };
  return { currentRevision: typeof body.current_revision === "number" ? body.current_revision : null };
}

export function saveOutcome(response: SaveResponse | null | undefined): SaveOutcome {
  const problems = Array.isArray(response?.problems) ? response.problems : [];
  const draft = response?.is_valid === false || problems.length > 0;
  const revision = typeof response?.revision === "number" ? response.revision : null;
  const n = problems.length;
  return { draft, problems, revision, label: draft ? `Saved as draft — ${n} problem${n === 1 ? "" : "s"}` : null };
}
