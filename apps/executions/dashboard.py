"""The ops dashboard's numbers: what ran, what failed, what runs and waits now, the broker's queues and the workers.

Selectors only. One `dashboard(organization_ids=...)` call feeds the admin index (every organization for a
superuser, a staff member's own otherwise) and the members' `/analytics` page (their organizations). Each query is a
range over an index (`execution_created_status`, `execution_org_created`, `execution_wf_created`, the nodes' partial
indexes), so the page stays fast on a million executions; `benchmarks/dashboard_bench.py` measures it.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.models import Aggregate, Count, F, FloatField, Func, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.workflows.models import Workflow

from . import charts
from .choices import ExecutionStatus, NodeStatus
from .engine import presence
from .models import NodeExecution, WorkflowExecution
from .stuck import CATEGORIES, scoped, stuck_counts

WINDOWS = (("Last hour", timedelta(hours=1)), ("Last day", timedelta(days=1)), ("Last week", timedelta(days=7)))
#: Rows of the per-workflow and per-node-type tables.
TOP = 10
STATUS_ORDER = [status.value for status in ExecutionStatus]
#: Executions whose node runs the slowest-node-types table reads.
SLOW_NODE_RUNS = 5000
NOT_AVAILABLE = None


class Milliseconds(Func):
    """PostgreSQL: the milliseconds from the second datetime expression to the first."""

    template = "(EXTRACT(EPOCH FROM %(expressions)s) * 1000)"
    arg_joiner = " - "
    output_field = FloatField()


class Percentile(Aggregate):
    """PostgreSQL's `percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)`."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class Spread:
    """How many values and their median and 95th percentile (None when there are none)."""

    count: int
    p50: float | None
    p95: float | None


@dataclass
class WorkflowRow:
    id: Any
    name: str
    organization: str
    finished: int = 0
    succeeded: int = 0
    failed: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None

    @property
    def success_rate(self) -> float | None:
        decided = self.succeeded + self.failed
        return 100.0 * self.succeeded / decided if decided else None


@dataclass(frozen=True)
class WorkerRow:
    name: str
    #: What it holds: (workflow name, node id, node type, status, execution id) per node it reserved or runs.
    running: list[tuple[str, str, str, str, Any]]
    #: Held task ids that are no node of the organizations shown (other tasks, other organizations).
    other: int


@dataclass
class Dashboard:
    now: datetime
    #: (label, counts by status, total) per window.
    windows: list[tuple[str, dict[str, int], int]]
    day_chart: Any
    week_chart: Any
    workflows: list[WorkflowRow]
    rate_chart: Any
    slow_node_types: list[tuple[str, Spread]]
    failing_node_types: list[tuple[str, int]]
    running: int
    pending: int
    oldest_running: list[WorkflowExecution]
    waiting: dict[str, int]
    #: Nodes of these organizations waiting in the broker for a worker.
    queued_nodes: int
    stuck: list[tuple[Any, int]]
    queues: list[tuple[str, int | None]]
    broker: str
    workers: list[WorkerRow] = field(default_factory=list)


def dashboard(*, organization_ids: Iterable | None, now: datetime | None = None) -> Dashboard:
    """Everything the dashboard shows, for the given organizations (None: all of them), kept in the cache for
    CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS per set of organizations (not when `now` is given)."""
    org_ids = None if organization_ids is None else sorted(organization_ids, key=str)
    seconds = settings.CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS
    if now is not None or not seconds:
        return _dashboard(org_ids, now or timezone.now())
    scope = "all" if org_ids is None else hashlib.sha256(",".join(map(str, org_ids)).encode()).hexdigest()
    key = f"concertmaster:ops:dashboard:{scope}"
    board = cache.get(key)
    if board is None:
        board = _dashboard(org_ids, timezone.now())
        cache.set(key, board, seconds)
    return board


