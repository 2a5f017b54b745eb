/** Prepare a node type's JSON Schema for @rjsf: untyped "any value" fields get a free-form editor. */
import type { JsonObject } from "./types";

export const ANY_VALUE_FIELD = "AnyValueField";
const TYPED_KEYS = ["type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items"];

function isUntyped(schema: unknown): boolean {
  return Boolean(schema) && typeof schema === "object" && !TYPED_KEYS.some((k) => k in (schema as JsonObject));
}

/** The uiSchema pointing every untyped property (at any depth of nested objects) at the any-value field. */
export function uiSchemaFor(schema: JsonObject): JsonObject {
  const ui: JsonObject = {};
  const properties = schema.properties as Record<string, JsonObject> | undefined;
  for (const [name, property] of Object.entries(properties ?? {})) {
    if (isUntyped(property)) ui[name] = { "ui:field": ANY_VALUE_FIELD };
    else if (property && typeof property === "object" && property.properties) ui[name] = uiSchemaFor(property);
  }
  const additional = schema.additionalProperties;
  if (schema.type === "object" && !properties && (additional === undefined || additional === true || isUntyped(additional))) {
    ui.additionalProperties = { "ui:field": ANY_VALUE_FIELD };
  }
  return ui;
}

/** Text typed into an any-value field: JSON when it parses as a number, boolean, null, list or object, else text. */
export function parseAnyValue(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  if (/^(-?\d|\[|\{(?!\{|%)|true$|false$|null$|")/.test(trimmed)) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return text;
    }
  }
  return text;
}

export function showAnyValue(value: unknown): string {
  if (value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The schema the form renders: `$schema` dropped (Ajv2020 knows the dialect) and free-form objects given an
 * explicit `additionalProperties: {}` (the same meaning as leaving it out), so @rjsf shows their keys and an
 * "Add" button instead of hiding them.
 */
export function formSchemaFor(schema: JsonObject): JsonObject {
  const { $schema: _ignored, ...rest } = schema;
  return openObjects(rest);
}

function openObjects(schema: JsonObject): JsonObject {
  const out: JsonObject = { ...schema };
  if (out.properties && typeof out.properties === "object") {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, JsonObject>).map(([k, v]) => [k, v && typeof v === "object" ? openObjects(v) : v]),
    );
  }
  if (out.type === "object" && !out.properties && (out.additionalProperties === undefined || out.additionalProperties === true)) {
    out.additionalProperties = {};
  }
  return out;
}
