import { describe, expect, it } from "vitest";
import { credentialForm, type CredentialKind } from "./dialogs/CredentialsDialog";

const oauth: CredentialKind = {
  name: "oauth2_authorization_code",
  label: "OAuth2 authorization code",
  description: "",
  secret_fields: ["access_token", "client_secret", "refresh_token"],
  schema: {
    type: "object",
    properties: {
      authorize_url: { type: "string" },
      client_id: { type: "string" },
      client_secret: { type: "string", writeOnly: true },
      access_token: { type: "string", writeOnly: true },
      refresh_token: { type: "string", writeOnly: true },
      expires_at: { type: "number" },
    },
    required: ["authorize_url", "client_id", "client_secret"],
    additionalProperties: false,
  },
};

describe("credentialForm", () => {
  it("shows secrets as password inputs and leaves out the fields the consent sets", () => {
    const { schema, uiSchema } = credentialForm(oauth);
    expect(Object.keys(schema.properties ?? {})).toEqual(["authorize_url", "client_id", "client_secret"]);
    expect(schema.required).toEqual(["authorize_url", "client_id", "client_secret"]);
    expect(uiSchema.client_secret["ui:widget"]).toBe("password");
    expect(uiSchema.client_id).toBeUndefined();
  });

  it("keeps every field of another kind", () => {
    const bearer: CredentialKind = {
      ...oauth,
      name: "bearer",
      schema: { type: "object", properties: { token: { type: "string", writeOnly: true } }, required: ["token"] },
    };
    expect(Object.keys(credentialForm(bearer).schema.properties ?? {})).toEqual(["token"]);
  });
});
