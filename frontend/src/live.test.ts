import { describe, expect, it } from "vitest";
import { runsFrom } from "./live";

describe("runsFrom", () => {
  it("reads the REST detail's node rows, keeping the latest attempt per node", () => {
    const runs = runsFrom([
      { node_id: "a", status: "failed", attempt: 1, started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01Z" },
      { node_id: "a", status: "succeeded", attempt: 2, output: { ok: true }, duration_ms: 12 },
      { node_id: "b", status: "skipped", attempt: 0 },
    ]);
    expect(runs.a).toMatchObject({ status: "succeeded", attempt: 2, output: { ok: true }, duration_ms: 12 });
    expect(runs.b.status).toBe("skipped");
  });

  it("computes a duration from timestamps when the row has none", () => {
    const runs = runsFrom([{ node_id: "a", status: "succeeded", started_at: "2026-01-01T00:00:00Z", finished_at: "2026-01-01T00:00:01.5Z" }]);
    expect(runs.a.duration_ms).toBe(1500);
  });

  it("reads the WebSocket snapshot's map of node id to status", () => {
    expect(runsFrom({ a: "running", b: "queued" })).toEqual({ a: { status: "running" }, b: { status: "queued" } });
  });

  it("returns nothing for nothing", () => {
    expect(runsFrom(null)).toEqual({});
    expect(runsFrom(undefined)).toEqual({});
  });
});
