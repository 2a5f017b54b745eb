import { useCallback, useEffect, useState } from "react";
import { api, unwrapList } from "../api";
import type { JsonObject } from "../types";
import { useEditor } from "../store";
import { Modal } from "../components/Modal";
import { triggerState } from "../components/triggerState";

interface Trigger {
  id: string;
  kind: string;
  name: string;
  config: JsonObject;
  is_active: boolean;
  /** live | inactive | workflow_inactive, with a sentence saying why (servers before this may omit both). */
  state?: string;
  state_detail?: string;
  /** The start node whose config is this form or webhook. */
  start_node?: string | null;
  has_signing_secret?: boolean;
  webhook_url?: string | null;
  form_url?: string | null;
  signing_secret?: string;
  /** A schedule's cron in effect: its workflow's schedule start node's (source "node") or its own ("trigger"). */
  schedule?: { cron: string; timezone: string; source: "node" | "trigger"; node: string | null } | null;
}

function ScheduleLine({ trigger }: { trigger: Trigger }) {
  const schedule = trigger.schedule;
  if (schedule === undefined && trigger.config.cron) {
    // A server from before the schedule node was the truth.
    return (
      <p data-testid="trigger-schedule">
        Cron <code>{String(trigger.config.cron)}</code> in {String(trigger.config.timezone ?? "UTC")}
      </p>
    );
  }
  if (!schedule) return <p className="cm-muted" data-testid="trigger-schedule">No cron in effect.</p>;
  return (
    <p data-testid="trigger-schedule">
      Cron <code>{schedule.cron}</code> in {schedule.timezone}
      {schedule.source === "node" ? (
        <>
          {" "}(the schedule node <code>{schedule.node}</code>)
        </>
      ) : (
        " (this trigger's own)"
      )}
    </p>
  );
}

