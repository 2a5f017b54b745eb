"""Waits wake on the run's live events, not on a poll: `execution_wait` with a fallback poll longer than the run's
timeout still returns the finished run; the cross-process listener wakes on a message from another layer."""

import threading

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from apps.executions import events, triggers, waits
from apps.executions.choices import ExecutionStatus
from apps.executions.services import execution_start
from apps.workflows.services import workflow_create
from tests.orgs.factories import OrganizationFactory

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "a", "type": "set", "config": {"values": {"x": 1}}},
        {"id": "b", "type": "set", "config": {"values": {"y": 2}}},
    ],
    "edges": [{"source": "start", "target": "a"}, {"source": "a", "target": "b"}],
}
REDIS_LAYER = isinstance(get_channel_layer(), RedisChannelLayer)
#: Longer than any wait below: a waiter that only polled would give up before its first read after the start.
NEVER = 3600.0


@pytest.mark.slow
def test_a_wait_returns_when_the_run_finishes_without_polling(engine_worker):
    workflow = workflow_create(organization=OrganizationFactory(), name="waits", definition=DEFINITION)
    for _ in range(3):
        execution = execution_start(workflow=workflow, trigger_data={})
        finished = triggers.execution_wait(execution_id=execution.pk, timeout=30, poll=NEVER)
        assert finished.status == ExecutionStatus.SUCCEEDED


@pytest.mark.slow
def test_a_webhook_style_wait_wakes_for_its_condition(engine_worker):
    workflow = workflow_create(organization=OrganizationFactory(), name="waits", definition=DEFINITION)
    execution = execution_start(workflow=workflow, trigger_data={})
    seen = triggers.execution_wait(
        execution_id=execution.pk,
        timeout=30,
        poll=NEVER,
        until=lambda run: run.node_executions.filter(node_id="a", status="succeeded").exists(),
    )
    assert seen.node_executions.get(node_id="a").status == "succeeded"


def test_a_message_sent_in_this_process_wakes_the_waiter():
    with waits.subscribed("0f0e6a52-0000-4000-8000-000000000001") as woken:
        events.send_to_groups([events.execution_group("0f0e6a52-0000-4000-8000-000000000001")], {"seq": 1})
        assert woken.is_set()
    with waits.subscribed("0f0e6a52-0000-4000-8000-000000000002") as other:
        events.send_to_groups([events.execution_group("0f0e6a52-0000-4000-8000-000000000001")], {"seq": 2})
        assert not other.is_set()


@pytest.mark.skipif(not REDIS_LAYER, reason="Across processes only with channels-redis (embedded: one process).")
def test_the_listener_wakes_on_a_message_from_another_process():
    """Another process's worker sends through its own layer: only the listener can hear it."""
    execution_id = "0f0e6a52-0000-4000-8000-000000000003"
    sender = RedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    group = events.execution_group(execution_id)
    message = {"type": events.MESSAGE_TYPE, "group": group, "event": {"seq": 1}}
    with waits.subscribed(execution_id) as woken:
        assert not woken.is_set()
        threading.Thread(target=async_to_sync(sender.group_send), args=(group, message)).start()
        assert woken.wait(10)
    with waits.subscribed(execution_id) as again:  # left and joined again: still heard
        threading.Thread(target=async_to_sync(sender.group_send), args=(group, message)).start()
        assert again.wait(10)
