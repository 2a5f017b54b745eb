"""Building workflows from compact specs and waiting for executions, for engine tests."""

from __future__ import annotations

import itertools
import time
from typing import Any

from apps.executions.choices import EXECUTION_TERMINAL
from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from apps.executions.services import execution_start
from apps.workflows.models import Workflow
from apps.workflows.services import workflow_create
from tests.orgs.factories import OrganizationFactory

TRIGGER = {"id": "start", "type": "manual"}


def chain(*nodes: dict) -> tuple[list[dict], list[tuple]]:
    """A manual trigger followed by `nodes` in a line: (nodes, edges) for make_workflow."""
    ids = ["start", *(n["id"] for n in nodes)]
    return [TRIGGER, *nodes], list(itertools.pairwise(ids))


def definition(nodes: list[dict], edges: list[tuple], **extra: Any) -> dict:
    """Nodes as dicts ({"id", "type", ...}); edges as (source, target) or (source, target, source_port)."""
    return {
        "nodes": [{"config": {}, **node} for node in nodes],
        "edges": [{"source": e[0], "target": e[1], **({"source_port": e[2]} if len(e) > 2 else {})} for e in edges],
        **extra,
    }


def make_workflow(nodes: list[dict], edges: list[tuple], *, organization=None, **fields: Any) -> Workflow:
    extra = {"variables": fields.pop("variables")} if "variables" in fields else {}
    return workflow_from(definition(nodes, edges, **extra), organization=organization, **fields)


def workflow_from(spec: dict, *, organization=None, **fields: Any) -> Workflow:
    workflow = workflow_create(
        organization=organization or OrganizationFactory(),
        name=fields.pop("name", "engine test"),
        definition=spec,
    )
    for name, value in fields.items():
        setattr(workflow, name, value)
    if fields:
        workflow.save()
    return workflow


def start(workflow: Workflow, data: Any = None, **kwargs: Any) -> WorkflowExecution:
    return execution_start(workflow=workflow, trigger_data=data if data is not None else {}, **kwargs)


def wait_for(predicate, timeout: float = 15.0, poll: float = 0.02, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"Timed out after {timeout}s waiting for {message}")


def wait_finished(execution: WorkflowExecution, timeout: float = 15.0) -> WorkflowExecution:
    def finished():
        fresh = WorkflowExecution.objects.get(pk=execution.pk)
        return fresh if fresh.status in EXECUTION_TERMINAL else None

    return wait_for(finished, timeout, message=f"execution {execution.pk} to finish")


def wait_node(execution: WorkflowExecution, node_id: str, status: str, timeout: float = 15.0) -> NodeExecution:
    def reached():
        node = NodeExecution.objects.get(execution=execution, node_id=node_id)
        return node if node.status == status else None

    return wait_for(reached, timeout, message=f"node {node_id} to be {status}")


def statuses(execution: WorkflowExecution) -> dict[str, str]:
    return dict(NodeExecution.objects.filter(execution=execution).values_list("node_id", "status"))


def node(execution: WorkflowExecution, node_id: str) -> NodeExecution:
    return NodeExecution.objects.get(execution=execution, node_id=node_id)


def event_types(execution: WorkflowExecution, node_id: str | None = None) -> list[str]:
    events = ExecutionEvent.objects.filter(execution=execution).order_by("seq")
    if node_id is not None:
        events = events.filter(node_id=node_id)
    return list(events.values_list("type", flat=True))


def events(execution: WorkflowExecution) -> list[tuple[str, str]]:
    """(type, node_id) of every event, in sequence."""
    return list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("type", "node_id"))
