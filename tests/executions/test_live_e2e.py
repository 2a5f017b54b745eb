"""End to end: a real uvicorn server, a real Celery worker and the `websockets` client watch a workflow run.

Both modes run the same test. With REDIS_URL (production) the worker's events travel through
channels-redis to the server; in the embedded default the worker thread hands them to the server's
registered loop, which owns the in-memory layer.
"""

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection, connections
from guardian.shortcuts import assign_perm
from rest_framework_simplejwt.tokens import AccessToken
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from apps.executions import consumers
from apps.executions.models import ExecutionEvent
from apps.executions.services import execution_start
from apps.workflows.services import workflow_create
from concertmaster import embedded
from concertmaster.asgi import application
from concertmaster.celery import app as celery_app
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.own_process, pytest.mark.django_db(transaction=True)]

TIMEOUT = 30.0

#: A branching workflow: a parallel side branch, an if/else whose false branch is skipped, and a delay on
#: the branch taken, so the run lasts long enough to disconnect in the middle.
DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "greet", "type": "set", "config": {"values": {"amount": "{{ trigger.amount | default(150) }}"}}},
        {"id": "audit", "type": "log", "config": {"message": "started"}},
        {"id": "check", "type": "if_else", "config": {"condition": "{{ nodes.greet.output.amount > 100 }}"}},
        {"id": "wait", "type": "delay", "config": {"seconds": 1}},
        {"id": "big", "type": "log", "config": {"message": "big {{ nodes.greet.output.amount }}"}},
        {"id": "small", "type": "log", "config": {"message": "small"}},
    ],
    "edges": [
        {"source": "start", "target": "greet"},
        {"source": "start", "target": "audit"},
        {"source": "greet", "target": "check"},
        {"source": "check", "source_port": "true", "target": "wait"},
        {"source": "wait", "target": "big"},
        {"source": "check", "source_port": "false", "target": "small"},
    ],
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving the project's ASGI application from a thread, on its own event loop."""

    def __init__(self) -> None:
        self.port = _free_port()
        config = uvicorn.Config(application, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        # Embedded mode registers the loop like `manage.py serve`; with Redis nothing is handed over.
        asyncio.run(embedded.serve(self.server) if settings.EMBEDDED else self.server.serve())

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=TIMEOUT)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


@pytest.fixture(autouse=True)
def connections_closed_after_use():
    """Server and worker threads open their own connections: close them after each use, or PostgreSQL
    refuses to drop the test database while they linger."""
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    yield
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def server(transactional_db):
    with ServerThread() as server:
        yield server


@pytest.fixture
def worker(transactional_db):
    celery_app.control.purge()
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
        yield worker
    celery_app.control.purge()


@pytest.fixture
def member():
    user = UserFactory()
    MembershipFactory(user=user, organization=OrganizationFactory(), role="member")
    return user


@pytest.fixture
def workflow(member):
    return workflow_create(organization=member.memberships.get().organization, name="Live", definition=DEFINITION)


def _headers(user) -> dict:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


async def _receive_events(
    ws, *, until_seq: int | None = None, stop_after: int | None = None, logs: list[dict] | None = None
) -> list[dict]:
    """Events (not snapshots or pings) until the execution's final event, `until_seq`, or `stop_after` events.
    Log lines have no seq (they are not events): they go to `logs` when given."""
    received: list[dict] = []
    # One deadline for the whole wait: heartbeat pings would otherwise renew a per-message timeout forever.
    deadline = time.monotonic() + TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no final event within {TIMEOUT} s; received {[m['type'] for m in received]}"
        message = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if message["type"] in ("snapshot", "ping", "pong"):
            continue
        if message["type"] == "log":
            assert message["seq"] is None
            if logs is not None:
                logs.append(message)
            continue
        received.append(message)
        if stop_after is not None and len(received) >= stop_after:
            return received
        if until_seq is not None and message["seq"] >= until_seq:
            return received
        if until_seq is None and message["type"].startswith("execution_") and message["status"] != "running":
            return received


