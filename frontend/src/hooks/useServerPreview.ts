/**
 * The server's rendering of an expression field (`POST /workflows/<id>/expressions/preview/`): the value a test
 * run would produce in the engine's sandbox over pins and last-run data, the error it would hit, and the data
 * paths to complete. Debounced while typing; a server without the endpoint (404) is not asked again.
 */
import { useEffect, useState } from "react";
import { api, ApiError } from "../api";
import { isExpression } from "../expression";

export interface ServerPreview {
  value: unknown;
  error: string | null;
  completions: string[];
  sources?: unknown;
}

const DEBOUNCE_MS = 300;
let unavailable = false;

export function useServerPreview(url: string | null, expression: unknown, nodeId: string): ServerPreview | null {
  const [result, setResult] = useState<ServerPreview | null>(null);
  const key = JSON.stringify(expression ?? null);
  useEffect(() => {
    if (!url || unavailable || !isExpression(expression)) {
      setResult(null);
      return;
    }
    let current = true;
    const timer = window.setTimeout(() => {
      api<ServerPreview>("POST", url, { expression, node: nodeId })
        .then((answer) => {
          if (current) setResult(answer);
        })
        .catch((e: unknown) => {
          if (e instanceof ApiError && (e.status === 404 || e.status === 405)) unavailable = true;
          if (current) setResult(null);
        });
    }, DEBOUNCE_MS);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [url, key, nodeId]); // `key` stands for `expression` (a new object each render)
  return result;
}
