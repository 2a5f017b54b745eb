import { useEffect, useMemo, useState } from "react";
import { expressionContext, parsePinText } from "../debug";
import { TERMINAL, useRun } from "../live";
import { downloadUrl, fileRefs, formatSize } from "../files";
import { ON_ERROR_ROUTE } from "../ports";
import { useEditor, type SideTab } from "../store";
import type { JsonObject } from "../types";
import { ConfigForm } from "./ConfigForm";
import { formatTiming, pretty } from "./format";

type Tab = SideTab;

/**
 * The data an expression would see, as far as the editor knows it: pins, then the run shown on the
 * canvas (trigger data, node outputs), and the variables. Null before any run or pin.
 */
function usePreviewContext(): Record<string, unknown> | null {
  const runs = useEditor((s) => s.runs);
  const variables = useEditor((s) => s.variables);
  const pins = useEditor((s) => s.pins);
  const nodes = useEditor((s) => s.nodes);
  const edges = useEditor((s) => s.edges);
  const execution = useRun((s) => s.execution);
  return useMemo(() => {
    if (!execution && !Object.keys(pins).length) return null;
    return expressionContext({
      definition: useEditor.getState().definition(),
      pins,
      runs,
      executionInput: execution?.input ?? {},
      variables,
      executionId: execution?.id ?? null,
    });
    // nodes and edges: the start node (whose pin is the trigger) follows the graph
  }, [runs, variables, execution, pins, nodes, edges]);
}

/** The node's id, which expressions use (`nodes.<id>.output`); renaming rewrites those references. */
function NodeIdField({ nodeId, readOnly }: { nodeId: string; readOnly: boolean }) {
  const renameNode = useEditor((s) => s.renameNode);
  const [text, setText] = useState(nodeId);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText(nodeId);
    setError(null);
  }, [nodeId]);
  function apply() {
    const problem = renameNode(nodeId, text.trim());
    setError(problem);
  }
  return (
    <label className="cm-field">
      <span>Id (nodes.{nodeId}.output in expressions)</span>
      <input
        className="cm-input"
        value={text}
        disabled={readOnly}
        aria-label="Node id"
        onChange={(e) => setText(e.target.value)}
        onBlur={apply}
        onKeyDown={(e) => {
          if (e.key === "Enter") apply();
          if (e.key === "Escape") setText(nodeId);
        }}
      />
      {error && <span className="cm-error">{error}</span>}
    </label>
  );
}

function NodeSettings({ nodeId, extra, readOnly }: { nodeId: string; extra: JsonObject; readOnly: boolean }) {
  const updateExtra = useEditor((s) => s.updateExtra);
  const problems = useEditor((s) => s.problems.nodes[nodeId]);
  const retry = (extra.retry as JsonObject | undefined) ?? {};
  return (
    <div className="cm-settings">
      <NodeIdField nodeId={nodeId} readOnly={readOnly} />
      <label className="cm-field">
        <span>On error</span>
        <select
          className="cm-input"
          value={(extra.on_error as string) ?? "stop"}
          disabled={readOnly}
          onChange={(e) => updateExtra(nodeId, "on_error", e.target.value === "stop" ? undefined : e.target.value)}
        >
          <option value="stop">stop the execution</option>
          <option value="continue">continue with the next nodes</option>
          <option value={ON_ERROR_ROUTE}>route to the error port</option>
        </select>
      </label>
      <label className="cm-field">
        <span>Retry: max attempts</span>
        <input
          className="cm-input"
          type="number"
          min={1}
          disabled={readOnly}
          value={(retry.max_attempts as number | undefined) ?? ""}
          placeholder="1"
          onChange={(e) =>
            updateExtra(nodeId, "retry", e.target.value ? { ...retry, max_attempts: Number(e.target.value) } : undefined)
          }
        />
      </label>
      <label className="cm-field">
        <span>Timeout (seconds)</span>
        <input
          className="cm-input"
          type="number"
          min={1}
          disabled={readOnly}
          value={(extra.timeout_seconds as number | undefined) ?? ""}
          placeholder="node default"
          onChange={(e) => updateExtra(nodeId, "timeout_seconds", e.target.value ? Number(e.target.value) : undefined)}
        />
      </label>
      {problems?.length ? <ProblemList messages={problems} /> : null}
    </div>
  );
}

