import { useEffect, type ReactNode } from "react";

/** A small dialog; Escape or the backdrop closes it. */
export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="cm-modal__backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="cm-modal" role="dialog" aria-modal="true" aria-label={title}>
        <header className="cm-modal__head">
          <h3>{title}</h3>
          <button type="button" className="cm-btn cm-btn--ghost" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </header>
        <div className="cm-modal__body">{children}</div>
      </div>
    </div>
  );
}
