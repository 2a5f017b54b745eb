/** Shown while a version diff is marked on the canvas: which versions, what it marks, and a way to clear it. */
import { useEditor } from "../store";

export function DiffBanner() {
  const range = useEditor((s) => s.diffRange);
  const marks = useEditor((s) => s.diffMarks);
  const setDiffMarks = useEditor((s) => s.setDiffMarks);
  if (!range) return null;
  const counts = { added: 0, changed: 0, moved: 0 };
  for (const mark of Object.values(marks)) counts[mark] += 1;
  return (
    <div className="cm-diffbar" role="status" data-testid="diff-banner">
      <span>
        Changes from v{range.from} to v{range.to} marked on the canvas: {counts.changed} changed, {counts.added} added
        {counts.moved ? `, ${counts.moved} moved` : ""}.
      </span>
      <button type="button" className="cm-btn" onClick={() => setDiffMarks({}, null)}>
        Clear
      </button>
    </div>
  );
}
