"""Recovery in seconds: lost messages are sent again after a short grace, a broker that lost its data gets every
queued node again at once, and a running node whose worker is gone is re-queued before its lease runs out.

Through the package's real worker (a thread of this process) on the configured broker: Redis in the PostgreSQL +
Redis mode, kombu's in-memory broker in the embedded one (where the broker cannot lose its data on its own).
"""

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.executions.engine import presence, recovery
from apps.executions.engine.runner import claim_node
from apps.executions.models import ExecutionEvent, NodeExecution
from concertmaster.celery import app
from tests.executions.engine.helpers import (
    TRIGGER,
    event_types,
    make_workflow,
    node,
    start,
    wait_finished,
    wait_for,
    wait_node,
)

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = bool(os.environ.get("REDIS_URL"))


def busy_and_other(seconds: float):
    """start -> slow (keeps the one worker busy) and start -> other (queued behind it)."""
    return make_workflow(
        [
            TRIGGER,
            {"id": "slow", "type": "test.slow", "config": {"seconds": seconds}},
            {"id": "other", "type": "test.noop"},
        ],
        [("start", "slow"), ("start", "other")],
    )


def assert_each_node_succeeded_once(execution) -> None:
    execution = wait_finished(execution, timeout=30)
    assert execution.status == "succeeded"
    for node_id in ("start", "slow", "other"):
        assert event_types(execution, node_id).count("node_succeeded") == 1, node_id


def test_a_lost_queued_message_is_sent_again_after_the_grace_not_the_redispatch_time(engine_worker, settings):
    settings.CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS = 0.3
    presence.look()  # the broker's epoch is known: only this node's loss is to be found
    execution = start(busy_and_other(0.6))
    wait_node(execution, "slow", "running")
    app.control.purge()  # the broker loses `other`'s message (as a SIGKILLed worker holding it would)
    wait_node(execution, "slow", "succeeded")
    other = node(execution, "other")
    assert other.status == "queued" and other.lease_expires_at > timezone.now() + timedelta(minutes=10)
    time.sleep(0.3)
    assert recovery.recover()["resent"] == 1
    assert_each_node_succeeded_once(execution)
    assert node(execution, "other").task_id == other.task_id  # the same task: a copy still on its way is a no-op
    assert node(execution, "other").attempt == 1


def test_a_queued_node_whose_message_is_still_in_the_broker_is_left_alone(engine_worker, settings):
    settings.CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS = 0
    presence.look()
    execution = start(busy_and_other(1.0))
    wait_node(execution, "slow", "running")
    other = node(execution, "other")
    assert other.status == "queued"
    view = presence.look()
    assert view is not None and view.has(other.task_id)
    assert recovery.recover()["resent"] == 0
    assert_each_node_succeeded_once(execution)


@pytest.mark.skipif(not REDIS, reason="The embedded in-memory broker lives and dies with its process and worker.")
def test_a_broker_that_lost_its_data_gets_every_queued_node_again_at_once(engine_worker, settings):
    settings.CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS = 600  # only the lost epoch may explain a re-send here
    presence.look()
    execution = start(busy_and_other(0.8))
    wait_node(execution, "slow", "running")
    presence.redis_client().flushdb()  # Redis restarted without persistence: queues, bindings and keys are gone
    wait_node(execution, "slow", "succeeded")
    assert node(execution, "other").status == "queued"
    assert recovery.recover()["resent"] == 1
    assert_each_node_succeeded_once(execution)
    # The queue's binding was declared again: new work is not dropped by the emptied broker.
    assert_each_node_succeeded_once(start(busy_and_other(0.1)))
    assert presence.look().lost_everything is False


def test_a_running_node_whose_worker_is_gone_is_requeued_before_its_lease_runs_out(engine_worker, settings):
    settings.CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS = 0.2
    execution = start(busy_and_other(3.0))
    slow = wait_node(execution, "slow", "running")
    other = node(execution, "other")
    # `other` is claimed by a worker that then dies: no live worker holds its task, and nothing renews its lease.
    assert claim_node(str(execution.pk), str(other.pk), other.task_id) is not None
    wait_for(lambda: slow.task_id in presence.look().held, timeout=10, message="the worker's heartbeat")
    # Neither lease was renewed for longer than the staleness limit (the database seemed slow for both), but
    # `slow`'s worker is alive and holds its task: only `other` is re-queued, long before its lease runs out.
    lease = settings.CONCERTMASTER_ENGINE_LEASE_SECONDS
    aged = timezone.now() + timedelta(seconds=lease - presence.stale_lease_seconds() - 1)
    NodeExecution.objects.filter(pk__in=[slow.pk, other.pk]).update(lease_expires_at=aged)
    assert aged > timezone.now()
    assert recovery.recover()["reaped"] == 1
    assert ExecutionEvent.objects.filter(
        execution=execution, node_id="other", type="node_queued", data__reason=recovery.REASON_WORKER_GONE
    ).exists()
    assert_each_node_succeeded_once(execution)
    assert node(execution, "slow").attempt == 1
    assert node(execution, "other").attempt == 2
