"""Control services through a real worker: pause, resume, cancel, retry from failed, approvals and delays,
including their races (two pauses, resume against a completion, cancel during a retry wait)."""

import os
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError, InvalidTransition
from apps.executions import services
from apps.executions.engine import runtime, transitions
from apps.executions.engine.recovery import wake_due, wake_node
from apps.executions.engine.runner import run_node
from apps.executions.models import WorkflowExecution
from tests.executions.conftest import wait_idle
from tests.executions.engine.helpers import (
    TRIGGER,
    chain,
    event_types,
    events,
    make_workflow,
    node,
    start,
    statuses,
    wait_finished,
    wait_for,
    wait_node,
)
from tests.orgs.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def slow_then_noop(seconds: float = 0.5):
    return make_workflow(
        *chain({"id": "slow", "type": "test.slow", "config": {"seconds": seconds}}, {"id": "next", "type": "test.noop"})
    )


def fresh(execution) -> WorkflowExecution:
    return WorkflowExecution.objects.get(pk=execution.pk)


def test_pause_lets_the_running_node_finish_and_starts_nothing_new(engine_worker):
    execution = start(slow_then_noop())
    wait_node(execution, "slow", "running")
    services.execution_pause(execution=execution)
    wait_node(execution, "slow", "succeeded")
    assert fresh(execution).status == "paused"
    assert statuses(execution)["next"] == "pending"

    services.execution_resume(execution=execution)
    execution = wait_finished(execution)
    assert execution.status == "succeeded"
    log = events(execution)
    assert log.index(("execution_paused", "")) < log.index(("node_succeeded", "slow"))
    assert log.index(("execution_resumed", "")) < log.index(("node_queued", "next"))


def test_a_second_pause_is_refused(engine_worker):
    execution = start(slow_then_noop())
    services.execution_pause(execution=execution)
    with pytest.raises(InvalidTransition) as raised:
        services.execution_pause(execution=execution)
    assert raised.value.message == transitions.MSG_EXECUTION_TRANSITION.format(source="paused", target="paused")
    services.execution_cancel(execution=execution)


def test_two_concurrent_pauses_one_wins_one_is_refused(engine_worker):
    execution = start(slow_then_noop(1.0))
    wait_node(execution, "slow", "running")
    outcomes = []

    def pause():
        try:
            services.execution_pause(execution=execution)
            outcomes.append("paused")
        except InvalidTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=pause) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["paused", "refused"]
    assert event_types(execution).count("execution_paused") == 1
    services.execution_cancel(execution=execution)


def test_pause_sends_queued_nodes_back_to_pending_and_resume_requeues_them(engine_worker):
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "slow", "type": "test.slow", "config": {"seconds": 0.5}},
            {"id": "other", "type": "test.noop"},
        ],
        [("start", "slow"), ("start", "other")],
    )
    execution = start(workflow)
    wait_node(execution, "slow", "running")
    assert node(execution, "other").status == "queued"  # behind slow on the one worker
    stale_task = node(execution, "other").task_id
    services.execution_pause(execution=execution)
    assert node(execution, "other").status == "pending"
    run_node(str(execution.pk), str(node(execution, "other").pk), stale_task)  # the revoked task, delivered anyway
    assert node(execution, "other").status == "pending"
    wait_node(execution, "slow", "succeeded")
    services.execution_resume(execution=execution)
    execution = wait_finished(execution)
    assert statuses(execution) == {"start": "succeeded", "slow": "succeeded", "other": "succeeded"}
    assert node(execution, "other").task_id != stale_task


def test_resume_before_the_running_node_completes_dispatches_its_successor_once(engine_worker):
    execution = start(slow_then_noop(0.6))
    wait_node(execution, "slow", "running")
    services.execution_pause(execution=execution)
    services.execution_resume(execution=execution)  # resumed while slow still runs
    execution = wait_finished(execution)
    assert execution.status == "succeeded"
    assert event_types(execution, "next") == ["node_queued", "node_started", "node_succeeded"]


def test_pause_resume_storm_against_completions_runs_every_node_exactly_once(engine_worker):
    nodes = [{"id": f"n{i}", "type": "test.noop"} for i in range(15)]
    execution = start(make_workflow(*chain(*nodes)))
    for _ in range(15):
        try:
            services.execution_pause(execution=execution)
            services.execution_resume(execution=execution)
        except InvalidTransition:
            break  # finished meanwhile
    execution = wait_finished(execution)
    assert execution.status == "succeeded"
    for i in range(15):
        assert event_types(execution, f"n{i}").count("node_started") == 1
        assert node(execution, f"n{i}").attempt == 1


