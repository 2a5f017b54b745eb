import { describe, expect, it } from "vitest";
import { isExpression, previewExpression } from "./expression";

describe("expressions", () => {
  it("recognises Jinja expressions and statements", () => {
    expect(isExpression("Hello {{ trigger.name }}")).toBe(true);
    expect(isExpression("{% if x %}y{% endif %}")).toBe(true);
    expect(isExpression("plain text")).toBe(false);
    expect(isExpression(42)).toBe(false);
  });

  it("previews simple paths from the last run", () => {
    const ctx = { trigger: { name: "Ada" }, nodes: { greet: { output: { amount: 7 } } } };
    expect(previewExpression("Hi {{ trigger.name }}: {{ nodes.greet.output }}", ctx)).toEqual({
      text: 'Hi Ada: {"amount":7}',
      complete: true,
    });
  });

  it("leaves filters and unknown paths untouched and says so", () => {
    const out = previewExpression("{{ trigger.name | upper }} {{ trigger.missing }}", { trigger: { name: "x" } });
    expect(out).toEqual({ text: "{{ trigger.name | upper }} {{ trigger.missing }}", complete: false });
  });
});
