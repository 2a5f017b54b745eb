/** File references in a node's data: `{type: "file", id, name, content_type, size, ...}` (apps/nodes/files.py),
 * never the bytes. The last-run panel lists them with a download link. */

export interface FileRef {
  id: string;
  name: string;
  contentType: string;
  size: number | null;
}

const MAX_DEPTH = 20;

/** Every file reference in `value` (objects and lists walked, each file once, in the order met). */
export function fileRefs(value: unknown): FileRef[] {
  const found = new Map<string, FileRef>();
  const walk = (item: unknown, depth: number) => {
    if (depth > MAX_DEPTH || item === null || typeof item !== "object") return;
    if (Array.isArray(item)) {
      item.forEach((child) => walk(child, depth + 1));
      return;
    }
    const record = item as Record<string, unknown>;
    if (record.type === "file" && typeof record.id === "string" && typeof record.name === "string") {
      if (!found.has(record.id))
        found.set(record.id, {
          id: record.id,
          name: record.name,
          contentType: typeof record.content_type === "string" ? record.content_type : "",
          size: typeof record.size === "number" ? record.size : null,
        });
      return;
    }
    Object.values(record).forEach((child) => walk(child, depth + 1));
  };
  walk(value, 0);
  return [...found.values()];
}

/** The API's download address of a file of an execution (it answers with a short-lived link). */
export function downloadUrl(executionId: string, fileId: string): string {
  return `/api/v1/executions/${encodeURIComponent(executionId)}/files/${encodeURIComponent(fileId)}/download/`;
}

/** "12.3 kB" */
export function formatSize(size: number | null): string {
  if (size === null) return "";
  if (size < 1000) return `${size} B`;
  if (size < 1_000_000) return `${(size / 1000).toFixed(1)} kB`;
  return `${(size / 1_000_000).toFixed(1)} MB`;
}
