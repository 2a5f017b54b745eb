"""Recovery and wake-ups, run by beat every few seconds and once when a worker starts.

- The reaper re-queues a `running` node whose lease ran out (its worker died: a live one renews the lease)
  and re-sends a `queued` node whose task never started (its broker message was lost). It does not wait
  for the broker: with Redis, a SIGKILLed worker's task only comes back after the visibility timeout.
- The waker moves due `retrying` nodes (backoff over) and `waiting` nodes (delay over, approval timed
  out, children to re-check) back to `queued`.
- Executions held back by `max_concurrent_executions` are started when slots are free.

Every change re-checks its condition with the execution locked (compare-and-set), so a node or execution
that finished meanwhile is never touched.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from apps.workflows.models import Workflow

from ..choices import EXECUTION_TERMINAL, ExecutionStatus, NodeStatus
from ..models import NodeExecution, WebhookDelivery, WorkflowExecution
from .runtime import (
    SUSPEND_APPROVAL,
    SUSPEND_CHILDREN,
    SUSPEND_DELAY,
    Unit,
    advance,
    begin_execution,
    locked,
    node_due_wake,
    queue_node,
)

logger = logging.getLogger(__name__)

REASON_LEASE_EXPIRED = "lease_expired"
REASON_REDISPATCH = "redispatch"
REASON_RETRY = "retry"
#: Runs of one node lost with their worker (lease expired) before the node fails instead.
MAX_LOST_RUNS = 3
MSG_LOST_TOO_OFTEN = "The node's run was lost {count} times (its worker died or its result could not be stored)."


def recover(*, everything_in_flight: bool = False) -> dict[str, int]:
    """One pass of reaping, waking and starting queued executions; returns what it did, by kind."""
    now = timezone.now()
    return {
        "reaped": reap(now, everything_in_flight=everything_in_flight),
        "woken": wake_due(now),
        "started": start_all_queued(),
    }


def recover_on_start(*, embedded: bool) -> dict[str, int]:
    """Run at worker start. An embedded worker's broker lived in this process, so everything in flight is
    lost and re-queued now; a standalone worker re-queues expired leases, and schedules one more pass for
    when the current leases run out (beat may not be running)."""
    from . import tasks

    done = recover(everything_in_flight=embedded)
    if not embedded:
        soonest = NodeExecution.objects.filter(status=NodeStatus.RUNNING).aggregate(at=Min("lease_expires_at"))["at"]
        if soonest is not None:
            countdown = max((soonest - timezone.now()).total_seconds(), 0) + 1
            tasks.recover.apply_async(countdown=min(countdown, settings.CONCERTMASTER_ENGINE_LEASE_SECONDS + 1))
    return done


def reap(now: datetime, *, everything_in_flight: bool = False) -> int:
    expired = Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    candidates = NodeExecution.objects.filter(status__in=(NodeStatus.RUNNING, NodeStatus.QUEUED))
    if not everything_in_flight:
        candidates = candidates.filter(expired)
    count = 0
    for execution_id, node_pk in candidates.values_list("execution_id", "pk"):
        with locked(execution_id) as unit:
            node = NodeExecution.objects.filter(pk=node_pk).first()
            if node is None or node.status not in (NodeStatus.RUNNING, NodeStatus.QUEUED):
                continue
            if not everything_in_flight and node.lease_expires_at and node.lease_expires_at >= now:
                continue  # renewed meanwhile: its worker is alive
            if unit.execution.status in EXECUTION_TERMINAL:
                continue
            if node.status == NodeStatus.RUNNING and _lost_too_often(unit, node):
                advance(unit)
                continue
            reason = REASON_LEASE_EXPIRED if node.status == NodeStatus.RUNNING else REASON_REDISPATCH
            logger.warning("Re-queueing node %s of execution %s (%s)", node.node_id, execution_id, reason)
            queue_node(unit, node, reason=reason)
            advance(unit)
            count += 1
    return count


def _lost_too_often(unit: Unit, node: NodeExecution) -> bool:
    """Count a run lost with its worker; past MAX_LOST_RUNS fail the node instead of running it again (a node
    that kills its worker, or a completion that cannot be stored, would otherwise loop forever)."""
    from .runner import ERROR_WORKER_LOST, Failure, fail

    lost = int(node.state.get("lost", 0)) + 1
    node.state = {**node.state, "lost": lost}
    if lost < MAX_LOST_RUNS:
        return False
    fail(unit, node, Failure(ERROR_WORKER_LOST, MSG_LOST_TOO_OFTEN.format(count=lost), retryable=False))
    return True


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
        from .children import progress

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


def start_all_queued() -> int:
    """Start held-back executions of every workflow that has free slots."""
    waiting = (
        WorkflowExecution.objects.filter(status=ExecutionStatus.PENDING, parent__isnull=True)
        .values("workflow_id")
        .annotate(n=Count("pk"))
    )
    return sum(start_queued(row["workflow_id"]) for row in waiting)


def start_queued(workflow_id: Any) -> int:
    """Start the oldest pending executions of a workflow while it has free slots; returns how many."""
    started = 0
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().filter(pk=workflow_id).first()
        if workflow is None:
            return 0
        pending = WorkflowExecution.objects.filter(
            workflow_id=workflow_id, status=ExecutionStatus.PENDING, parent__isnull=True
        ).order_by("created_at", "id")
        limit = workflow.max_concurrent_executions
        if limit:
            pending = pending[: max(limit - active_count(workflow_id), 0)]
        for execution_id in list(pending.values_list("pk", flat=True)):
            with locked(execution_id) as unit:
                if unit.execution.status == ExecutionStatus.PENDING:
                    begin_execution(unit)
                    started += 1
    return started


def active_count(workflow_id: Any) -> int:
    return WorkflowExecution.objects.filter(
        workflow_id=workflow_id,
        parent__isnull=True,
        status__in=(ExecutionStatus.RUNNING, ExecutionStatus.PAUSED),
    ).count()


def prune(*, now: datetime | None = None, batch: int = 500) -> int:
    """Delete finished executions older than CONCERTMASTER_EXECUTION_RETENTION_DAYS (nodes and events
    cascade), and webhook inbox rows older than CONCERTMASTER_WEBHOOK_INBOX_DAYS; returns how many executions."""
    prune_webhook_inbox(now=now)
    cutoff = (now or timezone.now()) - timedelta(days=settings.CONCERTMASTER_EXECUTION_RETENTION_DAYS)
    old = WorkflowExecution.objects.filter(status__in=EXECUTION_TERMINAL, finished_at__lt=cutoff)
    total = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            WorkflowExecution.objects.filter(pk__in=ids).delete()
        total += len(ids)


def prune_webhook_inbox(*, now: datetime | None = None) -> int:
    """Delete webhook deliveries older than CONCERTMASTER_WEBHOOK_INBOX_DAYS (their replay protection goes with
    them); returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.CONCERTMASTER_WEBHOOK_INBOX_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(created_at__lt=cutoff).delete()
    return deleted
