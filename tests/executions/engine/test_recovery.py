"""Crash recovery, duplicate deliveries, per-workflow concurrency, pruning and metrics, through a real worker."""

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.executions.engine import recovery, tasks
from apps.executions.engine.runner import claim_node, complete_node, run_node
from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from concertmaster.celery import app
from tests.executions.conftest import wait_idle
from tests.executions.engine.helpers import (
    TRIGGER,
    chain,
    event_types,
    make_workflow,
    node,
    start,
    statuses,
    wait_finished,
    wait_for,
    wait_node,
)

pytestmark = pytest.mark.django_db(transaction=True)


def busy_and_other(seconds: float = 0.6):
    """start -> slow (keeps the one worker busy) and start -> other (queued behind it)."""
    return make_workflow(
        [
            TRIGGER,
            {"id": "slow", "type": "test.slow", "config": {"seconds": seconds}},
            {"id": "other", "type": "test.noop"},
        ],
        [("start", "slow"), ("start", "other")],
    )


def test_a_node_whose_worker_died_is_requeued_after_its_lease_and_succeeds_once(engine_worker):
    execution = start(busy_and_other())
    wait_node(execution, "slow", "running")
    other = node(execution, "other")
    dead_claim = claim_node(str(execution.pk), str(other.pk), other.task_id)  # a worker claims it, then dies
    assert dead_claim is not None
    NodeExecution.objects.filter(pk=other.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert recovery.recover()["reaped"] == 1
    execution = wait_finished(execution)
    assert execution.status == "succeeded"
    assert event_types(execution, "other").count("node_succeeded") == 1
    assert ExecutionEvent.objects.get(
        execution=execution, node_id="other", type="node_queued", data__reason="lease_expired"
    )
    # The dead worker's late completion is ignored.
    complete_node(dead_claim, {"main": "stale"}, 0.1)
    assert node(execution, "other").output != "stale"


def test_the_reaper_leaves_a_node_with_a_live_lease_alone(engine_worker):
    execution = start(busy_and_other(0.5))
    wait_node(execution, "slow", "running")
    assert recovery.reap(timezone.now()) == 0
    assert wait_finished(execution).status == "succeeded"


def test_a_queued_node_whose_message_was_lost_is_sent_again(engine_worker):
    execution = start(busy_and_other(0.4))
    wait_node(execution, "slow", "running")
    app.control.purge()  # the broker loses `other`'s message
    wait_node(execution, "slow", "succeeded")
    other = node(execution, "other")
    assert other.status == "queued"
    NodeExecution.objects.filter(execution=execution, node_id="other").update(lease_expires_at=timezone.now())
    assert recovery.recover()["resent"] == 1
    assert wait_finished(execution).status == "succeeded"
    assert node(execution, "other").task_id == other.task_id  # sent again as it was: a duplicate would be a no-op


def test_an_embedded_restart_requeues_everything_in_flight(engine_worker):
    execution = start(busy_and_other(0.4))
    wait_node(execution, "slow", "running")
    app.control.purge()
    wait_node(execution, "slow", "succeeded")
    assert recovery.recover_on_start(embedded=True)["reaped"] == 1
    assert wait_finished(execution).status == "succeeded"


def test_a_standalone_worker_start_schedules_a_pass_for_live_leases(engine_worker, monkeypatch):
    scheduled = []
    monkeypatch.setattr(tasks.recover, "apply_async", lambda **kwargs: scheduled.append(kwargs))
    execution = start(busy_and_other(0.5))
    wait_node(execution, "slow", "running")
    assert recovery.recover_on_start(embedded=False) == {"reaped": 0, "resent": 0, "woken": 0, "started": 0}
    assert len(scheduled) == 1
    assert 0 < scheduled[0]["countdown"] <= 61
    wait_finished(execution)


def test_a_duplicate_delivery_of_a_finished_node_does_nothing(engine_worker):
    execution = wait_finished(start(make_workflow(*chain({"id": "a", "type": "test.noop"}))))
    a = node(execution, "a")
    seq = WorkflowExecution.objects.get(pk=execution.pk).last_seq
    tasks.run_node.apply_async(args=[str(execution.pk), str(a.pk)], task_id=a.task_id)  # redelivered by the broker
    run_node(str(execution.pk), str(a.pk), a.task_id)  # and by a second worker
    wait_idle()
    assert WorkflowExecution.objects.get(pk=execution.pk).last_seq == seq
    assert node(execution, "a").attempt == 1


def test_max_concurrent_executions_queues_the_rest_in_order(engine_worker):
    workflow = make_workflow(*chain({"id": "slow", "type": "test.slow", "config": {"seconds": 0.2}}))
    workflow.max_concurrent_executions = 1
    workflow.save()
    runs = [start(workflow, {"i": i}) for i in range(3)]
    assert [WorkflowExecution.objects.get(pk=r.pk).status for r in runs] == ["running", "pending", "pending"]
    finished = [wait_finished(r, timeout=30) for r in runs]
    assert [f.status for f in finished] == ["succeeded"] * 3
    for earlier, later in itertools.pairwise(finished):
        assert later.started_at >= earlier.finished_at
    assert set(statuses(finished[2]).values()) == {"succeeded"}


def test_held_back_executions_start_when_the_beat_pass_finds_a_free_slot(engine_worker, monkeypatch):
    monkeypatch.setattr(tasks.start_queued, "delay", lambda workflow_id: None)  # the notification is lost
    workflow = make_workflow(*chain({"id": "a", "type": "test.noop"}))
    workflow.max_concurrent_executions = 1
    workflow.save()
    blocker = start(workflow)
    waiting = start(workflow)
    wait_finished(blocker)
    assert WorkflowExecution.objects.get(pk=waiting.pk).status == "pending"
    assert recovery.start_all_queued() == 1
    assert wait_finished(waiting).status == "succeeded"


def test_prune_deletes_finished_executions_past_the_retention(engine_worker, settings):
    settings.CONCERTMASTER_EXECUTION_RETENTION_DAYS = 7
    workflow = make_workflow(*chain({"id": "a", "type": "test.noop"}))
    old, recent = wait_finished(start(workflow)), wait_finished(start(workflow))
    WorkflowExecution.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    running = start(make_workflow(*chain({"id": "wait", "type": "delay", "config": {"seconds": 3600}})))
    WorkflowExecution.objects.filter(pk=running.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert recovery.prune() == 1
    assert not WorkflowExecution.objects.filter(pk=old.pk).exists()
    assert not NodeExecution.objects.filter(execution_id=old.pk).exists()
    assert not ExecutionEvent.objects.filter(execution_id=old.pk).exists()
    assert set(WorkflowExecution.objects.values_list("pk", flat=True)) == {recent.pk, running.pk}


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_executions_node_durations_and_errors(engine_worker):
    before = (
        sample("workflow_executions_total", status="failed"),
        sample("node_execution_duration_seconds_count", node_type="test.noop"),
        sample("workflow_errors_total", error_type="node_error"),
        sample("workflow_execution_duration_seconds_count"),
    )
    workflow = make_workflow(*chain({"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.fail"}))
    wait_finished(start(workflow))
    wait_for(lambda: sample("workflow_executions_total", status="failed") == before[0] + 1)
    assert sample("node_execution_duration_seconds_count", node_type="test.noop") == before[1] + 1
    assert sample("workflow_errors_total", error_type="node_error") == before[2] + 1
    assert sample("workflow_execution_duration_seconds_count") == before[3] + 1


def test_the_active_gauge_reads_the_database(engine_worker):
    assert sample("active_workflow_executions") == 0
    execution = start(make_workflow(*chain({"id": "wait", "type": "delay", "config": {"seconds": 3600}})))
    wait_node(execution, "wait", "waiting")
    assert sample("active_workflow_executions") == 1


@pytest.mark.django_db
def test_a_node_lost_with_its_worker_again_and_again_fails_instead_of_looping(test_nodes):
    """Without a worker (nothing is dispatched in this test): claim, lose the lease, reap; the third loss fails."""
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})))
    trigger = node(execution, "start")
    for lost in (1, 2, 3):
        claim = claim_node(str(execution.pk), str(trigger.pk), trigger.task_id, node_id="start")
        assert claim is not None
        NodeExecution.objects.filter(pk=trigger.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        recovery.reap(timezone.now())
        trigger = node(execution, "start")
        if lost < recovery.MAX_LOST_RUNS:
            assert trigger.status == "queued"
            assert trigger.state["lost"] == lost
    assert trigger.status == "failed"
    assert trigger.error["type"] == "worker_lost"
    assert trigger.error["message"] == recovery.MSG_LOST_TOO_OFTEN.format(count=3)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "failed"
