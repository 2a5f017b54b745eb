/** Says that the page cannot change the workflow, and why (a viewer's rights, or an execution's record). */
export function ReadOnlyBadge({ reason }: { reason: string }) {
  return (
    <span className="cm-readonly" data-testid="read-only" title={reason}>
      <span className="cm-badge cm-badge--readonly">Read-only</span>
      <span className="cm-muted">{reason}</span>
    </span>
  );
}
