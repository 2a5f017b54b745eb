"""The ops dashboard's numbers on a seeded set: windows, per-workflow rates and percentiles, node types, what waits,
the broker's queues; and another organization's rows never count."""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Queue

from apps.executions import charts, dashboard
from apps.executions.models import WorkflowExecution
from concertmaster.celery import app
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def run(workflow, status, *, ago, seconds=None, **fields):
    """An execution created `ago` before NOW; a finished one took `seconds`."""
    execution = WorkflowExecutionFactory(workflow=workflow, status=status)
    created = NOW - ago
    values = {"created_at": created, **fields}
    if seconds is not None:
        values.update(started_at=created, finished_at=created + timedelta(seconds=seconds))
    WorkflowExecution.objects.filter(pk=execution.pk).update(**values)
    execution.refresh_from_db()
    return execution


@pytest.fixture
def seeded(organization, other_organization):
    """Organization A: two quick successes, a failure 3 hours ago, a cancellation 2 days ago, one running, one
    success 10 days ago (outside every window). Organization B: five failures and its own node types."""
    mine = WorkflowFactory(organization=organization, name="mine")
    minutes = timedelta(minutes=10)
    ok1 = run(mine, "succeeded", ago=minutes, seconds=1)
    run(mine, "succeeded", ago=minutes, seconds=3)
    failed = run(mine, "failed", ago=timedelta(hours=3), seconds=5)
    run(mine, "cancelled", ago=timedelta(days=2), seconds=1)
    running = run(mine, "running", ago=timedelta(minutes=5), started_at=NOW - timedelta(minutes=5))
    run(mine, "succeeded", ago=timedelta(days=10), seconds=100)
    NodeExecutionFactory(execution=ok1, node_type="http_request", status="succeeded", duration_ms=100)
    NodeExecutionFactory(execution=ok1, node_type="http_request", status="succeeded", duration_ms=300)
    NodeExecutionFactory(execution=ok1, node_type="log", status="succeeded", duration_ms=2)
    NodeExecutionFactory(execution=failed, node_type="http_request", status="failed", finished_at=NOW, duration_ms=50)
    NodeExecutionFactory(execution=running, node_type="delay", status="waiting", state={"suspend": {"kind": "delay"}})
    NodeExecutionFactory(
        execution=running, node_type="wait_for_approval", status="waiting", state={"suspend": {"kind": "approval"}}
    )
    NodeExecutionFactory(execution=running, node_type="http_request", status="retrying")
    theirs = WorkflowFactory(organization=other_organization, name="theirs-secret")
    for _ in range(5):
        execution = run(theirs, "failed", ago=minutes, seconds=9)
        NodeExecutionFactory(
            execution=execution, node_type="their.type", status="failed", finished_at=NOW, duration_ms=9000
        )
    NodeExecutionFactory(execution=execution, node_type="delay", status="waiting", state={"suspend": {"kind": "delay"}})
    return organization, mine


def test_windows_count_executions_by_status_of_the_organization(seeded):
    organization, _ = seeded
    board = dashboard.dashboard(organization_ids={organization.pk}, now=NOW)
    hour, day, week = board.windows
    assert hour[0] == "Last hour" and hour[2] == 3
    assert {k: v for k, v in hour[1].items() if v} == {"succeeded": 2, "running": 1}
    assert {k: v for k, v in day[1].items() if v} == {"succeeded": 2, "running": 1, "failed": 1}
    assert {k: v for k, v in week[1].items() if v} == {"succeeded": 2, "running": 1, "failed": 1, "cancelled": 1}
    assert week[2] == 5


def test_workflow_rows_give_success_rate_and_duration_percentiles(seeded):
    organization, mine = seeded
    [row] = dashboard.dashboard(organization_ids={organization.pk}, now=NOW).workflows
    assert (row.id, row.name, row.finished, row.succeeded, row.failed) == (mine.pk, "mine", 4, 2, 1)
    assert row.success_rate == pytest.approx(200 / 3)
    # Successes only, last week: 1 s and 3 s (percentile_cont: linear between ranks).
    assert row.p50_ms == pytest.approx(2000)
    assert row.p95_ms == pytest.approx(2900)


