import { useEffect } from "react";
import { useEditor } from "../store";

const VISIBLE_MS = 5000;

export function Toast() {
  const toast = useEditor((s) => s.toast);
  const notify = useEditor((s) => s.notify);
  useEffect(() => {
    if (!toast) return;
    const timer = window.setTimeout(() => notify(null), VISIBLE_MS);
    return () => window.clearTimeout(timer);
  }, [toast, notify]);
  if (!toast) return null;
  return (
    <div className={`cm-toast cm-toast--${toast.kind}`} role="status" data-testid="toast" onClick={() => notify(null)}>
      {toast.text}
    </div>
  );
}
