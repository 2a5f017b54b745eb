import type { NodeRun } from "../types";

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** "ran 17 ms · waited 6.0 s" when the server reports the wait, else the run time alone ("17 ms"). */
export function formatTiming(run: Pick<NodeRun, "duration_ms" | "waited_ms"> & Partial<NodeRun>): string | null {
  if (run.duration_ms == null) return null;
  if (run.waited_ms == null) return formatDuration(run.duration_ms);
  const ran = `ran ${formatDuration(run.duration_ms)}`;
  return run.waited_ms > 0 ? `${ran} · waited ${formatWait(run.waited_ms)}` : ran;
}

/** A wait reads in tenths of a second at most: "6.0 s", not "6.00 s". */
function formatWait(ms: number): string {
  if (ms >= 1000 && ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return formatDuration(ms);
}

export function durationOf(started?: string | null, finished?: string | null): number | null {
  if (!started || !finished) return null;
  const ms = Date.parse(finished) - Date.parse(started);
  return Number.isFinite(ms) ? ms : null;
}

export function pretty(value: unknown): string {
  if (value === undefined) return "—";
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}
