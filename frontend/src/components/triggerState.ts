/** How a trigger's state reads in the triggers dialog: the API's `state` when it has one, else `is_active`. */
export interface TriggerStateInfo {
  state?: "live" | "inactive" | "workflow_inactive" | "start_node_missing" | string;
  state_detail?: string;
  is_active: boolean;
}

const STATES: Record<string, { label: string; tone: string }> = {
  live: { label: "live", tone: "succeeded" },
  inactive: { label: "off", tone: "" },
  workflow_inactive: { label: "waiting for the workflow", tone: "warning" },
  start_node_missing: { label: "no start node", tone: "failed" },
};

export function triggerState(trigger: TriggerStateInfo): { label: string; tone: string; detail?: string } {
  const known = trigger.state ? STATES[trigger.state] : undefined;
  const base = known ?? (trigger.state ? { label: trigger.state, tone: "" } : trigger.is_active ? { label: "on", tone: "succeeded" } : STATES.inactive);
  return trigger.state_detail ? { ...base, detail: trigger.state_detail } : { ...base };
}
