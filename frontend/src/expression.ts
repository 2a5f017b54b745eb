/** Config strings may hold Jinja2 expressions; the editor marks them and previews simple paths. */

const EXPRESSION = /\{\{(.*?)\}\}|\{%.*?%\}/s;
const SIMPLE_PATH = /^\s*([A-Za-z_][\w]*(?:\.[\w]+)*)\s*$/;

export function isExpression(value: unknown): boolean {
  return typeof value === "string" && EXPRESSION.test(value);
}

function lookup(context: Record<string, unknown>, path: string): { found: boolean; value?: unknown } {
  let cursor: unknown = context;
  for (const key of path.split(".")) {
    if (cursor === null || typeof cursor !== "object" || !(key in (cursor as object))) return { found: false };
    cursor = (cursor as Record<string, unknown>)[key];
  }
  return { found: true, value: cursor };
}

/**
 * Render the `{{ a.b.c }}` parts of `template` against the last run's data. Filters and operators are
 * Jinja's job on the server: those parts are reported as not previewable rather than guessed.
 */
export function previewExpression(template: string, context: Record<string, unknown>): { text: string; complete: boolean } {
  let complete = true;
  const text = template.replace(/\{\{(.*?)\}\}/gs, (whole, inner: string) => {
    const path = SIMPLE_PATH.exec(inner);
    if (!path) {
      complete = false;
      return whole;
    }
    const hit = lookup(context, path[1]);
    if (!hit.found) {
      complete = false;
      return whole;
    }
    return typeof hit.value === "string" ? hit.value : JSON.stringify(hit.value);
  });
  return { text, complete };
}