def _start_in_thread(workflow, trigger_data: dict):
    """execution_start from a thread of its own (the test's loop is running), closing that thread's connection."""
    try:
        return execution_start(workflow=workflow, trigger_data=trigger_data)
    finally:
        connection.close()


def _db_events(execution_id) -> list[tuple[int, str, str]]:
    return list(ExecutionEvent.objects.filter(execution_id=execution_id).values_list("seq", "type", "node_id"))


def test_a_client_sees_every_event_live_in_order(server, worker, workflow, member):
    """Subscribed to the workflow before the run starts, a client receives the whole run, in order, once."""

    async def scenario():
        async with connect(server.url(f"/ws/workflows/{workflow.pk}/"), additional_headers=_headers(member)) as ws:
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert snapshot["type"] == "snapshot" and snapshot["executions"] == []
            execution = await asyncio.to_thread(_start_in_thread, workflow, {"amount": 150})
            return execution, await _receive_events(ws, logs=logs)

    logs: list[dict] = []
    execution, received = asyncio.run(scenario())
    assert received[-1]["type"] == "execution_succeeded"
    assert "audit" in {line["node_id"] for line in logs}  # the log node's line, live beside the events
    assert {m["execution_id"] for m in received} == {str(execution.pk)}
    assert [(m["seq"], m["type"], m["node_id"] or "") for m in received] == _db_events(execution.pk)
    assert [m["seq"] for m in received] == list(range(1, len(received) + 1))
    by_node = {(m["node_id"], m["type"]) for m in received}
    assert {("small", "node_skipped"), ("wait", "node_waiting"), ("big", "node_succeeded")} <= by_node


def test_a_client_that_reconnects_with_since_misses_nothing(server, worker, workflow, member):
    """Disconnect in the middle of the run, reconnect with since=<last seq>: every event exactly once."""
    execution = execution_start(workflow=workflow, trigger_data={"amount": 150})
    path = f"/ws/executions/{execution.pk}/"

    async def scenario():
        async with connect(server.url(f"{path}?since=0"), additional_headers=_headers(member)) as ws:
            first = await _receive_events(ws, stop_after=3)
        await asyncio.sleep(2.0)  # the run goes on (the delay wakes, big runs) while nobody listens
        async with connect(server.url(f"{path}?since={first[-1]['seq']}"), additional_headers=_headers(member)) as ws:
            second = await _receive_events(ws)
        return first, second

    first, second = asyncio.run(scenario())
    seqs = [m["seq"] for m in first + second]
    assert seqs == list(range(1, len(seqs) + 1))
    assert second[-1]["type"] == "execution_succeeded"
    assert [(m["seq"], m["type"], m["node_id"] or "") for m in first + second] == _db_events(execution.pk)
    assert len(second) > 1


def test_refusals_reach_the_client_as_close_codes(server, workflow, member):
    outsider = UserFactory()
    MembershipFactory(user=outsider, organization=OrganizationFactory(), role="owner")
    sharee = UserFactory()
    assign_perm("execute_workflow", sharee, workflow)

    async def close_code(path: str, headers: dict | None = None) -> int:
        async with connect(server.url(path), additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            return closed.value.rcvd.code

    async def scenario():
        path = f"/ws/workflows/{workflow.pk}/"
        return [
            await close_code(path),
            await close_code(path, {"Authorization": "Bearer cm_nope_nope"}),
            await close_code(path, _headers(outsider)),
            await close_code(path, _headers(sharee)),
            await close_code(f"{path}?since=x", _headers(member)),
        ]

    assert asyncio.run(scenario()) == [
        consumers.CLOSE_UNAUTHENTICATED,
        consumers.CLOSE_UNAUTHENTICATED,
        consumers.CLOSE_NOT_FOUND,
        consumers.CLOSE_FORBIDDEN,
        consumers.CLOSE_BAD_REQUEST,
    ]
