"""100 runs started at once, watched on their workflow's stream: every finish event reaches the client.

PostgreSQL + Redis only (the production shape: the worker's events travel through channels-redis to the
server's hub). A real uvicorn server and a real Celery worker run in this process; the client is `websockets`.
A stream may instead close with the reconnect code (4503); the client then reconnects and replays each
execution it had not seen finish from `/ws/executions/<id>/?since=<last seq>`, as a real client would.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from apps.executions import consumers
from apps.executions.models import WorkflowExecution
from apps.workflows.services import workflow_activate, workflow_create
from concertmaster.celery import app
from tests.executions.test_live_e2e import ServerThread, _headers, connections_closed_after_use  # noqa: F401
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.reliability.test_worker_sigkill import QUEUE_ENV, database_url, route_engine_tasks

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.own_process,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the burst goes through channels-redis (PostgreSQL + Redis)"),
]

RUNS = 100
DEADLINE_SECONDS = 45.0
DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "say", "type": "log", "config": {"message": "run {{ trigger.n }}"}},
    ],
    "edges": [{"source": "start", "target": "say"}],
}


@pytest.fixture
def server(transactional_db, settings):
    # A quick heartbeat: a stream that lost an event (a dropped channel message) fills it in on the next beat.
    settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS = 2.0
    with ServerThread() as server:
        yield server


@pytest.fixture
def worker(transactional_db, tmp_path):
    """`celery worker` in a process of its own (prefork, 2 children) on a queue of this test's own."""
    queue = f"burst-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_routes
    route_engine_tasks({"concertmaster.engine.*": {"queue": queue}})
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "concertmaster", "worker", "-Q", queue, "-n", f"{queue}@%h"),
            *("--include", "tests.reliability.testnode_plugin"),  # routes the worker's own sends to the queue
            *("--pool", "prefork", "--concurrency", "2", "--without-mingle", "--without-gossip", "-l", "WARNING"),
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url(), "DEBUG": "1", QUEUE_ENV: queue},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # Its queue exists (and takes messages) once the worker has declared it: wait until it answers a ping.
    deadline = time.monotonic() + 30
    while not app.control.ping(timeout=0.5, destination=[f"{queue}@{socket.gethostname()}"]):
        assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
    route_engine_tasks(previous)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


@pytest.fixture
def member():
    user = UserFactory()
    MembershipFactory(user=user, organization=OrganizationFactory(), role="member")
    return user


def _execute(server, workflow, headers: dict, n: int) -> str:
    """POST execute to the server, as the API clients of the burst did."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/api/v1/workflows/{workflow.pk}/execute/",
        data=json.dumps({"input": {"n": n}}).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["id"]


class Watcher:
    """A client of the workflow stream: the last seq and the finish seen per execution, and reconnects."""

    def __init__(self, server, workflow, user) -> None:
        self.server, self.workflow, self.headers = server, workflow, _headers(user)
        self.last_seq: dict[str, int] = {}
        self.succeeded: set[str] = set()
        self.reconnects = 0

    def take(self, message: dict) -> None:
        if message["type"] in ("snapshot", "ping", "pong", "log"):  # log lines carry no seq
            return
        execution_id = message["execution_id"]
        self.last_seq[execution_id] = max(self.last_seq.get(execution_id, 0), message["seq"])
        if message["type"] == "execution_succeeded":
            self.succeeded.add(execution_id)

    async def watch(self, expected: set[str], ws, deadline: float) -> None:
        while not expected <= self.succeeded:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                self.take(json.loads(await asyncio.wait_for(ws.recv(), remaining)))
            except TimeoutError:
                return

    async def replay(self, execution_id: str) -> None:
        """What a client does after a reconnect close: replay the execution from its last seq."""
        since = self.last_seq.get(execution_id, 0)
        path = self.server.url(f"/ws/executions/{execution_id}/?since={since}")
        async with connect(path, additional_headers=self.headers) as ws:
            snapshot = json.loads(await ws.recv())
            while self.last_seq.get(execution_id, 0) < snapshot["seq"]:
                self.take(json.loads(await asyncio.wait_for(ws.recv(), 10)))


def test_every_finish_event_of_a_burst_of_100_runs_arrives(server, worker, member):
    workflow = workflow_create(organization=member.memberships.get().organization, name="Burst", definition=DEFINITION)
    workflow_activate(workflow=workflow)
    watcher = Watcher(server, workflow, member)

    async def scenario() -> set[str]:
        path = server.url(f"/ws/workflows/{workflow.pk}/")
        deadline = time.monotonic() + DEADLINE_SECONDS
        async with connect(path, additional_headers=watcher.headers) as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            with ThreadPoolExecutor(max_workers=20) as pool:
                futures = [pool.submit(_execute, server, workflow, watcher.headers, n) for n in range(RUNS)]
                expected = set(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))
            while True:
                try:
                    await watcher.watch(expected, ws, deadline)
                    return expected
                except ConnectionClosed as closed:
                    reconnect_codes = (consumers.CLOSE_RECONNECT, consumers.CLOSE_OVERFLOW)
                    assert closed.rcvd is not None and closed.rcvd.code in reconnect_codes, closed
                    watcher.reconnects += 1
                    ws = await connect(path, additional_headers=watcher.headers)
                    for execution_id in expected - watcher.succeeded:
                        await watcher.replay(execution_id)

    started = time.monotonic()
    expected = asyncio.run(scenario())
    elapsed = time.monotonic() - started
    finished = WorkflowExecution.objects.filter(pk__in=expected, status="succeeded").count()
    missing = len(expected - watcher.succeeded)
    arrived = RUNS - missing
    print(f"burst: {RUNS} runs, {finished} succeeded, {arrived} finish events arrived, ", end="")
    print(f"{watcher.reconnects} reconnects, {elapsed:.1f} s")
    assert finished == RUNS
    assert missing == 0, f"{missing} of {RUNS} finish events never arrived"
