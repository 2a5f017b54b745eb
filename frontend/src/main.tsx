import "@xyflow/react/dist/style.css";
import "./styles.css";
import { ReactFlowProvider } from "@xyflow/react";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { setCsrfToken } from "./api";
import { useEditor } from "./store";
import { readConfig } from "./config";
import { EditorApp } from "./EditorApp";
import { ExecutionApp } from "./ExecutionApp";

const config = readConfig();
setCsrfToken(config.csrf_token);
// Load the graph before the first render so React Flow's initial fitView sees every node.
const initial = config.page === "execution" ? config.execution?.definition : config.workflow?.definition;
useEditor.getState().load(initial ?? null, { readOnly: config.page === "execution" || !config.user.can_edit });
const root = document.getElementById("editor-root");
if (!root) throw new Error("The page has no #editor-root element.");
createRoot(root).render(
  <StrictMode>
    <ReactFlowProvider>
      {config.page === "execution" ? <ExecutionApp config={config} /> : <EditorApp config={config} />}
    </ReactFlowProvider>
  </StrictMode>,
);
