import { useState } from "react";
import { Modal } from "../components/Modal";

const STORAGE_KEY = "concertmaster.run-input.";

/** Test input for a manual run: a JSON object, remembered per workflow in this browser. */
export function RunDialog(props: { workflowId: string; dirty: boolean; onRun: (input: unknown) => void; onClose: () => void }) {
  const { workflowId, dirty, onRun, onClose } = props;
  const [text, setText] = useState(() => localStorage.getItem(STORAGE_KEY + workflowId) ?? "{\n  \n}");
  const [error, setError] = useState<string | null>(null);
  function submit() {
    let input: unknown;
    try {
      input = text.trim() ? JSON.parse(text) : {};
    } catch (e) {
      setError(`Not valid JSON: ${(e as Error).message}`);
      return;
    }
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      setError("The test input must be a JSON object.");
      return;
    }
    localStorage.setItem(STORAGE_KEY + workflowId, text);
    onRun(input);
  }
  return (
    <Modal title="Run with test input" onClose={onClose}>
      <p className="cm-muted">The trigger receives this JSON object{dirty ? "; unsaved changes are saved first" : ""}.</p>
      <textarea
        className="cm-input cm-code"
        rows={10}
        spellCheck={false}
        value={text}
        aria-label="Test input (JSON)"
        onChange={(e) => {
          setText(e.target.value);
          setError(null);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit();
        }}
      />
      {error && <p className="cm-error">{error}</p>}
      <div className="cm-row cm-row--end">
        <button type="button" className="cm-btn" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="cm-btn cm-btn--primary" onClick={submit} data-testid="run-submit">
          {dirty ? "Save and run" : "Run"}
        </button>
      </div>
    </Modal>
  );
}
