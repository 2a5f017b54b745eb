"""Waking parked nodes: a retry whose backoff is over, a delay that ran out, an approval that timed out, a wait
for children to re-check."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from ..choices import ExecutionStatus, NodeStatus
from ..models import NodeExecution
from .children import progress
from .flow import node_due_wake, queue_node
from .unit import SUSPEND_APPROVAL, SUSPEND_CHILDREN, SUSPEND_DELAY, Unit, locked

REASON_RETRY = "retry"


def wake_due(now: datetime) -> int:
    due = NodeExecution.objects.filter(
        status__in=(NodeStatus.RETRYING, NodeStatus.WAITING),
        wake_at__lte=now,
        execution__status=ExecutionStatus.RUNNING,
    )
    count = 0
    for execution_id, node_pk in due.values_list("execution_id", "pk"):
        count += wake_node(execution_id, node_pk, now=now)
    return count


def wake_node(execution_id: Any, node_execution_id: Any, *, now: datetime | None = None) -> int:
    """Wake one node if it is (still) due at `now`; 1 when it was woken."""
    with locked(execution_id) as unit:
        node = NodeExecution.objects.filter(pk=node_execution_id).first()
        if node is None or unit.execution.status != ExecutionStatus.RUNNING or unit.execution.error:
            return 0
        return int(wake(unit, node, now or timezone.now()))


def wake(unit: Unit, node: NodeExecution, now: datetime) -> bool:
    """Move a parked node on (the execution is locked by the caller). Children waits are re-checked."""
    if node.status not in (NodeStatus.RETRYING, NodeStatus.WAITING):
        return False
    kind = node.state.get("suspend", {}).get("kind")
    if kind == SUSPEND_CHILDREN:
        progress(unit, node)
        return True
    if not node_due_wake(node, now):
        return False
    if node.status == NodeStatus.RETRYING:
        queue_node(unit, node, reason=REASON_RETRY)
    elif kind == SUSPEND_DELAY:
        node.state = {**node.state, "resume": {"woke_at": now.isoformat()}}
        queue_node(unit, node, reason=SUSPEND_DELAY)
    elif kind == SUSPEND_APPROVAL:
        node.state = {**node.state, "resume": {"decision": "timeout"}}
        queue_node(unit, node, reason="approval_timeout")
    else:
        return False
    return True
