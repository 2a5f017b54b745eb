"""A worker killed with SIGKILL in the middle of a node loses nothing: a new worker finishes the execution.

Runs real `celery -A concertmaster worker` processes against Redis and the test's PostgreSQL database (the
processes see the rows this test commits). The lease is short here (3 s) so the reaper, run by the new
worker when it starts, re-queues the orphaned node within seconds instead of waiting for Redis to redeliver
the task after its visibility timeout (an hour).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from apps.executions.models import ExecutionEvent, WorkflowExecution
from concertmaster.celery import app
from tests.executions.engine import testnodes
from tests.executions.engine.helpers import chain, make_workflow, node, start, statuses, wait_finished, wait_for

BASE_DIR = Path(__file__).resolve().parents[2]
#: Read by tests/reliability/testnode_plugin.py in the worker (not imported here: it registers node types).
QUEUE_ENV = "CONCERTMASTER_TEST_QUEUE"
LEASE_SECONDS = 3

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="The SIGKILL test needs REDIS_URL (and PostgreSQL): worker processes must share a broker and a "
        "database with the test; the embedded in-memory broker lives inside one process.",
    ),
]


def database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{settings['USER']}{password}@{settings['HOST'] or '127.0.0.1'}{port}/{settings['NAME']}"


def route_engine_tasks(routes) -> None:
    app.conf.task_routes = routes
    app.amqp.flush_routes()
    del app.amqp.router  # a cached Router keeps the routes it was built with


@pytest.fixture
def queue():
    """A queue of this test's own, so that no other worker (the in-process test worker) takes its tasks."""
    name = f"reliability-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_routes
    route_engine_tasks({"concertmaster.engine.*": {"queue": name}})
    yield name
    route_engine_tasks(previous)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


@pytest.fixture
def workers(queue, tmp_path):
    started: list[subprocess.Popen] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "1",
        "CONCERTMASTER_ENGINE_LEASE_SECONDS": str(LEASE_SECONDS),
        QUEUE_ENV: queue,
    }

    def start_worker(name: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process below)
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "concertmaster", "worker"),
                *("--include", "tests.reliability.testnode_plugin", "-Q", queue, "-n", f"{name}@%h"),
                *("--pool", "solo", "--concurrency", "1", "--without-mingle", "--without-gossip", "-l", "INFO"),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log = log
        started.append(process)
        return process

    yield start_worker
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        process.log.close()


@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_worker_loses_no_execution(workers, tmp_path):
    marker = str(tmp_path / "slow")
    with testnodes.registered():
        workflow = make_workflow(
            *chain(
                {"id": "before", "type": "test.noop"},
                {"id": "slow", "type": "test.slow", "config": {"seconds": 4, "marker": marker}},
                {"id": "after", "type": "test.noop"},
            )
        )
        first = workers("first")
        execution = start(workflow, {"order": 1})
        wait_for(lambda: os.path.exists(marker + ".started"), timeout=60, message="the slow node to start")
        assert node(execution, "slow").status == "running"

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        time.sleep(0.5)
        assert WorkflowExecution.objects.get(pk=execution.pk).status == "running"

        workers("second")
        execution = wait_finished(execution, timeout=90)

    logs = "\n".join(path.read_text() for path in tmp_path.glob("*.log"))
    assert execution.status == "succeeded", logs[-5000:]
    assert statuses(execution) == {
        "start": "succeeded",
        "before": "succeeded",
        "slow": "succeeded",
        "after": "succeeded",
    }
    for node_id in ("start", "before", "slow", "after"):
        succeeded = ExecutionEvent.objects.filter(execution=execution, node_id=node_id, type="node_succeeded")
        assert succeeded.count() == 1, node_id
    assert Path(marker + ".done").read_text().splitlines() == ["slow"]  # the killed run never finished
    slow = node(execution, "slow")
    assert slow.attempt == 2
    assert ExecutionEvent.objects.filter(execution=execution, node_id="slow", data__reason="lease_expired").exists()
