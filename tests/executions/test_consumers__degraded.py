"""Live streams when events are dropped or Redis fails: catch-up from the database, and the reconnect code."""

import asyncio
import shutil
import socket
import subprocess
import time

import pytest
import redis
from channels.db import database_sync_to_async
from django.db import OperationalError
from rest_framework_simplejwt.tokens import AccessToken

from apps.executions import consumers
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.executions.test_consumers import (  # noqa: F401 (connections_closed_after_use: an autouse fixture)
    add_event,
    assert_closed_with,
    connections_closed_after_use,
    open_stream,
    receive_seqs,
)
from tests.workflows.factories import WorkflowFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
def quick_heartbeat(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS = 0.4


@pytest.fixture
def execution(organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization), status="running")
    NodeExecutionFactory(execution=execution, node_id="start", status="succeeded")
    return execution


@pytest.fixture
def token(user):
    return str(AccessToken.for_user(user))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own on a free port (never the shared one), started and stopped at will."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(settings):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    server = OwnRedis()
    server.start()
    hosts = [{"address": server.url, "socket_timeout": 15, "socket_connect_timeout": 1}]
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}
    }
    yield server
    server.stop()


async def _receive_types(communicator, count: int) -> list[tuple[str, int]]:
    """(type, seq) of the next `count` events, skipping snapshots and pings."""
    received = []
    deadline = asyncio.get_running_loop().time() + 5
    while len(received) < count:
        assert asyncio.get_running_loop().time() < deadline, f"only {received} within 5 s"
        message = await communicator.receive_json_from(timeout=3)
        if message["type"] not in ("ping", "pong", "snapshot"):
            received.append((message["type"], message["seq"]))
    return received


async def _events_over_heartbeats(communicator, beats: int) -> list[tuple[str, int]]:
    """(type, seq) of every event sent until `beats` more heartbeats went out (each beat is a catch-up check)."""
    received = []
    while beats:
        message = await communicator.receive_json_from(timeout=3)
        if message["type"] == "ping":
            beats -= 1
        elif message["type"] not in ("pong", "snapshot"):
            received.append((message["type"], message["seq"]))
    return received


# --- events the channel layer dropped ---------------------------------------------------------------------


async def test_a_workflow_stream_sends_a_finish_event_that_was_never_delivered(execution, token):
    """The last event of an execution leaves no gap for a later event to reveal: the heartbeat finds it."""
    communicator = await open_stream(f"/ws/workflows/{execution.workflow_id}/", token=token)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    later = await database_sync_to_async(WorkflowExecutionFactory)(workflow=execution.workflow, status="running")
    await add_event(later, 1, type="execution_started", node_id="")
    await add_event(later, 2, type="execution_succeeded", node_id="", publish_it=False)  # dropped
    assert await _receive_types(communicator, 2) == [("execution_started", 1), ("execution_succeeded", 2)]
    await communicator.disconnect()


async def test_a_workflow_stream_sends_an_execution_none_of_whose_events_arrived(execution, token):
    communicator = await open_stream(f"/ws/orgs/{execution.organization_id}/", token=token)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    later = await database_sync_to_async(WorkflowExecutionFactory)(workflow=execution.workflow, status="succeeded")
    await add_event(later, 1, type="execution_started", node_id="", publish_it=False)
    await add_event(later, 2, type="execution_succeeded", node_id="", publish_it=False)
    assert await _receive_types(communicator, 2) == [("execution_started", 1), ("execution_succeeded", 2)]
    assert await _events_over_heartbeats(communicator, 2) == []  # nothing is sent twice
    await communicator.disconnect()


# --- Redis or the database down ---------------------------------------------------------------------------


async def test_a_stream_that_cannot_join_while_redis_is_down_closes_with_the_reconnect_code(execution, token, settings):
    hosts = [{"address": f"redis://127.0.0.1:{_free_port()}/0", "socket_connect_timeout": 0.5}]
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": hosts}}
    }
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await assert_closed_with(communicator, consumers.CLOSE_RECONNECT)


async def test_a_stream_closes_with_the_reconnect_code_when_the_database_is_down(execution, token, monkeypatch):
    def down(self):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    monkeypatch.setattr(consumers.ExecutionStreamConsumer, "authorise", down)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/", token=token)
    await assert_closed_with(communicator, consumers.CLOSE_RECONNECT)


async def test_redis_going_away_closes_streams_with_the_reconnect_code_and_since_replays_after(
    execution, token, own_redis
):
    """Redis stops: the open stream closes with 4503. Events stored meanwhile are replayed from ?since= once
    Redis is back."""
    await add_event(execution, 1, publish_it=False)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since=0", token=token)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    assert await receive_seqs(communicator, 1) == [1]
    await asyncio.to_thread(own_redis.stop)
    message = await communicator.receive_output(timeout=10)
    assert message == {
        "type": "websocket.close",
        "code": consumers.CLOSE_RECONNECT,
        "reason": consumers.RECONNECT_REASON,
    }
    await communicator.disconnect()
    await add_event(execution, 2, publish_it=False)  # the run goes on while nobody can listen
    await asyncio.to_thread(own_redis.start)
    communicator = await open_stream(f"/ws/executions/{execution.pk}/?since=1", token=token)
    assert (await communicator.receive_json_from(timeout=3))["type"] == "snapshot"
    assert await receive_seqs(communicator, 1) == [2]
    await add_event(execution, 3)  # and live again
    assert await receive_seqs(communicator, 1) == [3]
    await communicator.disconnect()
