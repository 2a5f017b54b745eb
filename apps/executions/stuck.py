"""Stuck runs: the executions and nodes the ops console lists because the engine did not move them on.

Selectors only (reads); each answers a queryset, so the admin filters with it and the dashboard counts it. The
recovery pass (engine/recovery.py) fixes most of these by itself within seconds while beat runs: a row that stays
here means beat is down, the broker lost the message, or the node keeps being lost.

Every query is backed by an index: `status` leads `execution_status_created`; the in-flight and parked node rows
have partial indexes (`nodeexec_inflight_lease`, `nodeexec_parked_wake`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .choices import ExecutionStatus, NodeStatus
from .models import NodeExecution, WorkflowExecution

RUNNING_TOO_LONG = "running_too_long"
LEASE_EXPIRED = "lease_expired"
NEVER_STARTED = "never_started"
WAKE_OVERDUE = "wake_overdue"
HELD_BACK = "held_back"


def running_too_long(*, now: datetime | None = None) -> QuerySet[WorkflowExecution]:
    """Executions running (or paused) for longer than CONCERTMASTER_OPS_RUNNING_MINUTES."""
    since = (now or timezone.now()) - timedelta(minutes=settings.CONCERTMASTER_OPS_RUNNING_MINUTES)
    return WorkflowExecution.objects.filter(
        status__in=(ExecutionStatus.RUNNING, ExecutionStatus.PAUSED), started_at__lt=since
    )


def lease_expired(*, now: datetime | None = None) -> QuerySet[NodeExecution]:
    """Running nodes whose lease ran out: their worker stopped renewing it (died, or lost the database)."""
    return NodeExecution.objects.filter(status=NodeStatus.RUNNING, lease_expires_at__lt=now or timezone.now())


def never_started(*, now: datetime | None = None) -> QuerySet[NodeExecution]:
    """Nodes queued (or last sent again) longer than CONCERTMASTER_OPS_QUEUED_MINUTES ago that no worker claimed: a
    claim makes the node `running`, so a `queued` one's current attempt never started."""
    since = (now or timezone.now()) - timedelta(minutes=settings.CONCERTMASTER_OPS_QUEUED_MINUTES)
    return NodeExecution.objects.filter(status=NodeStatus.QUEUED, updated_at__lt=since)


def wake_overdue(*, now: datetime | None = None) -> QuerySet[NodeExecution]:
    """Waiting (delay, approval with a timeout, children) or retrying nodes more than CONCERTMASTER_OPS_OVERDUE_SECONDS
    past their wake-up time, in a running execution (a paused one wakes nothing on purpose)."""
    since = (now or timezone.now()) - timedelta(seconds=settings.CONCERTMASTER_OPS_OVERDUE_SECONDS)
    return NodeExecution.objects.filter(
        status__in=(NodeStatus.WAITING, NodeStatus.RETRYING),
        wake_at__lt=since,
        execution__status=ExecutionStatus.RUNNING,
    )


def held_back(*, now: datetime | None = None) -> QuerySet[WorkflowExecution]:
    """Pending top-level executions of workflows with `max_concurrent_executions`: waiting for a free slot."""
    return WorkflowExecution.objects.filter(
        status=ExecutionStatus.PENDING, parent__isnull=True, workflow__max_concurrent_executions__gt=0
    )


@dataclass(frozen=True)
class Category:
    """One kind of stuck row: its key (the admin filter's value), what the admin calls it, what fixes it."""

    key: str
    label: str
    model: type
    select: Callable[..., QuerySet]
    fix: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        RUNNING_TOO_LONG,
        "Running too long",
        WorkflowExecution,
        running_too_long,
        "cancel, re-run from the trigger, or re-queue their stuck nodes",
    ),
    Category(LEASE_EXPIRED, "Lease expired", NodeExecution, lease_expired, "re-queue (a new attempt), or cancel"),
    Category(NEVER_STARTED, "Queued, never started", NodeExecution, never_started, "re-queue (sent again), or cancel"),
    Category(WAKE_OVERDUE, "Past their wake-up time", NodeExecution, wake_overdue, "wake now (re-queue), or cancel"),
    Category(
        HELD_BACK,
        "Held back by a concurrency limit",
        WorkflowExecution,
        held_back,
        "start if a slot is free, or cancel",
    ),
)
BY_KEY = {category.key: category for category in CATEGORIES}


def scoped(queryset: QuerySet, organization_ids: Iterable | None) -> QuerySet:
    """`queryset` limited to `organization_ids` (None: every organization, for a superuser)."""
    return queryset if organization_ids is None else queryset.filter(organization_id__in=organization_ids)


def stuck_counts(*, organization_ids: Iterable | None, now: datetime | None = None) -> dict[str, int]:
    """How many rows each category holds, in the given organizations."""
    now = now or timezone.now()
    return {category.key: scoped(category.select(now=now), organization_ids).count() for category in CATEGORIES}
