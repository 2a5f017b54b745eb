/**
 * The workflow document the editor works on: its name, status and version, the revision a save is based on
 * (If-Match), and the four things done to it on the server: validate, save (with drafts and conflicts),
 * reload, activate/deactivate. The graph itself lives in the editor store.
 */
import { useReactFlow } from "@xyflow/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError, api } from "../api";
import { clientProblems } from "../clientValidation";
import type { WorkflowInfo } from "../config";
import { countProblems, dedupeProblems } from "../problems";
import { MSG_CONFLICT, MSG_RELOAD_CONFIRM, conflictOf, ifMatchHeader, saveOutcome, type SaveResponse } from "../save";
import { useEditor } from "../store";
import type { Definition, Problem } from "../types";

export const MSG_UNSAVED = "You have unsaved changes. Leave anyway?";

export interface WorkflowResponse extends SaveResponse {
  id: string;
  name: string;
  status: string;
  definition: Definition;
  permissions?: string[];
  /** Node id -> pinned output (servers before issue 18 send none). */
  pins?: Record<string, unknown> | null;
}

interface ValidationResponse {
  valid: boolean;
  problems?: Problem[];
  errors?: Problem[];
}

export type Busy = null | "save" | "validate" | "run" | "activate";

export interface WorkflowMeta {
  name: string;
  status: string;
  version: number | null;
}

export interface WorkflowDocument {
  url: string;
  meta: WorkflowMeta;
  /** The caller's permissions on the workflow as the API reports them (e.g. "manage"). */
  permissions: string[];
  busy: Busy;
  setBusy(busy: Busy): void;
  /** "Saved as draft — N problems" after a save the server stored with problems; null once valid. */
  draftLabel: string | null;
  /** A save was refused because someone else saved since this page loaded (409). */
  conflict: boolean;
  dismissConflict(): void;
  /** Mark problems on the canvas (deduplicated). */
  showProblems(problems: Problem[], definition: Definition): void;
  validate(quiet?: boolean): Promise<boolean>;
  save(): Promise<boolean>;
  reload(): Promise<void>;
  /** Reload the saved workflow after asking when there are unsaved changes. */
  reloadDiscarding(): void;
  toggleActive(): Promise<void>;
  /** Store the pins beside the draft (PATCH `pins`, If-Match like a save); false when refused. */
  savePins(pins: Record<string, unknown>): Promise<boolean>;
}