def _dashboard(org_ids: list | None, now: datetime) -> Dashboard:
    hours = status_by_hour(organization_ids=org_ids, now=now)
    workflows = workflow_rows(organization_ids=org_ids, now=now)
    kind, queues = queue_depths()
    counts = stuck_counts(organization_ids=org_ids, now=now)
    live = scoped(WorkflowExecution.objects.all(), org_ids)
    return Dashboard(
        now=now,
        windows=status_windows(hours, organization_ids=org_ids, now=now),
        day_chart=day_chart(hours, now),
        week_chart=week_chart(hours, now),
        workflows=workflows,
        rate_chart=charts.horizontal_bars(
            [(row.name, row.success_rate) for row in workflows if row.success_rate is not None],
            title="Success rate per workflow, last week",
            maximum=100,
            unit=" %",
            colour=charts.STATUS_COLOURS["succeeded"],
        ),
        slow_node_types=slow_node_types(organization_ids=org_ids, now=now),
        failing_node_types=failing_node_types(organization_ids=org_ids, now=now),
        running=live.filter(status=ExecutionStatus.RUNNING).count(),
        pending=live.filter(status=ExecutionStatus.PENDING).count(),
        oldest_running=list(
            live.filter(status=ExecutionStatus.RUNNING)
            .select_related("workflow")
            .only("id", "started_at", "created_at", "status", "workflow__name")
            .order_by("started_at")[:TOP]
        ),
        waiting=waiting_counts(organization_ids=org_ids),
        queued_nodes=scoped(NodeExecution.objects.filter(status=NodeStatus.QUEUED), org_ids).count(),
        stuck=[(category, counts[category.key]) for category in CATEGORIES],
        queues=queues,
        broker=kind,
        workers=workers_alive(organization_ids=org_ids),
    )


# --- executions by status -------------------------------------------------------------------------------------


