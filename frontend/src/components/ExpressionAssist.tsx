/**
 * Completion for expression fields: inside `{{ ... }}`, typing `trigger.`, `nodes.<id>.output.` or `vars.`
 * lists the keys found in the pins and the last run (debug.ts `completions`). Arrow keys move, Enter or Tab
 * takes one, Escape closes; a click takes one too.
 */
import { useRef, useState, type ReactNode } from "react";
import { applyCompletion, completions, type Completion } from "../debug";

interface Open {
  typed: string;
  items: Completion[];
  active: number;
}

type Field = HTMLInputElement | HTMLTextAreaElement;

function fieldOf(target: EventTarget | null): Field | null {
  const el = target as HTMLElement | null;
  return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA") ? (el as Field) : null;
}

export function ExpressionAssist(props: {
  context: Record<string, unknown> | null;
  /** Put this text in the field (as typing would). */
  onApply: (text: string) => void;
  children: ReactNode;
}) {
  const { context, onApply, children } = props;
  const [open, setOpen] = useState<Open | null>(null);
  const field = useRef<Field | null>(null);

  function update(target: EventTarget | null) {
    const el = fieldOf(target);
    if (!el || !context) return setOpen(null);
    field.current = el;
    const cursor = el.selectionStart ?? el.value.length;
    const found = completions(el.value.slice(0, cursor), context);
    setOpen(found && found.items.length ? { typed: found.typed, items: found.items.slice(0, 30), active: 0 } : null);
  }

  function take(item: Completion) {
    const el = field.current;
    if (!el || !open) return;
    const cursor = el.selectionStart ?? el.value.length;
    const next = applyCompletion(el.value, cursor, open.typed, item.path);
    setOpen(null);
    onApply(next.text);
    // After React has written the new value: the cursor goes after the inserted path, and the list for
    // what follows (e.g. `.` to go deeper) appears as the user types on.
    window.requestAnimationFrame(() => {
      el.focus();
      el.setSelectionRange(next.cursor, next.cursor);
    });
  }

  function onKeyDown(event: React.KeyboardEvent) {
    if (!open) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      setOpen({ ...open, active: (open.active + step + open.items.length) % open.items.length });
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      event.stopPropagation();
      take(open.items[open.active]);
    } else if (event.key === "Escape") {
      event.stopPropagation();
      setOpen(null);
    }
  }

  return (
    <div
      className="cm-assist"
      onKeyDownCapture={onKeyDown}
      onKeyUp={(e) => {
        if (!["ArrowDown", "ArrowUp", "Enter", "Tab", "Escape"].includes(e.key)) update(e.target);
      }}
      onClick={(e) => update(e.target)}
      onBlur={() => window.setTimeout(() => setOpen(null), 150)}
    >
      {children}
      {open && (
        <ul className="cm-complete" role="listbox" aria-label="Completions" data-testid="completions">
          {open.items.map((item, i) => (
            <li
              key={item.path}
              role="option"
              aria-selected={i === open.active}
              className={i === open.active ? "cm-complete__item cm-complete__item--on" : "cm-complete__item"}
              onMouseDown={(e) => {
                e.preventDefault(); // keep the focus (and the cursor) in the field
                take(item);
              }}
            >
              <span className="cm-complete__label">{item.label}</span>
              <span className="cm-complete__detail">{item.detail}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
