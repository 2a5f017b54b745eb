/** Keyboard shortcuts of the editor (listed in docs/editor.md) and the system clipboard's copy and paste. */
import { useEffect } from "react";
import { MSG_CLIPBOARD_NOT_NODES } from "./clipboard";
import { useEditor, type Toast } from "./store";

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
  /** Shift+Enter: run the selected node alone. */
  runNode?(): void;
  /** Ctrl/Cmd+Shift+Enter: run everything up to the selected node. */
  runUpTo?(): void;
  escape(): void;
  help(): void;
}

export function typing(target: EventTarget | null): boolean {
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
      if (mod && event.shiftKey && key === "enter" && handlers.runUpTo) {
        event.preventDefault();
        handlers.runUpTo();
        return;
      }
      if (mod && key === "enter") {
        event.preventDefault();
        handlers.run();
        return;
      }
      if (typing(event.target) || document.querySelector(".cm-modal")) return;
      if (!mod && !event.altKey && event.shiftKey && key === "enter" && handlers.runNode) {
        event.preventDefault();
        handlers.runNode();
        return;
      }
      // Copy and paste go through the browser's copy and paste events (useClipboardEvents): no preventDefault.
      if (mod && !event.shiftKey && key === "c") {
        handlers.copy();
        return;
      }
      if (mod && !event.shiftKey && key === "v") return;
      const action =
        mod && key === "z" && event.shiftKey ? handlers.redo
        : mod && key === "z" ? handlers.undo
        : mod && key === "y" ? handlers.redo
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

function plural(n: number): string {
  return `${n} node${n === 1 ? "" : "s"}`;
}

/**
 * Ctrl/Cmd+C and +V on the canvas: the selected nodes and the edges between them go to the system clipboard
 * as JSON (the `copy` event's clipboardData), and a paste takes them from any workflow or tab. Typing in a
 * field keeps the browser's own copy and paste. Without a paste payload, the editor's own clipboard is used.
 */
export function useClipboardEvents(notify: (toast: Toast | null) => void) {
  useEffect(() => {
    function onCopy(event: ClipboardEvent) {
      if (typing(event.target) || document.querySelector(".cm-modal")) return;
      if (window.getSelection()?.toString()) return; // text selected on the page: copy that
      const text = useEditor.getState().clipboardText();
      if (!text || !event.clipboardData) return;
      event.clipboardData.setData("text/plain", text);
      event.preventDefault();
      notify({ kind: "info", text: `Copied ${plural(JSON.parse(text).nodes.length)}.` });
    }
    function onPaste(event: ClipboardEvent) {
      if (typing(event.target) || document.querySelector(".cm-modal") || useEditor.getState().readOnly) return;
      const text = event.clipboardData?.getData("text/plain") ?? "";
      event.preventDefault();
      const store = useEditor.getState();
      const pasted = text.trim() ? store.pasteText(text) : store.paste();
      if (pasted < 0) notify({ kind: "error", text: MSG_CLIPBOARD_NOT_NODES });
      else if (pasted > 0) notify({ kind: "info", text: `Pasted ${plural(pasted)}.` });
    }
    document.addEventListener("copy", onCopy);
    document.addEventListener("paste", onPaste);
    return () => {
      document.removeEventListener("copy", onCopy);
      document.removeEventListener("paste", onPaste);
    };
  }, [notify]);
}

/** Also put the selection on the clipboard through the async API (a copy without a `copy` event). */
export function writeSelectionToClipboard(): number {
  const text = useEditor.getState().clipboardText();
  if (!text) return 0;
  void navigator.clipboard?.writeText(text).catch(() => undefined);
  return JSON.parse(text).nodes.length;
}
