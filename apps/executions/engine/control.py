"""Control of a running execution, as services call it (each inside `locked()`): pause, resume, retry after a
failure, decide an approval. Cancelling is `flow.cancel_execution`."""

from __future__ import annotations

from django.utils import timezone

from apps.core.errors import ApplicationError, InvalidTransition

from ..choices import ExecutionStatus, NodeStatus
from ..models import NodeExecution
from . import transitions
from .event_data import EventType
from .flow import advance, node_due_wake, queue_node, set_execution_status
from .unit import ACTIVE_EXECUTION, SUSPEND_APPROVAL, SUSPEND_CHILDREN, Unit, set_node_status
from .waking import wake

_RESET_FIELDS = [
    "status",
    "attempt",
    "error",
    "output",
    "ports",
    "state",
    "task_id",
    "wake_at",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_ms",
]


MSG_NOT_WAITING_FOR_APPROVAL = "The node '{node_id}' is not waiting for an approval."


MSG_UNKNOWN_NODE = "The execution has no node '{node_id}'."


MSG_NOTHING_TO_RETRY = "The execution has no failed node to retry."


MSG_NOT_AN_APPROVER = "You are not one of the approvers of the node '{node_id}'."


def pause_execution(unit: Unit, *, by: str = "") -> None:
    """Pause: running nodes finish, queued ones go back to pending (their tasks revoked), nothing new starts."""
    execution = unit.execution
    set_execution_status(execution, ExecutionStatus.PAUSED)
    execution.save(update_fields=["status", "updated_at"])
    queued = list(unit.nodes().filter(status=NodeStatus.QUEUED))
    for node in queued:
        unit.revokes.append(node.task_id)
        set_node_status(node, NodeStatus.PENDING)
        node.lease_expires_at = None
    unit.save_nodes(queued, ["status", "lease_expires_at"])
    unit.event(EventType.EXECUTION_PAUSED, requeued_nodes=[node.node_id for node in queued], by=by)


def resume_execution(unit: Unit, *, by: str = "") -> None:
    """Resume: wake what fell due while paused, then dispatch whatever is ready."""
    execution = unit.execution
    set_execution_status(execution, ExecutionStatus.RUNNING)
    execution.save(update_fields=["status", "updated_at"])
    unit.event(EventType.EXECUTION_RESUMED, by=by)
    now = timezone.now()
    parked = unit.nodes().filter(status__in=(NodeStatus.RETRYING, NodeStatus.WAITING))
    for node in parked:
        # Children may have finished while paused, and starting the next ones was held back.
        if node_due_wake(node, now) or node.state.get("suspend", {}).get("kind") == SUSPEND_CHILDREN:
            wake(unit, node, now)
    advance(unit)


def retry_failed_execution(unit: Unit, *, by: str = "") -> list[str]:
    """failed -> running again: reset the failed nodes that stopped it and the nodes cancelled with them."""
    execution = unit.execution
    nodes = list(unit.nodes().filter(status__in=(NodeStatus.FAILED, NodeStatus.CANCELLED)))
    # A failure routed to an error port or continued past was handled: only stopping failures re-run.
    nodes = [node for node in nodes if node.status == NodeStatus.CANCELLED or not node.ports]
    if not nodes:
        raise InvalidTransition(MSG_NOTHING_TO_RETRY)
    set_execution_status(execution, ExecutionStatus.RUNNING)
    execution.error = None
    execution.finished_at = None
    execution.save(update_fields=["status", "error", "finished_at", "updated_at"])
    for node in nodes:
        set_node_status(node, NodeStatus.PENDING)
        node.attempt = 0
        node.error = None
        node.output = None
        node.ports = []
        node.state = {}
        node.task_id = ""
        node.wake_at = None
        node.queued_at = None
        node.started_at = None
        node.finished_at = None
        node.duration_ms = None
    unit.save_nodes(nodes, _RESET_FIELDS)
    reset = sorted(node.node_id for node in nodes)
    unit.event(EventType.EXECUTION_STARTED, retry=True, reset_nodes=reset, by=by)
    advance(unit)
    return reset


def resolve_approval(
    unit: Unit, *, node_id: str, decision: str, by: str, comment: str, identities: frozenset[str] | None = None
) -> NodeExecution:
    """Record an approver's decision on a waiting approval node and run it again with that decision.

    `identities` (username, email) must meet the node's `approvers` list when it has one; None skips the
    check (the engine or a superuser deciding).
    """
    node = unit.nodes().filter(node_id=node_id).first()
    if node is None:
        raise InvalidTransition(MSG_UNKNOWN_NODE.format(node_id=node_id))
    suspended = node.state.get("suspend", {})
    if node.status != NodeStatus.WAITING or suspended.get("kind") != SUSPEND_APPROVAL:
        raise InvalidTransition(MSG_NOT_WAITING_FOR_APPROVAL.format(node_id=node_id))
    if unit.execution.status not in ACTIVE_EXECUTION:
        raise InvalidTransition(
            transitions.MSG_EXECUTION_TRANSITION.format(source=unit.execution.status, target="approval")
        )
    approvers = suspended.get("data", {}).get("approvers") or []
    if approvers and identities is not None and not identities & set(approvers):
        raise ApplicationError(MSG_NOT_AN_APPROVER.format(node_id=node_id))
    node.state = {**node.state, "resume": {"decision": decision, "by": by, "comment": comment}}
    queue_node(unit, node, reason=decision)
    return node
