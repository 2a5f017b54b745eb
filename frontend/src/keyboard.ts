/** Keyboard shortcuts of the editor (listed in docs/editor.md). */
import { useEffect } from "react";

export interface ShortcutHandlers {
  save(): void;
  undo(): void;
  redo(): void;
  copy(): void;
  paste(): void;
  duplicate(): void;
  selectAll(): void;
  layout(): void;
  fit(): void;
  run(): void;
  escape(): void;
  help(): void;
}

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el) return false;
  return el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName);
}

export function useShortcuts(handlers: ShortcutHandlers, enabled = true) {
  useEffect(() => {
    if (!enabled) return;
    function onKey(event: KeyboardEvent) {
      const mod = event.ctrlKey || event.metaKey;
      const key = event.key.toLowerCase();
      // Save works everywhere, even inside a form field; the rest leaves text editing alone.
      if (mod && key === "s") {
        event.preventDefault();
        handlers.save();
        return;
      }
      if (mod && key === "enter") {
        event.preventDefault();
        handlers.run();
        return;
      }
      if (typing(event.target) || document.querySelector(".cm-modal")) return;
      const action =
        mod && key === "z" && event.shiftKey ? handlers.redo
        : mod && key === "z" ? handlers.undo
        : mod && key === "y" ? handlers.redo
        : mod && key === "c" ? handlers.copy
        : mod && key === "v" ? handlers.paste
        : mod && key === "d" ? handlers.duplicate
        : mod && key === "a" ? handlers.selectAll
        : !mod && !event.altKey && key === "l" ? handlers.layout
        : !mod && !event.altKey && key === "f" ? handlers.fit
        : key === "escape" ? handlers.escape
        : event.key === "?" ? handlers.help
        : null;
      if (action) {
        event.preventDefault();
        action();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [handlers, enabled]);
}
