"""Child executions. A node that suspends with kind "children" (foreach, sub_workflow) asks for one child
execution per entry of `data["children"]` ({"workflow_id", "input"}), at most `data["concurrency"]` at a
time. Each child links to its parent execution and node. When a child finishes, a task re-checks the
parent node: it starts the next children, and once all have finished it runs the node again with
`ctx.resume = {"results": [{"status", "output", "error"}, ...]}` in the order asked.

Children do not count against their workflow's `max_concurrent_executions`: the parent node's own
concurrency bounds them, and counting them could deadlock a workflow that runs itself as a child.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.workflows.models import Workflow

from ..choices import EXECUTION_TERMINAL, ExecutionStatus, NodeStatus
from ..models import NodeExecution, WorkflowExecution
from .flow import queue_node
from .lifecycle import begin_execution, create_execution
from .unit import SUSPEND_CHILDREN, Unit, locked

MSG_CHILDREN_NOT_LIST = 'Suspend(kind="children") needs data["children"]: a list of {"workflow_id", "input"}.'
MSG_CHILD_WORKFLOW_MISSING = "No workflow {id} in this organization to run as a child."
MSG_CHILD_WORKFLOW_EMPTY = "The workflow {id} has no saved version to run."


def _specs(data: dict) -> list[dict] | None:
    children = data.get("children")
    if not isinstance(children, list) or not all(isinstance(c, dict) and c.get("workflow_id") for c in children):
        return None
    return children


def _workflows(organization_id: Any, ids: set[str]) -> dict[str, Workflow]:
    found = Workflow.objects.filter(organization_id=organization_id, pk__in=ids)
    return {str(workflow.pk): workflow for workflow in found}


def children_problem(unit: Unit, data: dict) -> str | None:
    """Why the children asked for cannot start (a message for the node's error), or None."""
    specs = _specs(data)
    if specs is None:
        return MSG_CHILDREN_NOT_LIST
    ids = {str(spec["workflow_id"]) for spec in specs}
    try:
        workflows = _workflows(unit.execution.organization_id, ids)
    except Exception:  # a malformed id (not a UUID) is just a missing workflow
        workflows = {}
    for workflow_id in sorted(ids):
        workflow = workflows.get(workflow_id)
        if workflow is None:
            return MSG_CHILD_WORKFLOW_MISSING.format(id=workflow_id)
        if workflow.latest_version is None:
            return MSG_CHILD_WORKFLOW_EMPTY.format(id=workflow_id)
    return None


def start_children(unit: Unit, node: NodeExecution) -> None:
    """Begin the wait: start the first children (the node is `waiting` already)."""
    data = node.state["suspend"]["data"]
    node.state["children"] = {"ids": [], "concurrency": max(1, int(data.get("concurrency") or 1))}
    progress(unit, node)


def progress(unit: Unit, node: NodeExecution) -> None:
    """Start children while slots are free; resume the node once every child has finished."""
    specs = _specs(node.state["suspend"]["data"]) or []
    bookkeeping = node.state["children"]
    ids: list[str] = bookkeeping["ids"]
    rows = WorkflowExecution.objects.filter(pk__in=ids).values_list("pk", "status")
    statuses = {str(pk): status for pk, status in rows}
    running = sum(1 for child_id in ids if statuses.get(child_id) not in EXECUTION_TERMINAL)
    if unit.execution.status == ExecutionStatus.RUNNING and not unit.execution.error:
        free = bookkeeping["concurrency"] - running
        pending = specs[len(ids) : len(ids) + max(free, 0)]
        workflows = _workflows(unit.execution.organization_id, {str(spec["workflow_id"]) for spec in pending})
        for spec in pending:
            child = _start_child(unit, node, workflows[str(spec["workflow_id"])], spec.get("input"))
            ids.append(str(child.pk))
            running += 1
    if len(ids) == len(specs) and running == 0:
        node.state["resume"] = {"results": _results(ids)}
        queue_node(unit, node, reason="children_finished")
        return
    node.wake_at = timezone.now() + timedelta(seconds=settings.CONCERTMASTER_ENGINE_CHILDREN_RECHECK_SECONDS)
    unit.save_node(node, ["state", "wake_at", "updated_at"])


def _start_child(unit: Unit, node: NodeExecution, workflow: Workflow, child_input: Any) -> WorkflowExecution:
    parent = unit.execution
    child = create_execution(
        workflow=workflow,
        version=workflow.latest_version,  # type: ignore[arg-type]  # a child starts only a workflow that has one
        input=child_input,
        trigger_kind=parent.trigger_kind,
        triggered_by=parent.triggered_by,
        parent=parent,
        parent_node_id=node.node_id,
        correlation_id=parent.correlation_id,
    )
    # The child row was inserted by this transaction: no other one can see it, so no lock is needed.
    child_unit = Unit(execution=child)
    begin_execution(child_unit)
    child_unit.flush()
    return child


def _results(ids: list[str]) -> list[dict]:
    rows = {
        str(pk): {"status": status, "output": output, "error": error}
        for pk, status, output, error in WorkflowExecution.objects.filter(pk__in=ids).values_list(
            "pk", "status", "output", "error"
        )
    }
    missing = {"status": ExecutionStatus.CANCELLED, "output": None, "error": None}  # pruned meanwhile
    return [rows.get(child_id, missing) for child_id in ids]


def children_changed(parent_id: str, node_id: str) -> None:
    """A child of (parent, node) finished: move the parent node's wait on."""
    with locked(parent_id) as unit:
        node = NodeExecution.objects.filter(execution_id=parent_id, node_id=node_id).first()  # type: ignore[misc]  # str id
        if node is None or node.status != NodeStatus.WAITING:
            return
        if node.state.get("suspend", {}).get("kind") != SUSPEND_CHILDREN or unit.execution.status in EXECUTION_TERMINAL:
            return
        progress(unit, node)
