import Form from "@rjsf/core";
import type { RJSFSchema, UiSchema } from "@rjsf/utils";
import { useEffect, useState } from "react";
import { api, ApiError, unwrapList } from "../api";
import { Modal } from "../components/Modal";
import { validator } from "../validator";

export interface CredentialKind {
  name: string;
  label: string;
  description: string;
  schema: RJSFSchema & { properties?: Record<string, { writeOnly?: boolean; description?: string }> };
  secret_fields: string[];
}

interface Credential {
  id: string;
  name: string;
  kind: string;
  fields_set: string[];
}

/** Fields the product fills in (an OAuth2 consent), not the user. */
const SET_BY_PRODUCT = new Set(["access_token", "refresh_token", "expires_at"]);

/** The kind's form: secrets as password inputs, the fields the product sets left out. */
export function credentialForm(kind: CredentialKind): { schema: RJSFSchema; uiSchema: UiSchema } {
  const properties: Record<string, unknown> = {};
  const uiSchema: UiSchema = {};
  for (const [name, prop] of Object.entries(kind.schema.properties ?? {})) {
    if (kind.name === "oauth2_authorization_code" && SET_BY_PRODUCT.has(name)) continue;
    properties[name] = prop;
    if (prop.writeOnly) uiSchema[name] = { "ui:widget": "password", "ui:help": "Secret: never shown again." };
  }
  const required = (kind.schema.required ?? []).filter((name) => name in properties);
  return { schema: { ...kind.schema, properties, required } as RJSFSchema, uiSchema };
}

/** The organization's credentials (names and kinds; secrets are never returned) and, for admins, a form per kind. */
export function CredentialsDialog(props: { organization: string | null; canManage: boolean; onClose: () => void }) {
  const { organization, canManage, onClose } = props;
  const [credentials, setCredentials] = useState<Credential[]>([]);
  const [kinds, setKinds] = useState<CredentialKind[]>([]);
  const [kindName, setKindName] = useState("");
  const [name, setName] = useState("");
  const [data, setData] = useState<Record<string, unknown>>({});
  const [error, setError] = useState<string | null>(null);

  function load() {
    const query = organization ? `?organization=${organization}` : "";
    api("GET", `/api/v1/credentials/${query}`)
      .then((answer) => setCredentials(unwrapList<Credential>(answer)))
      .catch((e: ApiError) => setError(e.message));
  }
  useEffect(() => {
    load();
    api<CredentialKind[]>("GET", "/api/v1/credential-kinds/")
      .then((answer) => setKinds(unwrapList<CredentialKind>(answer)))
      .catch((e: ApiError) => setError(e.message));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const kind = kinds.find((k) => k.name === kindName) ?? null;
  const form = kind ? credentialForm(kind) : null;

  function create(formData: Record<string, unknown>) {
    setError(null);
    const body = { organization, name, kind: kindName, data: formData };
    api("POST", "/api/v1/credentials/", body)
      .then(() => {
        setName("");
        setData({});
        setKindName("");
        load();
      })
      .catch((e: ApiError) => setError([e.message, ...e.problems.map((p) => `${p.path}: ${p.message}`)].join(" ")));
  }

  return (
    <Modal title="Credentials" onClose={onClose}>
      <ul className="cm-list" data-testid="credential-list">
        {credentials.map((c) => (
          <li key={c.id}>
            <strong>{c.name}</strong> <span className="cm-muted">{c.kind}</span>
            {c.kind === "oauth2_authorization_code" && canManage && (
              <>
                {" "}
                <a href={`/credentials/${c.id}/oauth2/connect/`} target="_blank" rel="noreferrer">
                  {c.fields_set.includes("access_token") ? "Reconnect" : "Connect"}
                </a>
              </>
            )}
          </li>
        ))}
        {credentials.length === 0 && <li className="cm-muted">No credentials yet.</li>}
      </ul>
      {canManage && (
        <>
          <h3>New credential</h3>
          <label>
            Name{" "}
            <input className="cm-input" value={name} onChange={(e) => setName(e.target.value)} aria-label="Name" />
          </label>{" "}
          <label>
            Kind{" "}
            <select
              className="cm-input"
              value={kindName}
              aria-label="Kind"
              onChange={(e) => {
                setKindName(e.target.value);
                setData({});
              }}
            >
              <option value="">—</option>
              {kinds.map((k) => (
                <option key={k.name} value={k.name}>
                  {k.label}
                </option>
              ))}
            </select>
          </label>
          {kind && <p className="cm-muted">{kind.description}</p>}
          {form && (
            <Form
              schema={form.schema}
              uiSchema={form.uiSchema}
              formData={data}
              validator={validator}
              onChange={(e) => setData((e.formData ?? {}) as Record<string, unknown>)}
              onSubmit={(e) => create((e.formData ?? {}) as Record<string, unknown>)}
            />
          )}
        </>
      )}
      {error && <p className="cm-error">{error}</p>}
    </Modal>
  );
}
