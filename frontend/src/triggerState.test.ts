import { describe, expect, it } from "vitest";
import { triggerState } from "./components/triggerState";

describe("trigger state", () => {
  it("names each state the API reports, with its detail", () => {
    expect(triggerState({ state: "live", is_active: true })).toMatchObject({ label: "live", tone: "succeeded" });
    expect(triggerState({ state: "inactive", is_active: false })).toMatchObject({ label: "off", tone: "" });
    expect(
      triggerState({ state: "workflow_inactive", is_active: true, state_detail: "The workflow is not active." }),
    ).toEqual({ label: "waiting for the workflow", tone: "warning", detail: "The workflow is not active." });
    expect(triggerState({ state: "start_node_missing", is_active: true })).toMatchObject({ label: "no start node", tone: "failed" });
  });

  it("falls back to is_active when the API has no state yet", () => {
    expect(triggerState({ is_active: true })).toMatchObject({ label: "on", tone: "succeeded" });
    expect(triggerState({ is_active: false })).toMatchObject({ label: "off" });
  });
});
