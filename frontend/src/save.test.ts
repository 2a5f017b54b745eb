import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { conflictOf, ifMatchHeader, saveOutcome } from "./save";

describe("saving", () => {
  it("sends the revision it was based on as If-Match, and nothing when it has none", () => {
    expect(ifMatchHeader(7)).toEqual({ "If-Match": '"7"' });
    expect(ifMatchHeader(null)).toEqual({});
    expect(ifMatchHeader(undefined)).toEqual({});
  });

  it("recognises a conflict answer", () => {
    const error = new ApiError(409, "Changed meanwhile.", [], { type: "conflict", detail: "Changed meanwhile.", current_revision: 9 });
    expect(conflictOf(error)).toEqual({ currentRevision: 9 });
    expect(conflictOf(new ApiError(409, "x", [], { type: "conflict" }))).toEqual({ currentRevision: null });
    expect(conflictOf(new ApiError(400, "x", [], null))).toBeNull();
    expect(conflictOf(new Error("x"))).toBeNull();
  });

  it("reads a draft: saved, with its problems", () => {
    const outcome = saveOutcome({
      latest_version: 3,
      revision: 4,
      is_valid: false,
      problems: [{ path: "/nodes/1/config/message", message: "required" }, { path: "/nodes/2/type", message: "unknown" }],
    });
    expect(outcome).toEqual({
      draft: true,
      problems: [{ path: "/nodes/1/config/message", message: "required" }, { path: "/nodes/2/type", message: "unknown" }],
      revision: 4,
      label: "Saved as draft — 2 problems",
    });
  });

  it("reads a valid save, and one from a server that sends neither problems nor a revision", () => {
    expect(saveOutcome({ latest_version: 3, revision: 5, is_valid: true, problems: [] })).toMatchObject({ draft: false, revision: 5, problems: [] });
    expect(saveOutcome({ latest_version: 3 })).toEqual({ draft: false, problems: [], revision: null, label: null });
    expect(saveOutcome({ is_valid: false, problems: [{ path: "", message: "no trigger" }] }).label).toBe("Saved as draft — 1 problem");
  });
});
