import { describe, expect, it } from "vitest";
import { ERR_ID_FORMAT, ERR_ID_TAKEN, idProblem, renameManyReferences, renameReferences } from "./rename";

describe("idProblem", () => {
  it("accepts identifier-like ids that are free", () => {
    expect(idProblem("fetch_orders", ["start"])).toBeNull();
    expect(idProblem("_x2", [])).toBeNull();
  });

  it("refuses ids that expressions could not name, and taken ones", () => {
    expect(idProblem("2fast", [])).toBe(ERR_ID_FORMAT);
    expect(idProblem("with-dash", [])).toBe(ERR_ID_FORMAT);
    expect(idProblem("", [])).toBe(ERR_ID_FORMAT);
    expect(idProblem("start", ["start"])).toBe(ERR_ID_TAKEN);
  });
});

describe("renameReferences", () => {
  it("rewrites references at any depth and leaves look-alikes alone", () => {
    const config = {
      message: "{{ nodes.greet.output.name }} and {{ nodes.greeting.output }}",
      list: ["{{ nodes.greet.output }}", 3],
      nested: { when: "{% if nodes.greet.output %}yes{% endif %}" },
    };
    expect(renameReferences(config, "greet", "hello")).toEqual({
      message: "{{ nodes.hello.output.name }} and {{ nodes.greeting.output }}",
      list: ["{{ nodes.hello.output }}", 3],
      nested: { when: "{% if nodes.hello.output %}yes{% endif %}" },
    });
  });
});

describe("renameManyReferences", () => {
  it("renames in one pass, so a chain of renames does not compound", () => {
    const renames = new Map([["log", "log_2"], ["log_2", "log_3"], ["keep", "keep"]]);
    expect(renameManyReferences({ a: "{{ nodes.log.output }} {{ nodes.log_2.output }} {{ nodes.keep.output }}" }, renames)).toEqual({
      a: "{{ nodes.log_2.output }} {{ nodes.log_3.output }} {{ nodes.keep.output }}",
    });
  });
});
