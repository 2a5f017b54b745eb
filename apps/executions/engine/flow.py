"""How an execution moves on inside a unit: queue nodes, ask the scheduler what is next (skip dead branches,
queue ready nodes), finish, halt after a failure, cancel (with its child executions)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db.models import Case, CharField, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.workflows.models import Workflow

from .. import metrics
from ..choices import EXECUTION_TERMINAL, ExecutionStatus, NodeStatus
from ..models import NodeExecution, WorkflowExecution
from . import event_data, sending, transitions
from . import scheduler as sched
from .event_data import EventType
from .unit import ACTIVE_EXECUTION, SUSPEND_CHILDREN, Unit, locked, new_task_id, set_node_status


def queue_node(unit: Unit, node: NodeExecution, *, reason: str = "") -> None:
    """Queue `node` and send its task on commit; while the execution is paused it goes back to pending."""
    node.wake_at = None
    unit.remember(node)
    if unit.execution.error:  # the execution is stopping after a failure: nothing new may start
        set_node_status(node, NodeStatus.CANCELLED)
        node.finished_at = timezone.now()
        unit.save_node(node, ["status", "wake_at", "state", "finished_at", "updated_at"])
        return
    if unit.execution.status != ExecutionStatus.RUNNING:
        set_node_status(node, NodeStatus.PENDING)
        unit.save_node(node, ["status", "wake_at", "state", "updated_at"])
        return
    set_node_status(node, NodeStatus.QUEUED)
    node.task_id = new_task_id()
    node.lease_expires_at = timezone.now() + timedelta(seconds=settings.CONCERTMASTER_ENGINE_REDISPATCH_SECONDS)
    unit.save_node(node, ["status", "task_id", "lease_expires_at", "wake_at", "state", "updated_at"])
    unit.event(EventType.NODE_QUEUED, node.node_id, **event_data.node_queued(reason=reason))
    unit.dispatch(node)


def _queue_many(unit: Unit, node_ids: tuple[str, ...]) -> None:
    nodes = [cast(NodeExecution, unit.node(node_id)) for node_id in node_ids]  # the unit holds every node
    now = timezone.now()
    lease = now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_REDISPATCH_SECONDS)
    for node in nodes:
        set_node_status(node, NodeStatus.QUEUED)
        node.task_id = new_task_id()
        node.lease_expires_at = lease
        node.wake_at = None
        node.updated_at = now
        unit.event(EventType.NODE_QUEUED, node.node_id, **event_data.node_queued())
        unit.dispatch(node)
    # One UPDATE in which only the task id differs per node (bulk_update would build a CASE for every field).
    if len(nodes) == 1:
        task_id: Any = nodes[0].task_id
    else:
        task_id = Case(*(When(pk=node.pk, then=Value(node.task_id)) for node in nodes), output_field=CharField())
    unit.update_nodes(
        [node.pk for node in nodes],
        status=NodeStatus.QUEUED,
        task_id=task_id,
        lease_expires_at=lease,
        wake_at=None,
        updated_at=now,
        queued_at=Coalesce(F("queued_at"), Value(now)),  # first queued: a node sent back by a pause keeps it
    )


def node_states(unit: Unit) -> dict[str, sched.NodeState]:
    return {node_id: unit.state_of(node_id) for node_id in unit.node_ids()}


def advance(unit: Unit) -> None:
    """Ask the scheduler what is next: skip dead branches, queue ready nodes, finish when nothing is left."""
    execution = unit.execution
    if execution.status not in ACTIVE_EXECUTION:
        return
    compiled = unit.graph
    step = sched.next_step(compiled.graph, compiled.order, node_states(unit))
    if step.skipped:
        now = timezone.now()
        unit.update_nodes(
            [cast(NodeExecution, unit.node(node_id)).pk for node_id in step.skipped],
            status=NodeStatus.SKIPPED,
            finished_at=now,
        )
        for node_id in step.skipped:
            node = cast(NodeExecution, unit.node(node_id))
            node.status = NodeStatus.SKIPPED
            node.finished_at = now
            unit.event(EventType.NODE_SKIPPED, node_id)
    if step.ready and execution.status == ExecutionStatus.RUNNING and not execution.error:
        _queue_many(unit, step.ready)
    if step.finished:
        finish_execution(unit, ExecutionStatus.FAILED if execution.error else ExecutionStatus.SUCCEEDED)


def finish_execution(unit: Unit, status: str) -> None:
    """running/paused -> succeeded/failed: store the output, notify a parent, free a concurrency slot."""
    execution = unit.execution
    transitions.check_execution(execution.status, status)
    execution.status = status
    execution.finished_at = timezone.now()
    fields = ["status", "finished_at", "updated_at"]
    if status == ExecutionStatus.SUCCEEDED:
        execution.output = _execution_output(unit)
        fields.append("output")
    execution.save(update_fields=fields)
    kind = EventType.EXECUTION_SUCCEEDED if status == ExecutionStatus.SUCCEEDED else EventType.EXECUTION_FAILED
    unit.event(kind, **({"error": execution.error} if execution.error else {}))
    after_finish(unit)


def after_finish(unit: Unit) -> None:
    """What every terminal execution triggers on commit: metrics, its parent's wake-up, the next queued run."""
    execution = unit.execution
    finished_at = cast(datetime, execution.finished_at)  # set by every path to a terminal status
    seconds = (finished_at - execution.started_at).total_seconds() if execution.started_at else None
    status = execution.status
    unit.after_commit.append(lambda: metrics.observe_execution_finished(status=status, seconds=seconds))
    if execution.parent_id:
        parent_id, node_id = str(execution.parent_id), execution.parent_node_id
        unit.after_commit.append(lambda: sending.task(sending.CHILDREN_CHANGED).delay(parent_id, node_id))
    limited = Workflow.objects.filter(pk=execution.workflow_id, max_concurrent_executions__gt=0)
    if execution.parent_id is None and limited.exists():
        workflow_id = str(execution.workflow_id)
        unit.after_commit.append(lambda: sending.task(sending.START_QUEUED).delay(workflow_id))


