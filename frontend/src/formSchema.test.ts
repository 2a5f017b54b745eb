import { describe, expect, it } from "vitest";
import { ANY_VALUE_FIELD, anyValueLabel, anyValueRows, formSchemaFor, parseAnyValue, showAnyValue, uiSchemaFor } from "./formSchema";

describe("uiSchemaFor", () => {
  it("gives untyped properties the any-value field and leaves typed ones alone", () => {
    const ui = uiSchemaFor({
      type: "object",
      properties: {
        message: { description: "anything" },
        level: { enum: ["info"] },
        nested: { type: "object", properties: { value: {} } },
      },
    });
    expect(ui).toEqual({ message: { "ui:field": ANY_VALUE_FIELD }, nested: { value: { "ui:field": ANY_VALUE_FIELD } } });
  });

  it("treats a property allowing several types as any value", () => {
    const ui = uiSchemaFor({ type: "object", properties: { json: { type: ["string", "object", "array"] }, n: { type: ["number"] } } });
    expect(ui).toEqual({ json: { "ui:field": ANY_VALUE_FIELD } });
  });

  it("edits free-form object values as any value", () => {
    expect(uiSchemaFor({ type: "object", description: "keys" })).toEqual({
      additionalProperties: { "ui:field": ANY_VALUE_FIELD },
    });
  });
});

describe("parseAnyValue", () => {
  it("reads JSON scalars, lists and objects", () => {
    expect(parseAnyValue("42")).toBe(42);
    expect(parseAnyValue("true")).toBe(true);
    expect(parseAnyValue('{"a": 1}')).toEqual({ a: 1 });
    expect(parseAnyValue("[1, 2]")).toEqual([1, 2]);
  });

  it("keeps text and expressions as strings", () => {
    expect(parseAnyValue("hello")).toBe("hello");
    expect(parseAnyValue("{{ trigger.amount > 100 }}")).toBe("{{ trigger.amount > 100 }}");
    expect(parseAnyValue("{ not json")).toBe("{ not json");
    expect(parseAnyValue("")).toBeUndefined();
  });

  it("shows values back the way they are typed", () => {
    expect(showAnyValue("hi")).toBe("hi");
    expect(showAnyValue(42)).toBe("42");
    expect(showAnyValue(undefined)).toBe("");
  });
});

describe("formSchemaFor", () => {
  it("drops $schema and opens free-form objects at any depth, leaving closed ones closed", () => {
    const schema = formSchemaFor({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: { values: { type: "object" }, headers: { type: "object", additionalProperties: { type: "string" } } },
      additionalProperties: false,
    });
    expect(schema).toEqual({
      type: "object",
      properties: { values: { type: "object", additionalProperties: {} }, headers: { type: "object", additionalProperties: { type: "string" } } },
      additionalProperties: false,
    });
  });
});

describe("any-value fields", () => {
  it("are labelled with the property's title, else its name", () => {
    expect(anyValueLabel("condition", { title: "Condition" })).toBe("Condition");
    expect(anyValueLabel("json", { description: "JSON body" })).toBe("json");
    expect(anyValueLabel("", {})).toBe("");
  });

  it("are multi-line boxes, taller for longer text", () => {
    expect(anyValueRows("")).toBe(3);
    expect(anyValueRows("a\nb\nc\nd\ne")).toBe(5);
    expect(anyValueRows("x\n".repeat(40))).toBe(12);
  });

  it("show objects as indented JSON", () => {
    expect(showAnyValue({ a: 1, b: [1] })).toBe('{\n  "a": 1,\n  "b": [\n    1\n  ]\n}');
    expect(parseAnyValue(showAnyValue({ a: 1, b: [1] }))).toEqual({ a: 1, b: [1] });
  });
});