def status_by_hour(*, organization_ids: list | None, now: datetime) -> dict[datetime, dict[str, int]]:
    """Executions created in the last week, counted by hour (the current time zone's) and status."""
    rows = (
        scoped(WorkflowExecution.objects.filter(created_at__gte=now - timedelta(days=7)), organization_ids)
        .annotate(hour=TruncHour("created_at"))
        .values("hour", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    hours: dict[datetime, dict[str, int]] = defaultdict(dict)
    for row in rows:
        hours[row["hour"]][row["status"]] = row["n"]
    return dict(hours)


def status_windows(
    hours: dict[datetime, dict[str, int]], *, organization_ids: list | None, now: datetime
) -> list[tuple[str, dict[str, int], int]]:
    """Executions created in the last hour, day and week, counted by status: (label, counts, total) per window.

    From the hourly counts (`hours`, the week's): the hours wholly inside a window, plus the rows of the hour it
    starts in from its exact start (a range of at most an hour). The week's first hour holds only rows inside it."""
    windows = []
    for label, span in WINDOWS:
        since = now - span
        edge = _hour(since)
        totals: dict[str, int] = dict.fromkeys(STATUS_ORDER, 0)
        for hour, counts in hours.items():
            if hour > edge or (hour == edge and span == WINDOWS[-1][1]):
                for status, n in counts.items():
                    totals[status] = totals.get(status, 0) + n
        if span != WINDOWS[-1][1]:
            first = WorkflowExecution.objects.filter(created_at__gte=since, created_at__lt=edge + timedelta(hours=1))
            for row in scoped(first, organization_ids).values("status").annotate(n=Count("pk")).order_by():
                totals[row["status"]] = totals.get(row["status"], 0) + row["n"]
        windows.append((label, totals, sum(totals.values())))
    return windows


def _hour(moment: datetime) -> datetime:
    """The start of the hour holding `moment`, in the current time zone (as TruncHour buckets)."""
    return timezone.localtime(moment).replace(minute=0, second=0, microsecond=0)


def day_chart(hours: dict[datetime, dict[str, int]], now: datetime):
    last = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    buckets = [
        charts.Bucket(f"{hour:%H}h", hours.get(hour, {}))
        for hour in (last - timedelta(hours=23 - index) for index in range(24))
    ]
    return charts.stacked_bars(
        buckets, STATUS_ORDER, title="Executions by status per hour, last 24 hours", label_every=3
    )


def week_chart(hours: dict[datetime, dict[str, int]], now: datetime):
    today = timezone.localtime(now).date()
    days: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for hour, counts in hours.items():
        for status, n in counts.items():
            days[timezone.localtime(hour).date()][status] += n
    buckets = [
        charts.Bucket(f"{day:%a %d}", days.get(day, {})) for day in (today - timedelta(days=6 - i) for i in range(7))
    ]
    return charts.stacked_bars(buckets, STATUS_ORDER, title="Executions by status per day, last 7 days")


# --- per workflow and per node type ---------------------------------------------------------------------------


def spreads(queryset: QuerySet, key: str, *, value: str = "", start: str = "", end: str = "") -> dict[Any, Spread]:
    """Per `key`: count, p50 and p95 of the field `value`, or of the milliseconds from the datetime field `start`
    to `end`. PostgreSQL computes them; SQLite (the embedded mode) has no percentile function, so its (small) rows
    are read and computed here."""
    if connections[queryset.db].vendor == "postgresql":
        expression = Milliseconds(F(end), F(start)) if start else F(value)
        rows = queryset.values(key).annotate(
            n=Count("pk"),
            p50=Percentile(expression, 0.5, output_field=FloatField()),
            p95=Percentile(expression, 0.95, output_field=FloatField()),
        )
        return {row[key]: Spread(row["n"], row["p50"], row["p95"]) for row in rows.order_by()}
    grouped: dict[Any, list[float]] = defaultdict(list)
    if start:
        for group, began, ended in queryset.values_list(key, start, end):
            grouped[group].append((ended - began).total_seconds() * 1000)
    else:
        for group, number in queryset.values_list(key, value):
            grouped[group].append(float(number))
    return {
        group: Spread(len(values), _percentile(values, 0.5), _percentile(values, 0.95))
        for group, values in grouped.items()
    }


def _percentile(values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def workflow_rows(*, organization_ids: list | None, now: datetime) -> list[WorkflowRow]:
    """The TOP workflows with the most finished runs in the last week: outcomes, success rate, duration spread."""
    week = scoped(WorkflowExecution.objects.filter(created_at__gte=now - timedelta(days=7)), organization_ids)
    finished = week.filter(status__in=(ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED))
    counts: dict[Any, dict[str, int]] = defaultdict(dict)
    for row in finished.values("workflow_id", "status").annotate(n=Count("pk")).order_by():
        counts[row["workflow_id"]][row["status"]] = row["n"]
    top = sorted(counts, key=lambda pk: (-sum(counts[pk].values()), str(pk)))[:TOP]
    names = {
        pk: (name, org)
        for pk, name, org in Workflow.objects.filter(pk__in=top).values_list("pk", "name", "organization__name")
    }
    durations = spreads(
        week.filter(workflow_id__in=top, status=ExecutionStatus.SUCCEEDED, started_at__isnull=False),
        "workflow_id",
        start="started_at",
        end="finished_at",
    )
    rows = []
    for pk in top:
        name, organization = names.get(pk, ("(deleted)", ""))
        spread = durations.get(pk, Spread(0, None, None))
        by_status = counts[pk]
        rows.append(
            WorkflowRow(
                id=pk,
                name=name,
                organization=organization,
                finished=sum(by_status.values()),
                succeeded=by_status.get(ExecutionStatus.SUCCEEDED, 0),
                failed=by_status.get(ExecutionStatus.FAILED, 0),
                p50_ms=spread.p50,
                p95_ms=spread.p95,
            )
        )
    return rows


def slow_node_types(*, organization_ids: list | None, now: datetime) -> list[tuple[str, Spread]]:
    """Node types by their 95th percentile compute time, slowest first, over the latest SLOW_NODE_RUNS executions
    of the last day (a bounded sample: the cost does not grow with the day's volume)."""
    latest = scoped(WorkflowExecution.objects.filter(created_at__gte=now - timedelta(days=1)), organization_ids)
    sample = latest.order_by("-created_at").values("pk")[:SLOW_NODE_RUNS]
    nodes = NodeExecution.objects.filter(execution_id__in=sample, duration_ms__isnull=False)
    found = spreads(nodes, "node_type", value="duration_ms")
    return sorted(found.items(), key=lambda item: (-(item[1].p95 or 0), item[0]))[:TOP]


def failing_node_types(*, organization_ids: list | None, now: datetime) -> list[tuple[str, int]]:
    """Node types by failed runs in the last week, most first (the partial index `nodeexec_failed_type`)."""
    rows = (
        scoped(
            NodeExecution.objects.filter(status=NodeStatus.FAILED, finished_at__gte=now - timedelta(days=7)),
            organization_ids,
        )
        .values("node_type")
        .annotate(n=Count("pk"))
        .order_by("-n", "node_type")[:TOP]
    )
    return [(row["node_type"], row["n"]) for row in rows]


def waiting_counts(*, organization_ids: list | None) -> dict[str, int]:
    """Parked nodes now, by why: a delay, an approval, child executions; and retrying (back-off)."""
    parked = scoped(
        NodeExecution.objects.filter(status__in=(NodeStatus.WAITING, NodeStatus.RETRYING)), organization_ids
    )
    found = {"delay": 0, "approval": 0, "children": 0, "retrying": 0}
    for row in parked.values("status", "state__suspend__kind").annotate(n=Count("pk")).order_by():
        key = "retrying" if row["status"] == NodeStatus.RETRYING else (row["state__suspend__kind"] or "other")
        found[key] = found.get(key, 0) + row["n"]
    return found


# --- the broker and the workers -------------------------------------------------------------------------------


def queue_names() -> list[str]:
    """The task queues: the default one, the engine's, and any declared in CELERY_TASK_QUEUES."""
    from concertmaster.celery import app

    declared = [getattr(queue, "name", str(queue)) for queue in (app.conf.task_queues or ())]
    return sorted({app.conf.task_default_queue, *presence.engine_queues(), *declared})


def queue_depths() -> tuple[str, list[tuple[str, int | None]]]:
    """The broker's kind and the messages waiting in each queue (None: the broker cannot tell, or is down).

    Redis: the LLEN of each queue's lists (kombu keeps one per priority step). The embedded in-memory broker: the
    size of its queues in this process. Other brokers: not available.
    """
    names = queue_names()
    kind = _broker_kind()
    try:
        if kind == "redis":
            return kind, list(zip(names, _redis_lengths(names), strict=True))
        if kind == "memory":
            from kombu.transport.memory import Channel

            return kind, [(name, Channel.queues[name].qsize() if name in Channel.queues else 0) for name in names]
    except Exception:  # a broker that is down: the page still renders, saying so
        return kind, [(name, NOT_AVAILABLE) for name in names]
    return kind or "other", [(name, NOT_AVAILABLE) for name in names]


def _broker_kind() -> str:
    from concertmaster.celery import app

    scheme = str(app.conf.broker_url or "").split("://", 1)[0]
    return {"redis": "redis", "rediss": "redis", "memory": "memory"}.get(scheme, "")


def _redis_lengths(names: list[str]) -> list[int]:
    from kombu.transport.redis import Channel

    from concertmaster.celery import app

    prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "")
    client = presence.redis_client()
    pipe = client.pipeline(transaction=False)
    for name in names:
        for step in Channel.priority_steps:
            pipe.llen(prefix + (name if step == 0 else f"{name}{Channel.sep}{step}"))
    lengths = pipe.execute()
    per = len(Channel.priority_steps)
    return [sum(lengths[index * per : (index + 1) * per]) for index in range(len(names))]


def held_tasks() -> dict[str, list[str]]:
    """Live workers and the task ids each holds: the heartbeat records in Redis (engine/presence.py); the embedded
    worker thread of this process; {} when the broker cannot tell."""
    kind = _broker_kind()
    if kind == "memory":
        from celery.worker import state

        # A running request is both reserved and active: one entry per task id.
        held = {request.id for request in list(state.reserved_requests) + list(state.active_requests)}
        return {"embedded worker (this process)": sorted(held)}
    if kind != "redis":
        return {}
    try:
        client = presence.redis_client()
        names = sorted(name.decode() for name in client.smembers(presence.WORKERS_KEY))
        records = client.mget([presence.WORKER_KEY.format(name=name) for name in names]) if names else []
    except Exception:
        return {}
    return {name: json.loads(record) for name, record in zip(names, records, strict=True) if record is not None}


def workers_alive(*, organization_ids: list | None) -> list[WorkerRow]:
    """Each live worker with the nodes it holds, of the given organizations (others only counted)."""
    held = held_tasks()
    task_ids = {task_id for ids in held.values() for task_id in ids}
    nodes = scoped(
        NodeExecution.objects.filter(status__in=(NodeStatus.QUEUED, NodeStatus.RUNNING), task_id__in=task_ids),
        organization_ids,
    ).values_list("task_id", "execution__workflow__name", "node_id", "node_type", "status", "execution_id")
    by_task = {row[0]: row[1:] for row in nodes} if task_ids else {}
    rows = []
    for name, ids in held.items():
        running = [by_task[task_id] for task_id in ids if task_id in by_task]
        rows.append(WorkerRow(name=name, running=running, other=len(ids) - len(running)))
    return rows