export function useWorkflowDocument(workflow: WorkflowInfo, workflowUrl: string, canEdit: boolean): WorkflowDocument {
  const [meta, setMeta] = useState<WorkflowMeta>({
    name: workflow.name,
    status: workflow.status,
    version: workflow.version,
  });
  const [busy, setBusy] = useState<Busy>(null);
  const [permissions, setPermissions] = useState<string[]>([]);
  const [draftLabel, setDraftLabel] = useState<string | null>(null);
  const [conflict, setConflict] = useState(false);
  // The revision the editor's graph is based on, sent as If-Match (a server without revisions sends none).
  const revision = useRef<number | null>(workflow.revision ?? null);
  const notify = useEditor((s) => s.notify);
  const { fitView } = useReactFlow();

  useEffect(() => {
    api<WorkflowResponse>("GET", workflowUrl)
      .then((data) => {
        setPermissions(data.permissions ?? []);
        useEditor.getState().setPins(data.pins ?? {});
        if (revision.current == null && typeof data.revision === "number") revision.current = data.revision;
      })
      .catch(() => setPermissions([]));
  }, [workflowUrl]);

  useEffect(() => {
    const guard = (event: BeforeUnloadEvent) => {
      if (!useEditor.getState().dirty) return;
      event.preventDefault();
      event.returnValue = MSG_UNSAVED;
    };
    window.addEventListener("beforeunload", guard);
    return () => window.removeEventListener("beforeunload", guard);
  }, []);

  const showProblems = useCallback((problems: Problem[], definition: Definition) => {
    useEditor.getState().setProblems(dedupeProblems(problems), definition);
  }, []);

  const validate = useCallback(
    async (quiet = false): Promise<boolean> => {
      const state = useEditor.getState();
      const definition = state.definition();
      const local = Object.keys(state.nodeTypes).length ? clientProblems(definition, state.nodeTypes) : [];
      let remote: Problem[] = [];
      try {
        const result = await api<ValidationResponse>("POST", `${workflowUrl}validate/`, { definition });
        remote = result.problems ?? result.errors ?? [];
      } catch (e) {
        if (e instanceof ApiError && e.problems.length) remote = e.problems;
        else if (!quiet) notify({ kind: "error", text: `Server validation unavailable: ${(e as Error).message}` });
      }
      const all = dedupeProblems([...local, ...remote]);
      showProblems(all, definition);
      if (!quiet) {
        notify(
          all.length
            ? { kind: "error", text: `${all.length} problem${all.length > 1 ? "s" : ""} to fix (marked on the nodes).` }
            : { kind: "success", text: "The workflow is valid." },
        );
      }
      return all.length === 0;
    },
    [workflowUrl, notify, showProblems],
  );

  const save = useCallback(async (): Promise<boolean> => {
    if (!canEdit) return false;
    if (!useEditor.getState().dirty) {
      notify({ kind: "info", text: "No changes to save." });
      return true;
    }
    const definition = useEditor.getState().definition();
    setBusy("save");
    try {
      const saved = await api<WorkflowResponse>("PATCH", workflowUrl, { definition }, ifMatchHeader(revision.current));
      // What was sent is saved, even if the graph changed while the request was out.
      useEditor.getState().markSaved(definition);
      setConflict(false);
      const outcome = saveOutcome(saved);
      if (outcome.revision != null) revision.current = outcome.revision;
      setMeta((m) => ({ ...m, status: saved.status ?? m.status, version: saved.latest_version ?? m.version }));
      // A server that reports drafts says what is wrong in its answer; an older one is asked to validate.
      const reportsDrafts = saved != null && "is_valid" in saved;
      if (reportsDrafts && outcome.draft) showProblems(outcome.problems, definition);
      else if (reportsDrafts) useEditor.getState().clearProblems();
      const valid = reportsDrafts ? !outcome.draft : await validate(true);
      const count = outcome.draft ? outcome.problems.length : countProblems(useEditor.getState().problems);
      setDraftLabel(valid ? null : (outcome.label ?? `Saved as draft — ${count} problem${count === 1 ? "" : "s"}`));
      const version = saved.latest_version ? ` as version ${saved.latest_version}` : "";
      notify(
        valid
          ? { kind: "success", text: `Saved${version}.` }
          : { kind: "info", text: "Saved as draft: fix the problems marked on the nodes before it can run." },
      );
      return true;
    } catch (e) {
      if (conflictOf(e)) {
        setConflict(true);
        notify({ kind: "error", text: `Not saved: ${MSG_CONFLICT}` });
        return false;
      }
      const error = e as ApiError;
      if (error.problems?.length) showProblems(error.problems, definition);
      notify({ kind: "error", text: `Not saved: ${error.message}` });
      return false;
    } finally {
      setBusy(null);
    }
  }, [canEdit, workflowUrl, validate, notify, showProblems]);

  const reload = useCallback(async () => {
    const data = await api<WorkflowResponse>("GET", workflowUrl);
    useEditor.getState().load(data.definition, { readOnly: !canEdit });
    revision.current = typeof data.revision === "number" ? data.revision : null;
    useEditor.getState().setPins(data.pins ?? {});
    setConflict(false);
    setDraftLabel(null);
    setMeta({ name: data.name, status: data.status, version: data.latest_version ?? null });
    window.setTimeout(() => fitView({ padding: 0.2 }), 50);
  }, [workflowUrl, canEdit, fitView]);

  const reloadDiscarding = useCallback(() => {
    if (useEditor.getState().dirty && !window.confirm(MSG_RELOAD_CONFIRM)) return;
    void reload().then(() => notify({ kind: "info", text: "Reloaded the saved workflow." }));
  }, [reload, notify]);

  const toggleActive = useCallback(async () => {
    const action = meta.status === "active" ? "deactivate" : "activate";
    setBusy("activate");
    try {
      const data = await api<WorkflowResponse>("POST", `${workflowUrl}${action}/`, {});
      setMeta((m) => ({ ...m, status: data?.status ?? (action === "activate" ? "active" : "inactive") }));
      notify({ kind: "success", text: action === "activate" ? "Activated: its triggers now start it." : "Deactivated." });
    } catch (e) {
      const error = e as ApiError;
      if (error.problems?.length) showProblems(error.problems, useEditor.getState().definition());
      notify({ kind: "error", text: `Could not ${action}: ${error.message}` });
    } finally {
      setBusy(null);
    }
  }, [meta.status, workflowUrl, notify, showProblems]);

  const dismissConflict = useCallback(() => setConflict(false), []);

  const savePins = useCallback(
    async (pins: Record<string, unknown>): Promise<boolean> => {
      const before = useEditor.getState().pins;
      useEditor.getState().setPins(pins);
      try {
        const saved = await api<WorkflowResponse>("PATCH", workflowUrl, { pins }, ifMatchHeader(revision.current));
        const outcome = saveOutcome(saved);
        if (outcome.revision != null) revision.current = outcome.revision;
        if (saved?.pins) useEditor.getState().setPins(saved.pins);
        return true;
      } catch (e) {
        useEditor.getState().setPins(before);
        if (conflictOf(e)) {
          setConflict(true);
          notify({ kind: "error", text: `Pins not saved: ${MSG_CONFLICT}` });
          return false;
        }
        const error = e as ApiError;
        const detail = error.problems?.length ? error.problems.map((p) => p.message).join("; ") : error.message;
        notify({ kind: "error", text: `Pins not saved: ${detail}` });
        return false;
      }
    },
    [workflowUrl, notify],
  );

  return {
    url: workflowUrl,
    meta,
    permissions,
    busy,
    setBusy,
    draftLabel,
    conflict,
    dismissConflict,
    showProblems,
    validate,
    save,
    reload,
    reloadDiscarding,
    toggleActive,
    savePins,
  };
}
