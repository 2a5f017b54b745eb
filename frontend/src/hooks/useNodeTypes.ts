/** The installed node types, loaded once into the editor store; a message for the palette when there are none. */
import { useEffect, useState } from "react";
import { api, unwrapList } from "../api";
import { useEditor } from "../store";
import type { NodeTypeInfo } from "../types";

export function useNodeTypes(url: string): string | null {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<unknown>("GET", url)
      .then((data) => {
        const types = unwrapList<NodeTypeInfo>(data);
        useEditor.getState().setNodeTypes(types);
        if (!types.length) setError("No node types are installed.");
      })
      .catch((e: Error) => setError(`Could not load node types: ${e.message}`));
  }, [url]);
  return error;
}