def test_resume_is_refused_unless_paused(engine_worker):
    execution = wait_finished(start(make_workflow(*chain({"id": "a", "type": "test.noop"}))))
    with pytest.raises(InvalidTransition):
        services.execution_resume(execution=execution)


def test_cancel_marks_everything_left_cancelled_and_discards_the_running_result(engine_worker, tmp_path):
    marker = str(tmp_path / "slow")
    workflow = make_workflow(
        *chain(
            {"id": "slow", "type": "test.slow", "config": {"seconds": 0.5, "marker": marker}},
            {"id": "next", "type": "test.noop"},
        )
    )
    execution = start(workflow)
    wait_node(execution, "slow", "running")
    cancelled = services.execution_cancel(execution=execution)
    assert cancelled.status == "cancelled"
    assert statuses(execution) == {"start": "succeeded", "slow": "cancelled", "next": "cancelled"}
    wait_for(lambda: os.path.exists(marker + ".done"), message="the slow node to finish")
    wait_idle()
    assert node(execution, "slow").status == "cancelled"  # its late completion was not recorded
    assert node(execution, "slow").output is None
    assert event_types(execution)[-1] == "execution_cancelled"
    with pytest.raises(InvalidTransition):
        services.execution_cancel(execution=execution)


def test_cancel_during_a_retry_wait_leaves_nothing_to_wake(engine_worker):
    workflow = make_workflow(
        *chain(
            {
                "id": "flaky",
                "type": "test.flaky",
                "config": {"succeed_on": 2},
                "retry": {"max_attempts": 2, "backoff_seconds": 30},
            }
        )
    )
    execution = start(workflow)
    parked = wait_node(execution, "flaky", "retrying")
    services.execution_cancel(execution=execution)
    assert node(execution, "flaky").status == "cancelled"
    assert wake_node(execution.pk, parked.pk, now=parked.wake_at) == 0
    assert wake_due(parked.wake_at + timedelta(seconds=1)) == 0
    assert fresh(execution).status == "cancelled"
    assert node(execution, "flaky").attempt == 1


def test_cancel_of_a_held_back_execution(engine_worker):
    workflow = slow_then_noop(0.3)
    workflow.max_concurrent_executions = 1
    workflow.save()
    first = start(workflow)
    second = start(workflow)
    assert fresh(second).status == "pending"
    services.execution_cancel(execution=second)
    assert fresh(second).status == "cancelled"
    assert set(statuses(second).values()) == {"cancelled"}
    assert wait_finished(first).status == "succeeded"


def test_retry_failed_reruns_only_the_failed_nodes(engine_worker, tmp_path):
    gate = tmp_path / "gate"
    gate.write_text("closed")
    workflow = make_workflow(
        *chain(
            {"id": "before", "type": "test.noop"},
            {"id": "gate", "type": "test.gate", "config": {"path": str(gate)}},
            {"id": "after", "type": "test.noop"},
        )
    )
    execution = wait_finished(start(workflow, {"k": "v"}))
    assert execution.status == "failed"
    assert statuses(execution) == {"start": "succeeded", "before": "succeeded", "gate": "failed", "after": "cancelled"}
    gate.unlink()
    services.execution_retry_failed(execution=execution)
    execution = wait_finished(execution)
    assert execution.status == "succeeded"
    assert execution.error is None
    assert event_types(execution, "before").count("node_started") == 1
    assert event_types(execution, "gate").count("node_started") == 2
    assert node(execution, "after").output == {"passed": True}


def test_retry_failed_is_refused_for_a_succeeded_execution(engine_worker):
    execution = wait_finished(start(make_workflow(*chain({"id": "a", "type": "test.noop"}))))
    with pytest.raises(InvalidTransition):
        services.execution_retry_failed(execution=execution)


def approval_workflow(**config):
    return make_workflow(
        [
            TRIGGER,
            {"id": "ask", "type": "wait_for_approval", "config": {"message": "Ship it?", **config}},
            {"id": "yes", "type": "test.noop"},
            {"id": "no", "type": "test.noop"},
            {"id": "late", "type": "test.noop"},
        ],
        [("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected"), ("ask", "late", "timeout")],
    )


