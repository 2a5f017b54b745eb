import { Handle, NodeToolbar, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useMemo, useRef } from "react";
import type { FlowNode } from "../definition";
import { portsOfDefNode } from "../ports";
import { useEditor } from "../store";
import { iconFor } from "./icons";
import { formatTiming } from "./format";
import { useNodeActions } from "./nodeActions";

const DIFF_LABEL = { added: "added", changed: "changed", moved: "moved" } as const;

function portTop(index: number, count: number): string {
  return `${((index + 1) * 100) / (count + 1)}%`;
}

/** One workflow node on the canvas: icon, id, type, run status and one handle per port. */
function WorkflowNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const nodeType = useEditor((s) => s.nodeTypes[data.type]);
  const ports = useMemo(
    () => portsOfDefNode({ id, type: data.type, config: data.config, ...data.extra }, nodeType ? { [data.type]: nodeType } : {}),
    [id, data, nodeType],
  );
  const run = useEditor((s) => s.runs[id]);
  const problems = useEditor((s) => s.problems.nodes[id]);
  const readOnly = useEditor((s) => s.readOnly);
  const pinned = useEditor((s) => id in s.pins);
  const diffMark = useEditor((s) => s.diffMarks[id]);
  const actions = useNodeActions();
  const updateInternals = useUpdateNodeInternals();
  const inputs = ports.inputs;
  const outputs = ports.outputs;
  const portKey = `${inputs.join(",")}|${outputs.join(",")}`;

  // React Flow caches handle positions: tell it when the ports change (switch cases, error port). Not on
  // mount: React Flow measures new nodes itself, and 200 extra measurements would stall opening big graphs.
  const shownPorts = useRef(portKey);
  useEffect(() => {
    if (shownPorts.current === portKey) return;
    shownPorts.current = portKey;
    updateInternals(id);
  }, [id, portKey, updateInternals]);

  const status = run?.status;
  const classes = ["cm-node"];
  if (selected) classes.push("cm-node--selected");
  if (status) classes.push(`cm-status--${status}`);
  if (problems?.length) classes.push("cm-node--invalid");
  if (!nodeType) classes.push("cm-node--unknown");
  if (pinned) classes.push("cm-node--pinned");
  if (diffMark) classes.push(`cm-node--diff-${diffMark}`);
  const height = Math.max(inputs.length, outputs.length, 1);

  return (
    <div
      className={classes.join(" ")}
      style={{ minHeight: 40 + height * 18 }}
      data-node-id={id}
      data-status={status ?? ""}
      data-pinned={pinned ? "true" : undefined}
      data-diff={diffMark}
    >
      {actions && (
        <NodeToolbar position={Position.Top} className="cm-node-toolbar" data-testid="node-toolbar">
          <button type="button" className="cm-btn cm-btn--small" onClick={() => actions.runNode(id)} title="Run this node alone (Shift+Enter)">
            <span aria-hidden>▶</span> Run node
          </button>
          <button type="button" className="cm-btn cm-btn--small" onClick={() => actions.runUpTo(id)} title="Run everything up to here (Ctrl+Shift+Enter)">
            <span aria-hidden>⏭</span> Run up to here
          </button>
          <button type="button" className="cm-btn cm-btn--small" onClick={() => actions.showPin(id)} title="Pin this node's output for test runs">
            <span aria-hidden>📌</span> Pin data
          </button>
        </NodeToolbar>
      )}
      {(pinned || diffMark) && (
        <div className="cm-node__marks">
          {pinned && (
            <span className="cm-node__pin" data-testid="pin-badge" title="Pinned: test runs use this output instead of running the node">
              📌 pinned
            </span>
          )}
          {diffMark && (
            <span className={`cm-node__diff cm-node__diff--${diffMark}`} data-testid="diff-badge">
              {DIFF_LABEL[diffMark]}
            </span>
          )}
        </div>
      )}
      {inputs.map((port, i) => (
        <Handle
          key={`in-${port}`}
          id={port}
          type="target"
          position={Position.Left}
          style={{ top: portTop(i, inputs.length) }}
          className="cm-handle"
          isConnectable={!readOnly}
          title={port}
        >
          {inputs.length > 1 && <span className="cm-port-label cm-port-label--in">{port}</span>}
        </Handle>
      ))}
      <div className="cm-node__head">
        <span className="cm-node__icon" aria-hidden>
          {iconFor(nodeType?.icon, data.type)}
        </span>
        <div className="cm-node__titles">
          <div className="cm-node__name">{id}</div>
          <div className="cm-node__type">{nodeType?.display_name ?? `${data.type} (unknown type)`}</div>
        </div>
      </div>
      {(status || problems?.length) && (
        <div className="cm-node__foot">
          {status && <span className={`cm-badge cm-badge--${status}`}>{status}</span>}
          {run && formatTiming(run) && (
            <span className="cm-node__duration" data-testid="node-timing">
              {formatTiming(run)}
            </span>
          )}
          {run?.attempt && run.attempt > 1 ? <span className="cm-node__duration">attempt {run.attempt}</span> : null}
          {problems?.length ? (
            <span className="cm-node__problem" title={problems.join("\n")}>
              ⚠ {problems.length}
            </span>
          ) : null}
        </div>
      )}
      {outputs.map((port, i) => (
        <Handle
          key={`out-${port}`}
          id={port}
          type="source"
          position={Position.Right}
          style={{ top: portTop(i, outputs.length) }}
          className={`cm-handle cm-handle--${port === "error" ? "error" : "out"}`}
          isConnectable={!readOnly}
          title={port}
        >
          {(outputs.length > 1 || port !== "main") && <span className="cm-port-label cm-port-label--out">{port}</span>}
        </Handle>
      ))}
    </div>
  );
}

export const WorkflowNode = memo(WorkflowNodeView);
/** Defined once, outside any component, as React Flow requires. */
export const NODE_TYPES = { workflow: WorkflowNode };
