"""Prometheus metrics of the engine, webhooks, live connections and the broker's queues.

Counters and histograms are per process (a web process and each worker keep their own; Prometheus sums
them across scrape targets). `active_workflow_executions` and `celery_queue_length` are read at scrape time
(from the database, from the broker), so every process reports the same, true number whichever process
started or finished the executions or sent the tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

workflow_execution_duration_seconds = Histogram(
    "workflow_execution_duration_seconds",
    "Wall time of finished workflow executions, from start to the last node.",
    buckets=_DURATION_BUCKETS,
)
node_execution_duration_seconds = Histogram(
    "node_execution_duration_seconds",
    "Wall time of one node run (one attempt), by node type.",
    ["node_type"],
    buckets=_DURATION_BUCKETS,
)
workflow_executions_total = Counter(
    "workflow_executions_total", "Workflow executions that finished, by final status.", ["status"]
)
workflow_errors_total = Counter(
    "workflow_errors_total", "Node failures (each failed attempt), by error type.", ["error_type"]
)
node_runs_total = Counter(
    "node_runs_total",
    "Node runs (attempts) that finished, by node type and outcome (succeeded, failed, waiting).",
    ["node_type", "outcome"],
)
webhook_deliveries_total = Counter(
    "webhook_deliveries_total",
    "Webhook calls received, by outcome (accepted, duplicate, or why they were refused).",
    ["outcome"],
)
websocket_connections = Gauge(
    "websocket_connections", "Live WebSocket connections open on this server process, by stream kind.", ["kind"]
)
active_workflow_executions = Gauge(
    "active_workflow_executions", "Workflow executions running or paused right now (read from the database)."
)


def _count_active() -> float:
    from .models import WorkflowExecution

    return float(WorkflowExecution.objects.filter(status__in=("running", "paused")).count())


active_workflow_executions.set_function(_count_active)


def observe_node(*, node_type: str, seconds: float, outcome: str = "succeeded") -> None:
    node_execution_duration_seconds.labels(node_type=node_type).observe(seconds)
    node_runs_total.labels(node_type=node_type, outcome=outcome).inc()


#: The engine's outcome classes (engine/runner.py) by the `outcome` label they count under.
_OUTCOMES = {"Failure": "failed", "Suspend": "waiting"}


def outcome_of(outcome: object) -> str:
    """The `outcome` label of a node run's result: a Failure, a Suspend, or a result (succeeded)."""
    return _OUTCOMES.get(type(outcome).__name__, "succeeded")


def observe_execution_finished(*, status: str, seconds: float | None) -> None:
    workflow_executions_total.labels(status=status).inc()
    if seconds is not None:
        workflow_execution_duration_seconds.observe(seconds)


def count_error(*, error_type: str) -> None:
    workflow_errors_total.labels(error_type=error_type).inc()


def count_webhook_delivery(*, outcome: str) -> None:
    webhook_deliveries_total.labels(outcome=outcome).inc()


def websocket_opened(kind: str) -> None:
    websocket_connections.labels(kind=kind).inc()


def websocket_closed(kind: str) -> None:
    websocket_connections.labels(kind=kind).dec()


def queue_names() -> list[str]:
    """The Celery queues to measure: the default queue, the declared ones and those routes send to."""
    from concertmaster.celery import app

    names = {app.conf.task_default_queue, *app.amqp.queues.keys()}
    routes = app.conf.task_routes
    for route in routes.values() if isinstance(routes, dict) else ():
        if isinstance(route, dict) and route.get("queue"):
            names.add(str(getattr(route["queue"], "name", route["queue"])))
    return sorted(names)


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each queue, asked of the broker.

    kombu's Redis and in-memory transports count a queue with `_size` (Redis: LLEN over its priority lists), which
    is 0 for a queue never used; a passive declare, the AMQP way, would fail on an empty Redis queue (no key).
    """
    from concertmaster.celery import app

    lengths = {}
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in queue_names():
            if hasattr(channel, "_size"):
                lengths[name] = int(channel._size(name))
            else:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
    return lengths


class QueueLengthCollector(Collector):
    """`celery_queue_length{queue}` read from the broker at scrape time; nothing (and a log line) if it is down."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("celery_queue_length", "Tasks waiting in each Celery queue.", labels=["queue"])
        try:
            lengths = queue_lengths()
        except Exception:
            logger.warning("Could not read the queue lengths from the broker", exc_info=True)
            lengths = {}
        for name, length in lengths.items():
            family.add_metric([name], length)
        yield family


queue_length_collector = QueueLengthCollector()
REGISTRY.register(queue_length_collector)