def test_node_types_slowest_and_most_failing(seeded):
    organization, _ = seeded
    board = dashboard.dashboard(organization_ids={organization.pk}, now=NOW)
    slow = dict(board.slow_node_types)
    assert list(slow) == ["http_request", "log"]
    assert (slow["http_request"].count, slow["http_request"].p50, slow["http_request"].p95) == (3, 100, 280)
    assert board.failing_node_types == [("http_request", 1)]


def test_running_waiting_and_stuck_now(seeded, settings):
    organization, _ = seeded
    settings.CONCERTMASTER_OPS_RUNNING_MINUTES = 3
    board = dashboard.dashboard(organization_ids={organization.pk}, now=NOW)
    assert (board.running, board.pending) == (1, 0)
    assert board.waiting == {"delay": 1, "approval": 1, "children": 0, "retrying": 1}
    assert dict((category.key, count) for category, count in board.stuck)["running_too_long"] == 1
    assert [execution.workflow.name for execution in board.oldest_running] == ["mine"]


def test_another_organizations_rows_never_count(seeded, other_organization):
    organization, _ = seeded
    board = dashboard.dashboard(organization_ids={organization.pk}, now=NOW)
    assert all(row.name != "theirs-secret" for row in board.workflows)
    assert "their.type" not in dict(board.slow_node_types)
    assert "their.type" not in dict(board.failing_node_types)
    assert board.windows[0][1]["failed"] == 0
    everyone = dashboard.dashboard(organization_ids=None, now=NOW)
    assert everyone.windows[0][1]["failed"] == 5
    assert {row.name for row in everyone.workflows} == {"mine", "theirs-secret"}
    assert dashboard.dashboard(organization_ids={other_organization.pk}, now=NOW).waiting["delay"] == 1


def test_no_organization_shows_nothing(seeded):
    board = dashboard.dashboard(organization_ids=set(), now=NOW)
    assert [total for _, _, total in board.windows] == [0, 0, 0]
    assert board.workflows == [] and board.slow_node_types == [] and board.running == 0


def test_charts_are_inline_svg_with_escaped_labels():
    svg = charts.horizontal_bars([("<b>x</b>", 50.0)], title="t & u", maximum=100, unit=" %")
    assert svg.startswith("<svg") and "<script" not in svg
    assert "&lt;b&gt;x&lt;/b&gt;" in svg and "t &amp; u" in svg
    bars = charts.stacked_bars(
        [charts.Bucket("00h", {"succeeded": 3, "failed": 1}), charts.Bucket("01h", {})],
        ["succeeded", "failed"],
        title="s",
    )
    assert bars.count("<rect") == 2 and "00h: 3 succeeded" in bars and "00h: 1 failed" in bars


def test_queue_depth_is_the_brokers(settings):
    """Three messages sent to a declared queue show as its depth (Redis LLEN, or the in-memory broker's size)."""
    queue = Queue("ops-dashboard-test")
    app.conf.task_queues = [queue]
    try:
        with app.connection_for_write() as connection:
            queue(connection.default_channel).declare()
            queue(connection.default_channel).purge()
            for _ in range(3):
                app.send_task("concertmaster.ops.test_no_such_task", queue="ops-dashboard-test", connection=connection)
        kind, depths = dashboard.queue_depths()
        assert kind in ("redis", "memory")
        assert dict(depths)["ops-dashboard-test"] == 3
        assert all(isinstance(depth, int) for _, depth in depths)
    finally:
        with app.connection_for_write() as connection:
            queue(connection.default_channel).purge()
        app.conf.task_queues = None


def test_queued_nodes_are_the_organizations_own(seeded, organization, other_organization):
    NodeExecutionFactory(execution=WorkflowExecution.objects.filter(organization=organization).first(), status="queued")
    for _ in range(2):
        theirs = WorkflowExecution.objects.filter(organization=other_organization).first()
        NodeExecutionFactory(execution=theirs, status="queued")
    assert dashboard.dashboard(organization_ids={organization.pk}, now=NOW).queued_nodes == 1
    assert dashboard.dashboard(organization_ids=None, now=NOW).queued_nodes == 3