/** Webhook URL and signing secret, cron schedule, form fields: the ways this workflow starts. */
export function TriggersDialog(props: { triggersUrl: string; workflowId: string; canManage: boolean; onClose: () => void }) {
  const { triggersUrl, workflowId, canManage, onClose } = props;
  const [triggers, setTriggers] = useState<Trigger[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [secret, setSecret] = useState<{ id: string; value: string } | null>(null);
  const [kind, setKind] = useState("webhook");
  const [cron, setCron] = useState("0 * * * *");
  const [timezone, setTimezone] = useState("UTC");
  // Whether a webhook demands a signature is its start node's config (every webhook trigger has a secret).
  const nodes = useEditor((s) => s.nodes);
  const [senderSecret, setSenderSecret] = useState<{ id: string; value: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const signatureRequired = (nodeId: string | null | undefined) => {
    const node = nodes.find((n) => n.id === nodeId);
    return Boolean(node && (node.data as { config?: JsonObject }).config?.require_signature);
  };
  // A workflow that starts with a schedule node runs that node's cron: its schedule trigger declares none.
  const scheduleNode = nodes.find((n) => (n.data as { type?: string }).type === "schedule");
  const scheduleConfig = (scheduleNode?.data as { config?: JsonObject } | undefined)?.config ?? {};

  const load = useCallback(() => {
    api("GET", `${triggersUrl}?workflow=${encodeURIComponent(workflowId)}`)
      .then((data) => setTriggers(unwrapList<Trigger>(data).filter((t) => !("workflow" in t) || (t as never)["workflow"] === workflowId)))
      .catch((e: Error) => setError(e.message));
  }, [triggersUrl, workflowId]);
  useEffect(load, [load]);

  async function create() {
    setError(null);
    // A form's fields, a webhook's settings and a schedule node's cron are the start node's config: only a
    // schedule on a manual start keeps its own.
    const body: JsonObject = { workflow: workflowId, kind };
    if (kind === "schedule" && !scheduleNode) body.config = { cron, timezone };
    try {
      const created = await api<Trigger>("POST", triggersUrl, body);
      if (created.signing_secret) setSecret({ id: created.id, value: created.signing_secret });
      load();
    } catch (e) {
      const err = e as Error & { problems?: { path: string; message: string }[] };
      setError([err.message, ...(err.problems ?? []).map((p) => `${p.path}: ${p.message}`)].join(" "));
    }
  }

  async function remove(trigger: Trigger) {
    try {
      await api("DELETE", `${triggersUrl}${trigger.id}/`);
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  // The sender's own secret (GitHub, Stripe, Slack, Standard Webhooks): write-only, never read back.
  async function saveSenderSecret(trigger: Trigger) {
    if (!senderSecret || senderSecret.id !== trigger.id) return;
    setError(null);
    try {
      await api("PATCH", `${triggersUrl}${trigger.id}/`, { signing_secret: senderSecret.value });
      setSenderSecret(null);
      setNotice("Signing secret saved.");
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  async function toggle(trigger: Trigger) {
    try {
      await api("PATCH", `${triggersUrl}${trigger.id}/`, { is_active: !trigger.is_active });
      load();
    } catch (e) {
      setError((e as Error).message);
    }
  }

  return (
    <Modal title="Triggers" onClose={onClose}>
      {error && <p className="cm-error">{error}</p>}
      {notice && <p className="cm-muted" role="status">{notice}</p>}
      {!triggers && !error && <p className="cm-muted">Loading…</p>}
      {triggers?.length === 0 && <p className="cm-muted">No trigger yet: this workflow runs only by hand or over the API.</p>}
      {triggers?.map((t) => {
        // A schedule with no cron beat can run (none on a manual start, or an expression in the node).
        const state = t.state === "schedule_unusable" ? { ...triggerState(t), label: "no usable schedule", tone: "failed" } : triggerState(t);
        return (
        <div key={t.id} className="cm-trigger" data-trigger-state={t.state ?? ""}>
          <div className="cm-row">
            <strong>{t.kind}</strong> {t.name && <span>{t.name}</span>}
            <span className={`cm-badge ${state.tone ? `cm-badge--${state.tone}` : ""}`} data-testid="trigger-state" title={state.detail}>
              {state.label}
            </span>
          </div>
          {state.detail && <p className="cm-muted cm-trigger__detail">{state.detail}</p>}
          {t.start_node && <p className="cm-muted cm-trigger__detail">Start node: <code>{t.start_node}</code></p>}
          {t.webhook_url && (
            <p>
              URL: <code className="cm-copy">{t.webhook_url}</code>
              {signatureRequired(t.start_node) ? " (signed calls only)" : " (unsigned)"}
            </p>
          )}
          {secret?.id === t.id && (
            <p className="cm-warning">
              Signing secret, shown once: <code className="cm-copy">{secret.value}</code>
            </p>
          )}
          {t.kind === "schedule" && <ScheduleLine trigger={t} />}
          {t.form_url && (
            <p>
              Form: <a href={t.form_url}>{t.form_url}</a>
            </p>
          )}
          {canManage && t.kind === "webhook" && (
            <div className="cm-row">
              <label className="cm-field">
                <span>Sender's signing secret (replaces the current one)</span>
                <input
                  className="cm-input"
                  type="password"
                  autoComplete="new-password"
                  value={senderSecret?.id === t.id ? senderSecret.value : ""}
                  onChange={(e) => setSenderSecret({ id: t.id, value: e.target.value })}
                />
              </label>
              <button
                type="button"
                className="cm-btn"
                disabled={!(senderSecret?.id === t.id && senderSecret.value)}
                onClick={() => void saveSenderSecret(t)}
              >
                Set secret
              </button>
            </div>
          )}
          {canManage && (
            <div className="cm-row">
              <button type="button" className="cm-btn" onClick={() => toggle(t)}>
                {t.is_active ? "Turn off" : "Turn on"}
              </button>
              <button type="button" className="cm-btn cm-btn--danger" onClick={() => remove(t)}>
                Delete
              </button>
            </div>
          )}
        </div>
        );
      })}
      {canManage && (
        <fieldset className="cm-fieldset">
          <legend>Add a trigger</legend>
          <label className="cm-field">
            <span>Kind</span>
            <select className="cm-input" value={kind} onChange={(e) => setKind(e.target.value)}>
              <option value="webhook">Webhook</option>
              <option value="schedule">Schedule (cron)</option>
              <option value="form">Form</option>
            </select>
          </label>
          {kind === "schedule" && scheduleNode && (
            <p className="cm-muted" data-testid="schedule-from-node">
              The cron and time zone are the config of the workflow's schedule start node <code>{scheduleNode.id}</code>
              {typeof scheduleConfig.cron === "string" && (
                <>
                  {" "}(<code>{scheduleConfig.cron}</code> in {String(scheduleConfig.timezone ?? "UTC")})
                </>
              )}
              ; saved versions run it.
            </p>
          )}
          {kind === "schedule" && !scheduleNode && (
            <>
              <label className="cm-field">
                <span>Cron (minute hour day month weekday)</span>
                <input className="cm-input" value={cron} onChange={(e) => setCron(e.target.value)} />
              </label>
              <label className="cm-field">
                <span>Time zone</span>
                <input className="cm-input" value={timezone} onChange={(e) => setTimezone(e.target.value)} />
              </label>
            </>
          )}
          {kind !== "schedule" && (
            <p className="cm-muted">
              {kind === "form"
                ? "The form's title, fields, labels and order are the config of the workflow's form start node."
                : "Signing and the response mode are the config of the workflow's webhook start node."}
            </p>
          )}
          <button type="button" className="cm-btn cm-btn--primary" onClick={create}>
            Add trigger
          </button>
        </fieldset>
      )}
      {!canManage && <p className="cm-muted">Organization admins manage triggers.</p>}
    </Modal>
  );
}
