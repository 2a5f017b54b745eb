"""publish(): the v1 shape, sent after commit to three groups, never raising, handed to the server loop."""

import asyncio
import json
import logging
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.db import connections, transaction
from django.utils import timezone

from apps.executions import events
from apps.executions.events import EVENT_VERSION, MESSAGE_TYPE, event_payload, publish
from apps.executions.models import ExecutionEvent
from concertmaster import embedded
from tests.executions.factories import WorkflowExecutionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def connections_closed_after_use():
    """database_sync_to_async runs in executor threads whose connections would outlive the test and keep
    PostgreSQL from dropping the test database: close them after each use."""
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def execution():
    return WorkflowExecutionFactory(status="running")


def _event(execution, seq=1, type="node_succeeded", node_id="greet", data=None):
    return ExecutionEvent.objects.create(
        organization_id=execution.organization_id,
        execution=execution,
        seq=seq,
        type=type,
        node_id=node_id,
        data=data if data is not None else {"output": {"amount": 42}},
        at=timezone.now(),
    )


class Listener:
    """A channel subscribed to the three groups of an execution, read synchronously."""

    def __init__(self, execution) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        self.groups = [
            events.execution_group(execution.pk),
            events.workflow_group(execution.workflow_id),
            events.organization_group(execution.organization_id),
        ]
        for group in self.groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def messages(self, timeout: float = 0.2) -> list[dict]:
        async def drain():
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(self.layer.receive(self.channel), timeout))
                except TimeoutError:
                    return received

        return async_to_sync(drain)()


def test_payload_is_the_versioned_json_shape(execution):
    event = _event(execution, seq=3, type="node_succeeded", data={"output": {"amount": 42}})
    payload = event_payload(ExecutionEvent.objects.get(pk=event.pk))  # execution not cached: one query
    assert json.loads(json.dumps(payload)) == payload
    assert payload == {
        "v": EVENT_VERSION,
        "type": "node_succeeded",
        "execution_id": str(execution.pk),
        "workflow_id": str(execution.workflow_id),
        "node_id": "greet",
        "status": "succeeded",
        "seq": 3,
        "at": event.at.isoformat(),
        "data": {"output": {"amount": 42}},
    }


def test_payload_status_comes_from_data_then_type(execution):
    assert event_payload(_event(execution, seq=1, type="execution_started", node_id=""))["status"] == "running"
    assert event_payload(_event(execution, seq=2, type="node_progress", data={}))["status"] is None
    assert event_payload(_event(execution, seq=3, type="node_custom", data={"status": "waiting"}))["status"] == (
        "waiting"
    )
    assert event_payload(_event(execution, seq=4, type="execution_started", node_id=""))["node_id"] is None


def test_publish_reaches_the_execution_workflow_and_organization_groups(execution):
    listener = Listener(execution)
    publish(_event(execution))
    messages = listener.messages()
    assert len(messages) == 3
    assert all(m["type"] == MESSAGE_TYPE and m["event"]["seq"] == 1 for m in messages)


def test_committed_events_go_out_as_one_message_per_group_in_order(execution):
    listener = Listener(execution)
    events.publish_committed([_event(execution, seq=seq) for seq in (1, 2, 3)])
    messages = listener.messages()
    assert sorted(m["group"] for m in messages) == sorted(listener.groups)
    assert all(m["type"] == MESSAGE_TYPE and [e["seq"] for e in m["events"]] == [1, 2, 3] for m in messages)


def test_a_batch_with_an_event_that_cannot_be_described_still_sends_the_rest(execution, caplog):
    listener = Listener(execution)
    broken = _event(execution, seq=2)
    broken.at = None  # no timestamp: the payload cannot be built
    with caplog.at_level(logging.ERROR, logger="apps.executions.events"):
        events.publish_committed([_event(execution, seq=1), broken, _event(execution, seq=3)])
    assert [[e["seq"] for e in m["events"]] for m in listener.messages()] == [[1, 3]] * 3
    assert "Could not publish execution event" in caplog.text


def test_publish_waits_for_the_commit_and_a_rollback_publishes_nothing(execution):
    listener = Listener(execution)
    with transaction.atomic():
        publish(_event(execution, seq=1))
        assert listener.messages(timeout=0.05) == []
    assert [m["event"]["seq"] for m in listener.messages()] == [1, 1, 1]

    with pytest.raises(RuntimeError), transaction.atomic():
        publish(_event(execution, seq=2))
        raise RuntimeError("the transition failed")
    assert listener.messages() == []


def test_publish_inside_an_on_commit_callback_sends_at_once(execution):
    listener = Listener(execution)
    with transaction.atomic():
        event = _event(execution)
        transaction.on_commit(lambda: publish(event))
    assert len(listener.messages()) == 3


def test_publish_never_raises(execution, caplog, monkeypatch):
    event = _event(execution)
    broken = ExecutionEvent(execution_id=execution.pk, organization_id=execution.organization_id, seq=9, type="x")
    with caplog.at_level(logging.ERROR, logger="apps.executions.events"):
        publish(broken)  # no `at`: the payload cannot be built
    assert "Could not publish execution event" in caplog.text

    async def full(group, message):
        raise ChannelFull()

    monkeypatch.setattr(get_channel_layer(), "group_send", full)
    with caplog.at_level(logging.WARNING, logger="apps.executions.events"):
        publish(event)
    assert caplog.text.count("Channel full: dropped event #1") == 3

    async def down(group, message):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(get_channel_layer(), "group_send", down)
    with caplog.at_level(logging.ERROR, logger="apps.executions.events"):
        publish(event)
    assert "Could not send event #1 to the channel layer" in caplog.text


@pytest.fixture
def server_loop():
    """An event loop running in its own thread, registered the way `manage.py serve` registers uvicorn's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    embedded.set_server_loop(loop)
    yield loop
    embedded.set_server_loop(None)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def test_a_worker_thread_hands_the_send_to_the_server_loop(execution, server_loop, monkeypatch):
    """The in-memory layer is used only on the server's loop: a send from another thread runs there."""
    seen = []

    async def record(group, message):
        seen.append((group, asyncio.get_running_loop()))

    monkeypatch.setattr(get_channel_layer(), "group_send", record)
    publish(_event(execution))
    assert [loop for _, loop in seen] == [server_loop] * 3
    assert sorted(group for group, _ in seen) == sorted(
        [
            events.execution_group(execution.pk),
            events.workflow_group(execution.workflow_id),
            events.organization_group(execution.organization_id),
        ]
    )


def test_a_stopped_server_loop_is_not_used(execution, monkeypatch):
    loop = asyncio.new_event_loop()
    embedded.set_server_loop(loop)  # registered, but not running
    try:
        assert embedded.server_loop() is None
        seen = []

        async def record(group, message):
            seen.append(asyncio.get_running_loop())

        monkeypatch.setattr(get_channel_layer(), "group_send", record)
        publish(_event(execution))
        assert len(seen) == 3 and loop not in seen
    finally:
        embedded.set_server_loop(None)
        loop.close()


def test_a_send_on_the_server_loop_itself_is_scheduled_not_awaited(execution, monkeypatch):
    seen = []

    async def record(group, message):
        seen.append(group)

    monkeypatch.setattr(get_channel_layer(), "group_send", record)

    async def main():
        embedded.set_server_loop(asyncio.get_running_loop())
        try:
            events.send_to_groups(["execution.x"], {"seq": 1})
            assert seen == []  # blocking here would deadlock the loop
            await asyncio.sleep(0.01)
            assert seen == ["execution.x"]
        finally:
            embedded.set_server_loop(None)

    asyncio.run(main())
