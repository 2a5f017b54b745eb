"""Recovery and wake-ups, run by beat every few seconds and once when a worker starts.

- The reaper re-queues a `running` node whose lease ran out (its worker died: a live one renews the lease), or
  sooner when no live worker holds its task and its lease has not been renewed for a while (`presence`).
- It sends again, under the same task id, a `queued` node whose message can no longer arrive: neither waiting in
  the broker nor held by a live worker (a SIGKILLed worker's prefetched tasks, a task that gave up on a database
  outage), every queued node when the broker lost its data (a Redis restarted without persistence), and, when the
  broker cannot be read, one queued for CONCERTMASTER_ENGINE_REDISPATCH_SECONDS. A duplicate message is harmless:
  the claim is a compare-and-set on the task id, so only one delivery runs the node.
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
from ..models import NodeExecution, WorkflowExecution
from ..retention import KINDS, prune_kind
from . import leases, presence, sending
from .complete import fail
from .flow import advance, queue_node
from .lifecycle import begin_execution
from .outcomes import ERROR_WORKER_LOST, Failure
from .unit import Unit, locked
from .waking import REASON_RETRY, wake, wake_due, wake_node

__all__ = ["REASON_RETRY", "wake", "wake_due", "wake_node"]  # recovery's names before the split (issue 14)

logger = logging.getLogger(__name__)

REASON_LEASE_EXPIRED = "lease_expired"
REASON_REDISPATCH = "redispatch"
REASON_WORKER_GONE = "worker_gone"
#: Runs of one node lost with their worker (lease expired) before the node fails instead.
MAX_LOST_RUNS = 3
MSG_LOST_TOO_OFTEN = "The node's run was lost {count} times (its worker died or its result could not be stored)."


def recover(*, everything_in_flight: bool = False) -> dict[str, int]:
    """One pass of reaping, re-sending, waking and starting queued executions; returns what it did, by kind."""
    now = timezone.now()
    view = presence.look()
    return {
        "reaped": reap(now, everything_in_flight=everything_in_flight, view=view),
        "resent": resend_lost(now, view=view),
        "woken": wake_due(now),
        "started": start_all_queued(),
    }


def recover_on_start(*, embedded: bool) -> dict[str, int]:
    """Run at worker start. An embedded worker's broker lived in this process, so everything in flight is
    lost and re-queued now; a standalone worker re-queues expired leases, and schedules one more pass for
    when the current leases run out (beat may not be running)."""
    done = recover(everything_in_flight=embedded)
    if not embedded:
        soonest = NodeExecution.objects.filter(status=NodeStatus.RUNNING).aggregate(at=Min("lease_expires_at"))["at"]
        if soonest is not None:
            countdown = max((soonest - timezone.now()).total_seconds(), 0) + 1
            sending.task(sending.RECOVER).apply_async(
                countdown=min(countdown, settings.CONCERTMASTER_ENGINE_LEASE_SECONDS + 1)
            )
    return done


def reap(now: datetime, *, everything_in_flight: bool = False, view: presence.BrokerView | None = None) -> int:
    """Re-queue (under a new task id) running nodes whose run is lost: the lease ran out, or, with a `view` of the
    broker, no live worker holds the task and the lease has not been renewed for `presence.stale_lease_seconds()`.
    With `everything_in_flight` (an embedded worker's start), every queued and running node."""
    expired = Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    if view is not None:
        lease = settings.CONCERTMASTER_ENGINE_LEASE_SECONDS
        expired |= Q(lease_expires_at__lt=now + timedelta(seconds=lease - presence.stale_lease_seconds()))
    candidates = NodeExecution.objects.filter(status=NodeStatus.RUNNING)
    if everything_in_flight:
        candidates = NodeExecution.objects.filter(status__in=(NodeStatus.RUNNING, NodeStatus.QUEUED))
    else:
        candidates = candidates.filter(expired)
    count = 0
    for execution_id, node_pk, task_id, expires in candidates.values_list(
        "execution_id", "pk", "task_id", "lease_expires_at"
    ):
        if not everything_in_flight and expires is not None and expires >= now and view and task_id in view.held:
            continue  # a live worker holds it (its renewals failing, say, in a database outage): the lease decides
        with locked(execution_id) as unit:
            node = NodeExecution.objects.filter(pk=node_pk).first()
            if node is None or node.status not in (NodeStatus.RUNNING, NodeStatus.QUEUED):
                continue
            reason = _lost_run(node, now, view) if not everything_in_flight else REASON_LEASE_EXPIRED
            if reason is None or unit.execution.status in EXECUTION_TERMINAL:
                continue
            if node.status == NodeStatus.QUEUED:
                reason = REASON_REDISPATCH
            elif _lost_too_often(unit, node):
                advance(unit)
                continue
            logger.warning("Re-queueing node %s of execution %s (%s)", node.node_id, execution_id, reason)
            queue_node(unit, node, reason=reason)
            advance(unit)
            count += 1
    return count


def _lost_run(node: NodeExecution, now: datetime, view: presence.BrokerView | None) -> str | None:
    """Why the run of a running node is lost (read with its execution locked), or None while it may be alive."""
    if node.status != NodeStatus.RUNNING:
        return None
    if node.lease_expires_at is None or node.lease_expires_at < now:
        return REASON_LEASE_EXPIRED
    if view is None or node.task_id in view.held:
        return None
    renewed = node.lease_expires_at - timedelta(seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS)
    if (now - renewed).total_seconds() > presence.stale_lease_seconds():
        return REASON_WORKER_GONE  # no live worker holds it and nothing renews it: its worker died with it
    return None


def resend_lost(now: datetime, *, view: presence.BrokerView | None = None) -> int:
    """Send again, under the same task id, queued nodes whose message can no longer arrive; returns how many.

    With a view of the broker: every queued node when the broker lost its data, else those sent
    CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS ago or more whose message is neither waiting nor held by a live worker.
    Without one (or for a backlog too long to read): those queued CONCERTMASTER_ENGINE_REDISPATCH_SECONDS ago
    (`lease_expires_at`, also expired at once for a message the broker refused).
    """
    queued = NodeExecution.objects.filter(status=NodeStatus.QUEUED, execution__status=ExecutionStatus.RUNNING)
    due = Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    if view is not None and view.lost_everything:
        due = Q()
    elif view is not None and view.waiting is not None:
        grace = timedelta(seconds=settings.CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS)
        due |= Q(updated_at__lte=now - grace)
    rows = queued.filter(due).values_list(
        "pk", "execution_id", "node_id", "task_id", "execution__version_id", "lease_expires_at"
    )
    lost = [
        row
        for row in rows
        if view is None or view.lost_everything or (row[5] is not None and row[5] < now) or not view.has(row[3])
    ]
    if view is not None and view.lost_everything:
        try:
            presence.redeclare_queues()
        except Exception:  # the sends below fail too, and the next pass finds these nodes lost all the same
            logger.warning("Could not declare the task queues again", exc_info=True)
    if not lost:
        return 0
    sent = _send(lost)
    redispatch = now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_REDISPATCH_SECONDS)
    leases.resent(sent, lease=redispatch)
    why = "the broker lost its data" if view is not None and view.lost_everything else "their messages were lost"
    logger.warning("Sent %d of %d queued nodes again (%s)", len(sent), len(lost), why)
    return len(sent)


