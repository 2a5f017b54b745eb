/** Prepare a node type's JSON Schema for @rjsf: untyped "any value" fields get a free-form editor. */
import type { JsonObject } from "./types";

export const ANY_VALUE_FIELD = "AnyValueField";
const TYPED_KEYS = ["type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf", "properties", "items"];

/** A schema that accepts any value: no type at all, or several types (`["string", "object"]`). */
function isUntyped(schema: unknown): boolean {
  if (!schema || typeof schema !== "object") return false;
  const s = schema as JsonObject;
  if (Array.isArray(s.type) && s.type.length > 1) return !TYPED_KEYS.some((k) => k !== "type" && k in s);
  return !TYPED_KEYS.some((k) => k in s);
}

const ANY_ROWS_MIN = 3;
const ANY_ROWS_MAX = 12;

/** The label of an any-value field: its title, else its property name. */
export function anyValueLabel(name: string, schema: JsonObject): string {
  return typeof schema.title === "string" && schema.title ? schema.title : name;
}

/** A multi-line box, growing with its text up to a limit (it scrolls past that). */
export function anyValueRows(text: string): number {
  return Math.min(ANY_ROWS_MAX, Math.max(ANY_ROWS_MIN, text.split("\n").length));
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

/** Text for an any-value field: strings as typed, other values as JSON (objects and lists indented). */
export function showAnyValue(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return value !== null && typeof value === "object" ? JSON.stringify(value, null, 2) : JSON.stringify(value);
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
