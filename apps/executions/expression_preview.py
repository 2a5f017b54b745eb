"""Expression help while editing: render an expression server-side, in the engine's sandbox, over the data a test
run would see (pins, else the last run's outputs), and list the paths an expression field may complete.

Read-only: nothing is stored, no node runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.nodes.expressions import ExpressionError, render
from apps.orgs.variables import org_expression_context
from apps.workflows.graph import parse_definition
from apps.workflows.models import Workflow

from .debugging import last_run_outputs, latest_trigger_data, pinned_trigger_data
from .engine import plans

#: Paths listed at most, and how deep into a value they go.
MAX_COMPLETIONS = 500
MAX_DEPTH = 4
MSG_UNKNOWN_NODE = plans.MSG_UNKNOWN_NODE
MSG_DRAFT_UNREADABLE = "The working definition cannot be read as a graph; fix its problems first."


def preview_context(*, workflow: Workflow, node_id: str = "") -> tuple[dict, dict]:
    """(expression context, where each part came from) for the working definition; with `node_id`, `nodes` holds
    that node's ancestors only (what the engine lets it read)."""
    try:
        graph = parse_definition(workflow.definition)
    except ValueError as error:
        raise ValueError(MSG_DRAFT_UNREADABLE, "") from error
    if node_id and node_id not in graph.nodes:
        raise ValueError(MSG_UNKNOWN_NODE.format(node_id=node_id), "node")
    readable = plans.ancestors(graph, node_id) if node_id else set(graph.nodes) - {node_id}
    pins = workflow.pins or {}
    last = last_run_outputs(workflow=workflow, node_ids=[other for other in readable if other not in pins])
    nodes, sources = {}, {}
    for other in sorted(readable):
        if other in pins:
            nodes[other], sources[other] = {"output": pins[other]}, "pin"
        elif other in last:
            nodes[other], sources[other] = {"output": last[other][1].output}, "last_run"
    trigger = pinned_trigger_data(graph, pins)
    trigger_source = "pin" if trigger is not None else "last_run"
    if trigger is None:
        trigger = latest_trigger_data(workflow=workflow)
    context = {
        "trigger": trigger,
        "nodes": nodes,
        "vars": dict(workflow.definition.get("variables") or {}),
        "org": org_expression_context(workflow.organization_id),
        "execution": {
            "id": None,
            "workflow_id": str(workflow.pk),
            "started_at": None,
            "trigger_kind": "manual",
            "attempt": 1,
        },
    }
    return context, {"trigger": trigger_source, "nodes": sources}


def preview(*, workflow: Workflow, expression: str, node_id: str = "") -> dict:
    """The rendered value (or the error the run would hit), the completions and where the data came from."""
    context, sources = preview_context(workflow=workflow, node_id=node_id)
    try:
        value, error = render(expression, context), None
    except ExpressionError as exc:
        value, error = None, exc.message
    return {"value": value, "error": error, "completions": completions(context), "sources": sources}


def completions(context: Mapping[str, Any]) -> list[str]:
    """`trigger.…`, `nodes.<id>.output.…`, `vars.…` and `org.vars.…` paths of the context, shallow first, bounded."""
    found: list[str] = []
    _walk("trigger", context.get("trigger"), 0, found)
    for node_id, node in context.get("nodes", {}).items():
        _walk(f"nodes.{node_id}.output", node.get("output"), 0, found)
    _walk("vars", context.get("vars"), 0, found)
    _walk("org.vars", (context.get("org") or {}).get("vars"), 0, found)
    return found[:MAX_COMPLETIONS]


def _walk(path: str, value: Any, depth: int, found: list[str]) -> None:
    if len(found) >= MAX_COMPLETIONS:
        return
    found.append(path)
    if depth >= MAX_DEPTH:
        return
    if isinstance(value, Mapping):
        for key, child in value.items():
            step = f"{path}.{key}" if str(key).isidentifier() else f"{path}[{key!r}]"
            _walk(step, child, depth + 1, found)
    elif isinstance(value, list) and value:
        _walk(f"{path}[0]", value[0], depth + 1, found)