def _send(rows: list[tuple]) -> list[Any]:
    """Publish the node tasks of `rows` on one producer; the pks of those the broker took."""
    from concertmaster.celery import app

    sent = []
    try:
        with app.producer_or_acquire() as producer:
            for pk, execution_id, node_id, task_id, version_id, _ in rows:
                args = [str(execution_id), str(pk), node_id, str(version_id)]
                sending.task(sending.RUN_NODE).apply_async(
                    args=args, task_id=task_id, producer=producer, argsrepr=repr(args), kwargsrepr="{}"
                )
                sent.append(pk)
    except Exception:
        logger.warning("The broker took %d of %d node tasks; the next pass sends the rest", len(sent), len(rows))
    return sent


def _lost_too_often(unit: Unit, node: NodeExecution) -> bool:
    """Count a run lost with its worker; past MAX_LOST_RUNS fail the node instead of running it again (a node
    that kills its worker, or a completion that cannot be stored, would otherwise loop forever)."""
    lost = int(node.state.get("lost", 0)) + 1
    node.state = {**node.state, "lost": lost}
    if lost < MAX_LOST_RUNS:
        return False
    fail(unit, node, Failure(ERROR_WORKER_LOST, MSG_LOST_TOO_OFTEN.format(count=lost), retryable=False))
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
    """Delete webhook deliveries older than CONCERTMASTER_WEBHOOK_INBOX_DAYS or their organization's retention
    period (their replay protection goes with them), in batches; returns how many."""
    return prune_kind(KINDS["webhook_deliveries"], now=now)