def _execution_output(unit: Unit) -> Any:
    graph = unit.graph.graph
    if unit.execution.run_node_id:  # a partial run: what its node produced
        return unit.nodes().filter(node_id=unit.execution.run_node_id).values_list("output", flat=True).first()
    leaves = [node_id for node_id in graph.nodes if not graph.outbound[node_id]]
    rows = (
        unit.nodes().filter(node_id__in=leaves, status=NodeStatus.SUCCEEDED).values_list("node_id", "ports", "output")
    )
    return sched.leaf_output(graph, {node_id: (ports, output) for node_id, ports, output in rows})


def halt(unit: Unit, error: dict) -> None:
    """A failure stops the execution: keep the first error, cancel everything not yet running.

    Running nodes finish (a thread cannot be stopped safely); the execution fails once they have.
    """
    execution = unit.execution
    if not execution.error:
        execution.error = error
        execution.save(update_fields=["error", "updated_at"])
    cancel_open_nodes(unit, include_running=False)


def cancel_open_nodes(unit: Unit, *, include_running: bool) -> list[str]:
    """Mark unfinished nodes cancelled, revoke their tasks and cancel their child executions."""
    statuses = [NodeStatus.PENDING, NodeStatus.QUEUED, NodeStatus.RETRYING, NodeStatus.WAITING]
    if include_running:
        statuses.append(NodeStatus.RUNNING)
    nodes = list(unit.nodes().filter(status__in=statuses))
    now = timezone.now()
    for node in nodes:
        if node.task_id and node.status in (NodeStatus.QUEUED, NodeStatus.RUNNING):
            unit.revokes.append(node.task_id)
        if node.state.get("suspend", {}).get("kind") == SUSPEND_CHILDREN:
            cancel_children(node)
        set_node_status(node, NodeStatus.CANCELLED)
        node.finished_at = now
        node.lease_expires_at = None
        node.wake_at = None
        node.updated_at = now
    unit.save_nodes(nodes, ["status", "finished_at", "lease_expires_at", "wake_at", "updated_at"])
    return [node.node_id for node in nodes]


def retry_delay(retry: dict, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: exponential, capped, with "equal jitter".

    Equal jitter (half fixed, half random) spreads simultaneous retries without ever retrying at once;
    Celery's helper takes whole seconds only and its full jitter may pick zero.
    """
    base = float(retry.get("backoff_seconds", 1.0))
    factor = float(retry.get("backoff_factor", 2.0))
    cap = float(retry.get("max_delay_seconds", 300.0))
    delay = min(cap, base * factor ** max(attempt - 1, 0))
    if retry.get("jitter", True):
        delay = random.uniform(delay / 2, delay)
    return delay


def node_due_wake(node: NodeExecution, now: datetime) -> bool:
    return node.wake_at is not None and node.wake_at <= now


def set_execution_status(execution: WorkflowExecution, target: str) -> None:
    transitions.check_execution(execution.status, target)
    execution.status = target


def cancel_execution(unit: Unit, *, by: str = "") -> None:
    """Cancel: revoke queued and running tasks, mark every unfinished node (and child execution) cancelled."""
    execution = unit.execution
    set_execution_status(execution, ExecutionStatus.CANCELLED)
    cancelled = cancel_open_nodes(unit, include_running=True)
    execution.finished_at = timezone.now()
    execution.save(update_fields=["status", "finished_at", "updated_at"])
    unit.event(EventType.EXECUTION_CANCELLED, cancelled_nodes=cancelled, by=by)
    after_finish(unit)


def cancel_children(node: NodeExecution) -> None:
    """Cancel the unfinished children of a node that is itself being cancelled (parent lock held: parent first)."""
    ids = node.state.get("children", {}).get("ids", [])
    active = WorkflowExecution.objects.filter(pk__in=ids).exclude(status__in=EXECUTION_TERMINAL)
    for child_id in active.values_list("pk", flat=True):
        with locked(child_id) as child_unit:
            if child_unit.execution.status not in EXECUTION_TERMINAL:
                cancel_execution(child_unit)
