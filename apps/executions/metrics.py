"""Prometheus metrics of the engine.

Counters and histograms are per process (a web process and each worker keep their own; Prometheus sums
them across scrape targets). `active_workflow_executions` is read from the database at scrape time, so
every process reports the same, true number whichever process started or finished the executions.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
active_workflow_executions = Gauge(
    "active_workflow_executions", "Workflow executions running or paused right now (read from the database)."
)


def _count_active() -> float:
    from .models import WorkflowExecution

    return float(WorkflowExecution.objects.filter(status__in=("running", "paused")).count())


active_workflow_executions.set_function(_count_active)


def observe_node(*, node_type: str, seconds: float) -> None:
    node_execution_duration_seconds.labels(node_type=node_type).observe(seconds)


def observe_execution_finished(*, status: str, seconds: float | None) -> None:
    workflow_executions_total.labels(status=status).inc()
    if seconds is not None:
        workflow_execution_duration_seconds.observe(seconds)


def count_error(*, error_type: str) -> None:
    workflow_errors_total.labels(error_type=error_type).inc()