def test_approve_resumes_the_waiting_node_on_its_approved_port(engine_worker):
    execution = start(approval_workflow(), {"order": 7})
    wait_node(execution, "ask", "waiting")
    user = UserFactory()
    services.execution_approve(execution=execution, node_id="ask", user=user, comment="go")
    execution = wait_finished(execution)
    assert statuses(execution) == {
        "start": "succeeded",
        "ask": "succeeded",
        "yes": "succeeded",
        "no": "skipped",
        "late": "skipped",
    }
    assert node(execution, "ask").output == {
        "decision": "approved",
        "by": user.username,
        "comment": "go",
        "input": {"order": 7},
    }
    assert node(execution, "ask").attempt == 1  # waking up is not another attempt


def test_reject_takes_the_rejected_port(engine_worker):
    execution = start(approval_workflow())
    wait_node(execution, "ask", "waiting")
    services.execution_reject(execution=execution, node_id="ask")
    execution = wait_finished(execution)
    assert statuses(execution)["no"] == "succeeded"
    assert statuses(execution)["yes"] == "skipped"


def test_approving_a_node_that_is_not_waiting_is_refused(engine_worker):
    execution = start(approval_workflow())
    wait_node(execution, "ask", "waiting")
    with pytest.raises(InvalidTransition) as raised:
        services.execution_approve(execution=execution, node_id="start")
    assert raised.value.message == runtime.MSG_NOT_WAITING_FOR_APPROVAL.format(node_id="start")
    with pytest.raises(InvalidTransition) as raised:
        services.execution_approve(execution=execution, node_id="nope")
    assert raised.value.message == runtime.MSG_UNKNOWN_NODE.format(node_id="nope")
    services.execution_approve(execution=execution, node_id="ask")
    with pytest.raises(InvalidTransition):
        services.execution_approve(execution=execution, node_id="ask")  # decided already
    assert wait_finished(execution).status == "succeeded"


def test_only_listed_approvers_may_decide(engine_worker):
    execution = start(approval_workflow(approvers=["boss"]))
    wait_node(execution, "ask", "waiting")
    with pytest.raises(ApplicationError) as raised:
        services.execution_approve(execution=execution, node_id="ask", user=UserFactory(username="intern"))
    assert raised.value.message == runtime.MSG_NOT_AN_APPROVER.format(node_id="ask")
    services.execution_approve(execution=execution, node_id="ask", user=UserFactory(username="boss"))
    assert wait_finished(execution).status == "succeeded"


def test_an_approval_times_out_through_the_waker(engine_worker):
    execution = start(approval_workflow(timeout_seconds=60))
    waiting = wait_node(execution, "ask", "waiting")
    assert wake_due(timezone.now()) == 0
    assert wake_due(waiting.wake_at + timedelta(seconds=1)) == 1
    execution = wait_finished(execution)
    assert statuses(execution)["late"] == "succeeded"
    assert node(execution, "ask").output["decision"] == "timeout"


def test_an_approval_decided_while_paused_runs_after_resume(engine_worker):
    execution = start(approval_workflow())
    wait_node(execution, "ask", "waiting")
    services.execution_pause(execution=execution)
    services.execution_approve(execution=execution, node_id="ask")
    assert node(execution, "ask").status == "pending"
    services.execution_resume(execution=execution)
    assert wait_finished(execution).status == "succeeded"
    assert statuses(execution)["yes"] == "succeeded"


def test_a_short_delay_holds_no_worker_and_wakes_by_itself(engine_worker):
    workflow = make_workflow(
        *chain({"id": "wait", "type": "delay", "config": {"seconds": 0.4}}, {"id": "after", "type": "test.noop"})
    )
    other = make_workflow(*chain({"id": "quick", "type": "test.noop"}))
    execution = start(workflow, {"a": 1})
    wait_node(execution, "wait", "waiting")
    assert wait_finished(start(other), timeout=5).status == "succeeded"  # the worker is free meanwhile
    execution = wait_finished(execution)
    assert execution.status == "succeeded"
    assert node(execution, "after").output == {"a": 1}


def test_a_long_delay_waits_in_the_database_for_the_waker(engine_worker):
    workflow = make_workflow(*chain({"id": "wait", "type": "delay", "config": {"seconds": 7200}}))
    execution = start(workflow)
    waiting = wait_node(execution, "wait", "waiting")
    assert wake_due(timezone.now()) == 0
    assert wake_due(waiting.wake_at) == 1
    assert wait_finished(execution).status == "succeeded"
