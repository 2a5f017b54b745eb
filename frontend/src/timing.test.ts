import { describe, expect, it } from "vitest";
import { formatTiming } from "./components/format";
import { runsFrom } from "./live";

describe("node timings", () => {
  it("show how long a node waited beside how long it ran", () => {
    expect(formatTiming({ status: "succeeded", duration_ms: 17, waited_ms: 6000 })).toBe("ran 17 ms · waited 6.0 s");
    expect(formatTiming({ status: "succeeded", duration_ms: 1250, waited_ms: 0 })).toBe("ran 1.25 s");
  });

  it("show the run time alone when the server sends no wait (older servers)", () => {
    expect(formatTiming({ status: "succeeded", duration_ms: 17 })).toBe("17 ms");
    expect(formatTiming({ status: "running" })).toBeNull();
  });

  it("are read from the REST rows and the live events", () => {
    const runs = runsFrom([{ node_id: "wait", status: "succeeded", duration_ms: 17, waited_ms: 6012 }]);
    expect(runs.wait).toMatchObject({ duration_ms: 17, waited_ms: 6012 });
    expect(runsFrom([{ node_id: "a", status: "succeeded", duration_ms: 3 }]).a.waited_ms).toBeUndefined();
  });
});