function ProblemList({ messages }: { messages: string[] }) {
  return (
    <ul className="cm-problems" role="alert">
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

/** What the node logged in the execution shown (REST list, then live lines). */
function NodeLogs({ nodeId }: { nodeId: string }) {
  const logs = useRun((s) => s.logs);
  const unavailable = useRun((s) => s.logsUnavailable);
  const lines = useMemo(() => logs.filter((line) => line.node_id === nodeId), [logs, nodeId]);
  if (unavailable) return null;
  return (
    <>
      <h4>Logs</h4>
      {lines.length === 0 ? (
        <p className="cm-muted" data-testid="node-logs-empty">
          Nothing logged.
        </p>
      ) : (
        <ol className="cm-logs" data-testid="node-logs">
          {lines.map((line) => (
            <li key={line.id} className={`cm-log cm-log--${line.level}`}>
              <span className="cm-log__level">{line.level}</span> <span className="cm-log__message">{line.message}</span>
              {line.metadata && Object.keys(line.metadata).length > 0 && (
                <code className="cm-log__meta">{JSON.stringify(line.metadata)}</code>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

/** The files the node took or made in the execution shown, each with its download link. */
function RunFiles({ data }: { data: unknown }) {
  const execution = useRun((s) => s.execution);
  const files = fileRefs(data);
  if (!execution || !files.length) return null;
  return (
    <>
      <h4>Files</h4>
      <ul className="cm-files" data-testid="node-files">
        {files.map((file) => (
          <li key={file.id}>
            <a href={downloadUrl(execution.id, file.id)} target="_blank" rel="noreferrer">
              {file.name}
            </a>{" "}
            <span className="cm-muted">
              {[file.contentType, formatSize(file.size)].filter(Boolean).join(", ")}
            </span>
          </li>
        ))}
      </ul>
    </>
  );
}

/** Re-run the shown execution from this node, on its version or the latest (a finished execution only). */
function RerunFromHere({ nodeId, actions }: { nodeId: string; actions?: NodeActions }) {
  const execution = useRun((s) => s.execution);
  if (!actions?.rerun || !execution || !TERMINAL.has(execution.status)) return null;
  const rerun = actions.rerun;
  return (
    <div className="cm-row" data-testid="rerun-from-here">
      <button type="button" className="cm-btn" onClick={() => rerun(execution.id, nodeId, "original")}>
        Re-run from here
      </button>
      <button type="button" className="cm-btn" onClick={() => rerun(execution.id, nodeId, "latest")}>
        Re-run from here on latest version
      </button>
    </div>
  );
}

function RunDetails({ nodeId, actions }: { nodeId: string; actions?: NodeActions }) {
  const run = useEditor((s) => s.runs[nodeId]);
  const pinned = useEditor((s) => nodeId in s.pins);
  if (!run)
    return (
      <>
        <p className="cm-muted">This node has not run in the execution shown.</p>
        <RerunFromHere nodeId={nodeId} actions={actions} />
      </>
    );
  return (
    <div className="cm-run-details">
      <p>
        <span className={`cm-badge cm-badge--${run.status}`}>{run.status}</span>
        {formatTiming(run) && <span className="cm-muted" data-testid="run-timing"> {formatTiming(run)}</span>}
        {run.attempt ? <span className="cm-muted"> · attempt {run.attempt}</span> : null}
      </p>
      {run.status === "waiting" && actions && (
        <div className="cm-row">
          <button type="button" className="cm-btn cm-btn--primary" onClick={() => actions.approve(nodeId)}>
            Approve
          </button>
          <button type="button" className="cm-btn cm-btn--danger" onClick={() => actions.reject(nodeId)}>
            Reject
          </button>
        </div>
      )}
      <h4>Input</h4>
      <pre className="cm-json" data-testid="node-input">{pretty(run.input)}</pre>
      <h4>Output</h4>
      <pre className="cm-json" data-testid="node-output">{pretty(run.output)}</pre>
      <RunFiles data={[run.input, run.output]} />
      {run.error != null && (
        <>
          <h4>Error</h4>
          <pre className="cm-json cm-json--error" data-testid="node-error">{pretty(run.error)}</pre>
        </>
      )}
      {actions?.pin && run.status === "succeeded" && run.output !== undefined && (
        <div className="cm-row">
          <button type="button" className="cm-btn" onClick={() => actions.pin!(nodeId, run.output)}>
            {pinned ? "Pin this output instead" : "Pin this output"}
          </button>
        </div>
      )}
      <RerunFromHere nodeId={nodeId} actions={actions} />
      <NodeLogs nodeId={nodeId} />
    </div>
  );
}

/** The node's pinned output: typed or pasted JSON (checked for validity only), pinned or unpinned. */
function PinEditor({ nodeId, actions, readOnly }: { nodeId: string; actions?: NodeActions; readOnly: boolean }) {
  const pins = useEditor((s) => s.pins);
  const pinned = nodeId in pins;
  const run = useEditor((s) => s.runs[nodeId]);
  const [text, setText] = useState(() => (pinned ? JSON.stringify(pins[nodeId], null, 2) : ""));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText(nodeId in pins ? JSON.stringify(pins[nodeId], null, 2) : "");
    setError(null);
  }, [nodeId, pins]);
  const canPin = !readOnly && !!actions?.pin;
  function pin() {
    const parsed = parsePinText(text);
    if (!parsed.ok) {
      setError(parsed.error);
      return;
    }
    setError(null);
    void actions!.pin!(nodeId, parsed.value);
  }
  return (
    <div className="cm-pin">
      <p className="cm-muted">
        {pinned
          ? "Pinned: test runs from the editor use this output instead of running the node. Production runs never do."
          : "Pin an output (JSON) and test runs from the editor use it instead of running the node."}
      </p>
      <textarea
        className="cm-input cm-code"
        rows={8}
        spellCheck={false}
        value={text}
        disabled={!canPin}
        aria-label="Pinned output (JSON)"
        placeholder='{"name": "Ada"}'
        onChange={(e) => {
          setText(e.target.value);
          const parsed = parsePinText(e.target.value);
          setError(parsed.ok || !e.target.value.trim() ? null : parsed.error);
        }}
      />
      {error && (
        <span className="cm-error" data-testid="pin-error">
          {error}
        </span>
      )}
      {canPin && (
        <div className="cm-row">
          <button type="button" className="cm-btn cm-btn--primary" onClick={pin} disabled={!text.trim()}>
            Pin
          </button>
          {run?.status === "succeeded" && run.output !== undefined && (
            <button type="button" className="cm-btn" onClick={() => setText(JSON.stringify(run.output, null, 2))}>
              Use the last run's output
            </button>
          )}
          {pinned && (
            <button type="button" className="cm-btn cm-btn--danger" onClick={() => void actions!.pin!(nodeId, undefined)}>
              Unpin
            </button>
          )}
        </div>
      )}
    </div>
  );
}

export const MSG_VARIABLES_NOT_OBJECT = "Variables must be a JSON object, like {\"threshold\": 100}.";

/** The workflow's variables (`vars.*` in expressions), edited as JSON and applied when it parses. */
function VariablesEditor({ readOnly }: { readOnly: boolean }) {
  const variables = useEditor((s) => s.variables);
  const setVariables = useEditor((s) => s.setVariables);
  const [text, setText] = useState(() => JSON.stringify(variables, null, 2));
  const [error, setError] = useState<string | null>(null);
  // Undo, redo and loading replace the variables: show what the store holds unless the text is mid-edit.
  useEffect(() => {
    setText((current) => {
      try {
        if (JSON.stringify(JSON.parse(current)) === JSON.stringify(variables)) return current;
      } catch {
        return current;
      }
      return JSON.stringify(variables, null, 2);
    });
  }, [variables]);
  function apply(value: string) {
    setText(value);
    let parsed: unknown;
    try {
      parsed = JSON.parse(value || "{}");
    } catch (e) {
      setError(`Not valid JSON: ${(e as Error).message}`);
      return;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      setError(MSG_VARIABLES_NOT_OBJECT);
      return;
    }
    setError(null);
    if (JSON.stringify(parsed) !== JSON.stringify(variables)) setVariables(parsed as JsonObject);
  }
  return (
    <label className="cm-field">
      <span>Variables (vars.* in expressions)</span>
      <textarea
        className="cm-input cm-code"
        rows={6}
        spellCheck={false}
        value={text}
        disabled={readOnly}
        readOnly={readOnly}
        aria-label="Workflow variables (JSON)"
        onChange={(e) => apply(e.target.value)}
      />
      {error && <span className="cm-error">{error}</span>}
    </label>
  );
}

export interface NodeActions {
  approve(nodeId: string): void;
  reject(nodeId: string): void;
  /** Pin `value` as the node's output (undefined: unpin). Editor only. */
  pin?(nodeId: string, value: unknown): Promise<boolean>;
  /** Re-run an execution from this node on its version or the latest. Editor only. */
  rerun?(executionId: string, from: string, version: "original" | "latest"): void;
}

/** The right-hand panel: the selected node's config form, engine settings and last run. */
export function SidePanel(props: {
  actions?: NodeActions;
  generalProblems: string[];
  /** The server's expression preview endpoint (editor only). */
  previewUrl?: string | null;
}) {
  const { actions, generalProblems, previewUrl = null } = props;
  const selectedId = useEditor((s) => s.selectedId);
  const node = useEditor((s) => s.nodes.find((n) => n.id === s.selectedId));
  const nodeType = useEditor((s) => (node ? s.nodeTypes[node.data.type] : undefined));
  const fieldProblems = useEditor((s) => (selectedId ? s.problems.fields[selectedId] : undefined));
  const nodeProblems = useEditor((s) => (selectedId ? s.problems.nodes[selectedId] : undefined));
  const readOnly = useEditor((s) => s.readOnly);
  const updateConfig = useEditor((s) => s.updateConfig);
  const preview = usePreviewContext();
  // Watching an execution, a node's run is what one wants first; editing, its config.
  const tab = useEditor((s) => s.sideTab);
  const setTab = useEditor((s) => s.setSideTab);
  useEffect(() => {
    if (useEditor.getState().readOnly) setTab("run");
  }, [setTab]);
  const shownTab: Tab = tab;

  if (!node) {
    return (
      <aside className="cm-side" aria-label="Details">
        <h3>Workflow</h3>
        <p className="cm-muted">
          {readOnly
            ? "Select a node to see its config and last run."
            : "Select a node to configure it. Drag node types from the palette onto the canvas."}
        </p>
        {generalProblems.length > 0 && <ProblemList messages={generalProblems} />}
        <VariablesEditor readOnly={readOnly} />
        {!readOnly && <p className="cm-muted cm-hint">Press ? for keyboard shortcuts.</p>}
      </aside>
    );
  }
  return (
    <aside className="cm-side" aria-label="Node details" data-selected-node={node.id}>
      <h3 className="cm-side__title">{node.id}</h3>
      <p className="cm-muted">
        {nodeType?.display_name ?? node.data.type} · <code>{node.data.type}</code>
      </p>
      {nodeType?.description && <p className="cm-side__desc">{nodeType.description}</p>}
      <div className="cm-tabs" role="tablist">
        {(["config", "settings", "run", "pin"] as Tab[]).map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            aria-selected={shownTab === t}
            className={shownTab === t ? "cm-tab cm-tab--on" : "cm-tab"}
            onClick={() => setTab(t)}
          >
            {t === "run" ? "Last run" : t === "pin" ? "Pinned data" : t[0].toUpperCase() + t.slice(1)}
          </button>
        ))}
      </div>
      {shownTab === "config" &&
        (nodeType ? (
          <>
            {nodeProblems?.length && !fieldProblems ? <ProblemList messages={nodeProblems} /> : null}
            <ConfigForm
              nodeId={node.id}
              schema={nodeType.config_schema}
              config={node.data.config}
              fieldProblems={fieldProblems}
              preview={preview}
              previewUrl={previewUrl}
              readOnly={readOnly}
              onChange={(config) => {
                if (JSON.stringify(config) !== JSON.stringify(node.data.config)) updateConfig(node.id, config);
              }}
            />
          </>
        ) : (
          <p className="cm-error">Unknown node type "{node.data.type}": it is not installed or was disabled.</p>
        ))}
      {shownTab === "settings" && <NodeSettings nodeId={node.id} extra={node.data.extra} readOnly={readOnly} />}
      {shownTab === "run" && <RunDetails nodeId={node.id} actions={actions} />}
      {shownTab === "pin" && <PinEditor nodeId={node.id} actions={actions} readOnly={readOnly} />}
    </aside>
  );
}
