"""Failure handling through a real worker: retries with backoff kept in the database, timeouts, output
size cap, and the circuit breaker."""

import time

import pytest
from django.core.cache import cache

from apps.executions.engine import breaker
from apps.executions.engine.runner import MSG_OUTPUT_TOO_LARGE, MSG_TIMEOUT
from apps.executions.models import ExecutionEvent
from tests.executions.engine.helpers import event_types, make_workflow, node, start, wait_finished, wait_node

pytestmark = pytest.mark.django_db(transaction=True)

TRIGGER = {"id": "start", "type": "manual"}
FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.05, "max_delay_seconds": 0.2}


@pytest.fixture(autouse=True)
def _clean_breakers():
    cache.clear()
    yield
    cache.clear()


def test_a_flaky_node_is_retried_with_backoff_until_it_succeeds(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "flaky", "type": "test.flaky", "config": {"succeed_on": 3}, "retry": FAST_RETRY}],
        [("start", "flaky")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "succeeded"
    flaky = node(execution, "flaky")
    assert flaky.attempt == 3
    assert flaky.output == {"attempt": 3}
    assert flaky.error is None
    assert event_types(execution, "flaky") == [
        "node_queued",
        "node_started",
        "node_retrying",
        "node_queued",
        "node_started",
        "node_retrying",
        "node_queued",
        "node_started",
        "node_succeeded",
    ]
    retrying = ExecutionEvent.objects.filter(execution=execution, type="node_retrying").order_by("seq")
    delays = [event.data["delay_seconds"] for event in retrying]
    assert 0.025 <= delays[0] <= 0.05  # equal jitter: between half and all of the backoff
    assert 0.05 <= delays[1] <= 0.1  # doubled
    assert retrying[0].data["error"]["message"] == "flaky attempt 1"


def test_retries_run_out_and_the_node_fails_with_its_last_error(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "flaky", "type": "test.flaky", "config": {"succeed_on": 9}, "retry": FAST_RETRY}],
        [("start", "flaky")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "failed"
    flaky = node(execution, "flaky")
    assert flaky.attempt == 3
    assert flaky.error["message"] == "flaky attempt 3"
    assert event_types(execution, "flaky").count("node_retrying") == 2


def test_a_non_retryable_error_skips_the_remaining_attempts(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "bad", "type": "test.fail", "config": {"retryable": False}, "retry": FAST_RETRY}],
        [("start", "bad")],
    )
    execution = wait_finished(start(workflow))
    assert node(execution, "bad").attempt == 1
    assert "node_retrying" not in event_types(execution)


def test_a_long_backoff_waits_in_the_database_for_beat(engine_worker, settings):
    """A retry later than the countdown limit is parked with wake_at and no task is scheduled for it."""
    settings.CONCERTMASTER_ENGINE_MAX_COUNTDOWN_SECONDS = 1
    workflow = make_workflow(
        [
            TRIGGER,
            {
                "id": "flaky",
                "type": "test.flaky",
                "retry": {"max_attempts": 2, "backoff_seconds": 600, "max_delay_seconds": 3600},
            },
        ],
        [("start", "flaky")],
    )
    execution = start(workflow)
    parked = wait_node(execution, "flaky", "retrying")
    delay = (parked.wake_at - parked.updated_at).total_seconds()
    assert 299 <= delay <= 601
    from apps.executions.engine.recovery import wake_due

    assert wake_due(parked.updated_at) == 0  # not due yet
    assert wake_due(parked.wake_at) == 1
    assert wait_finished(execution).status == "succeeded"
    assert node(execution, "flaky").attempt == 2


def test_a_node_past_its_timeout_fails_with_a_timeout_error(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "slow", "type": "test.slow", "config": {"seconds": 3}, "timeout_seconds": 0.3}],
        [("start", "slow")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "failed"
    error = node(execution, "slow").error
    assert error["type"] == "timeout"
    assert error["message"] == MSG_TIMEOUT.format(seconds=0.3)
    assert node(execution, "slow").duration_ms < 2000


def test_an_output_over_the_cap_fails_the_node_clearly(engine_worker, settings):
    settings.CONCERTMASTER_NODE_OUTPUT_MAX_BYTES = 100
    workflow = make_workflow(
        [TRIGGER, {"id": "big", "type": "test.big", "config": {"size": 500}, "retry": FAST_RETRY}],
        [("start", "big")],
    )
    execution = wait_finished(start(workflow))
    big = node(execution, "big")
    assert big.error["type"] == "output_too_large"
    assert big.error["message"] == MSG_OUTPUT_TOO_LARGE.format(size=512, limit=100)  # {"main": "x..."}
    assert big.output is None
    assert big.attempt == 1


def test_an_output_under_the_cap_is_stored(engine_worker, settings):
    settings.CONCERTMASTER_NODE_OUTPUT_MAX_BYTES = 1000
    workflow = make_workflow([TRIGGER, {"id": "big", "type": "test.big", "config": {"size": 500}}], [("start", "big")])
    execution = wait_finished(start(workflow))
    assert node(execution, "big").output == "x" * 500


def _breaker_state_becomes(key: breaker.Key, expected: str, timeout: float = 10.0) -> bool:
    """The worker records an outcome just after the completion commits, so the state may lag a moment."""
    deadline = time.monotonic() + timeout
    while breaker.state(key) != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return breaker.state(key) == expected


def test_the_breaker_opens_after_consecutive_failures_and_parks_nodes(engine_worker, settings):
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 2
    settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS = 60
    failing = make_workflow([TRIGGER, {"id": "call", "type": "test.fail", "on_error": "continue"}], [("start", "call")])
    for _ in range(2):
        assert wait_finished(start(failing)).status == "succeeded"
    # A node type without a target of its own has one breaker per organization.
    assert _breaker_state_becomes(breaker.key_for(failing.organization_id, "test.fail"), breaker.OPEN)

    execution = start(failing)
    parked = wait_node(execution, "call", "retrying")
    assert parked.attempt == 0  # parking spends no attempt
    event = ExecutionEvent.objects.get(execution=execution, node_id="call", type="node_retrying")
    assert event.data["reason"] == "circuit_open"
    assert event.data["breaker_target"] == ""
    assert 50 <= (parked.wake_at - parked.updated_at).total_seconds() <= 61

    other = make_workflow(
        [TRIGGER, {"id": "ok", "type": "test.noop"}], [("start", "ok")], organization=failing.organization
    )
    assert wait_finished(start(other)).status == "succeeded"  # other node types are not affected


def test_a_half_open_breaker_lets_one_probe_through_and_closes_on_success(engine_worker, settings):
    settings.CONCERTMASTER_BREAKER_THRESHOLD = 1
    settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS = 1.5  # long enough for the node to reach the open breaker
    workflow = make_workflow([TRIGGER, {"id": "n", "type": "test.noop"}], [("start", "n")])
    key = breaker.key_for(workflow.organization_id, "test.noop")
    breaker.record_failure(key)
    assert breaker.state(key) == breaker.OPEN
    execution = wait_finished(start(workflow), timeout=20)
    assert execution.status == "succeeded"
    assert "node_retrying" in event_types(execution, "n")
    assert _breaker_state_becomes(key, breaker.CLOSED)
