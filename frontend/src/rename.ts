/** Renaming a node: the rules for an id, and rewriting expressions that refer to the old one. */
import type { JsonObject } from "./types";

/** Ids usable in expressions (`nodes.<id>.output`): a letter or underscore, then letters, digits, underscores. */
export const NODE_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,99}$/;
export const ERR_ID_FORMAT = "An id starts with a letter or _ and has only letters, digits and _ (at most 100).";
export const ERR_ID_TAKEN = "Another node already has this id.";

export function idProblem(id: string, taken: Iterable<string>): string | null {
  if (!NODE_ID_PATTERN.test(id)) return ERR_ID_FORMAT;
  for (const other of taken) if (other === id) return ERR_ID_TAKEN;
  return null;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** `value` with every `nodes.<from>` reference (inside strings, at any depth) turned into `nodes.<to>`. */
export function renameReferences<T>(value: T, from: string, to: string): T {
  return renameManyReferences(value, new Map([[from, to]]));
}

/** The same for several renames at once, in one pass (so `a -> b, b -> c` never turns `a` into `c`). */
export function renameManyReferences<T>(value: T, renames: Map<string, string>): T {
  const changed = [...renames].filter(([from, to]) => from !== to);
  if (!changed.length) return value;
  const names = new Map(changed);
  const pattern = new RegExp(`\\bnodes\\.(${changed.map(([from]) => escapeRegExp(from)).join("|")})\\b`, "g");
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return v.replace(pattern, (_whole, from: string) => `nodes.${names.get(from)}`);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v as JsonObject).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
