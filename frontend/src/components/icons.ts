/**
 * Node type icons are names (lucide-style). The editor draws them as plain Unicode symbols from common
 * text fonts (no emoji, no icon font) to keep the bundle small and render the same everywhere.
 */
const SYMBOLS: Record<string, string> = {
  play: "▶",
  webhook: "⚡",
  zap: "⚡",
  clock: "◷",
  timer: "◷",
  calendar: "▦",
  form: "☰",
  "file-text": "≡",
  "file-spreadsheet": "▤",
  globe: "◍",
  mail: "✉",
  send: "➤",
  reply: "↩",
  split: "⋔",
  "git-branch": "⋔",
  shuffle: "⇄",
  filter: "▽",
  search: "⌕",
  sort: "⇅",
  sigma: "Σ",
  scissors: "✂",
  braces: "{}",
  code: "{}",
  edit: "✎",
  merge: "⋈",
  repeat: "↻",
  workflow: "⧉",
  "user-check": "✔",
  database: "⛁",
  "scroll-text": "☷",
  "message-square": "✉",
  github: "⌥",
  box: "□",
};

export function iconFor(name: string | undefined, fallbackText: string): string {
  if (name && SYMBOLS[name]) return SYMBOLS[name];
  return (fallbackText[0] ?? "?").toUpperCase();
}
