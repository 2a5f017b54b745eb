/** What a node's toolbar on the canvas can do, given by the editor page (absent on read-only pages). */
import { createContext, useContext } from "react";

export interface CanvasNodeActions {
  runNode(nodeId: string): void;
  runUpTo(nodeId: string): void;
  /** Open the node's pinned data in the side panel. */
  showPin(nodeId: string): void;
}

export const NodeActionsContext = createContext<CanvasNodeActions | null>(null);

export function useNodeActions(): CanvasNodeActions | null {
  return useContext(NodeActionsContext);
}
