/** A small client of the REST API: session cookie + CSRF header, the one error shape, no retries. */
import type { Problem } from "./types";

export class ApiError extends Error {
  status: number;
  problems: Problem[];
  /** The parsed JSON body of the answer, when there was one (a 409 carries `current_revision`). */
  body: unknown;
  constructor(status: number, detail: string, problems: Problem[], body: unknown = null) {
    super(detail);
    this.status = status;
    this.problems = problems;
    this.body = body;
  }
}

let csrfToken = "";

export function setCsrfToken(token: string) {
  csrfToken = token;
}

function describe(status: number, body: unknown): ApiError {
  if (body && typeof body === "object") {
    const b = body as { detail?: unknown; errors?: unknown };
    const problems = Array.isArray(b.errors)
      ? (b.errors as Problem[]).map((e) => ({ path: String(e.path ?? ""), message: String(e.message ?? e) }))
      : [];
    const detail = typeof b.detail === "string" ? b.detail : `Request failed (${status})`;
    return new ApiError(status, detail, problems, body);
  }
  if (status === 404) return new ApiError(status, "Not found: this endpoint or object does not exist.", []);
  return new ApiError(status, `Request failed (${status})`, []);
}

export async function api<T = unknown>(
  method: string,
  url: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...extraHeaders };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, `Network error: ${(error as Error).message}`, []);
  }
  const text = await response.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) throw describe(response.status, parsed);
  return parsed as T;
}

/** Lists may come paginated ({results: [...]}) or bare. */
export function unwrapList<T>(data: unknown): T[] {
  if (Array.isArray(data)) return data as T[];
  if (data && typeof data === "object" && Array.isArray((data as { results?: unknown }).results)) {
    return (data as { results: T[] }).results;
  }
  return [];
}
