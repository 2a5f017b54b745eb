"""A worker killed with SIGKILL, or a Redis emptied under the queued work, loses nothing: the executions finish,
each node completed once, within seconds of the fault instead of the broker's visibility timeout (an hour) or the
reaper's last-resort redispatch (15 minutes).

Runs real `celery -A concertmaster worker` processes (and `celery beat`, the reaper's clock) against Redis and the
test's PostgreSQL database (the processes see the rows this test commits). The first test keeps a short lease (3 s)
so that the new worker's start pass finds the killed node's lease run out; the others keep the default lease (60 s):
the heartbeat of live workers tells the reaper that a run or a message is lost long before that.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from apps.executions.engine import presence
from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from concertmaster.celery import app
from tests.executions.engine import testnodes
from tests.executions.engine.helpers import chain, make_workflow, node, start, statuses, wait_finished, wait_for

BASE_DIR = Path(__file__).resolve().parents[2]
#: Read by tests/reliability/testnode_plugin.py in the worker (not imported here: it registers node types).
QUEUE_ENV = "CONCERTMASTER_TEST_QUEUE"
LEASE_SECONDS = 3
#: The recovery settings of the fast tests' processes: a short grace and heartbeat, beat every second.
FAST_RECOVERY = {
    "CONCERTMASTER_ENGINE_RECOVERY_INTERVAL_SECONDS": "1",
    "CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS": "0.5",
    "CONCERTMASTER_ENGINE_WORKER_TIMEOUT_SECONDS": "2",
    "CONCERTMASTER_ENGINE_LOST_MESSAGE_SECONDS": "2",
    "CONCERTMASTER_ENGINE_LEASE_RENEW_SECONDS": "1",
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("REDIS_URL"),
        reason="The SIGKILL test needs REDIS_URL (and PostgreSQL): worker processes must share a broker and a "
        "database with the test; the embedded in-memory broker lives inside one process.",
    ),
]


def database_url(*, host: str = "", port: int | None = None) -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    port = port or settings.get("PORT")
    port_part = f":{port}" if port else ""
    host = host or settings["HOST"] or "127.0.0.1"
    return f"postgres://{settings['USER']}{password}@{host}{port_part}/{settings['NAME']}"


class CuttableProxy:
    """A TCP proxy in front of the database that can be cut: while cut, every connection through it is closed and
    new ones are closed at once (the database as a worker sees it when PostgreSQL is stopped)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for end in self.sockets:
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()
            self.sockets = []

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.listener.close()
        self.cut()


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
def processes(queue, tmp_path):
    """Starts `celery worker` and `celery beat` processes on the test's queue and database; stops them after."""
    started: list[subprocess.Popen] = []
    base_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DEBUG": "1",
        QUEUE_ENV: queue,
        "CELERY_TASK_DEFAULT_QUEUE": queue,  # beat's recovery task goes to the test's workers
    }

    def start_process(name: str, command: list[str], env: dict) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process below)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "concertmaster", *command],
            cwd=BASE_DIR,
            env={**base_env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log = log
        started.append(process)
        return process

    yield start_process
    for process in started:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        process.log.close()


@pytest.fixture
def workers(processes, queue):
    """`workers(name, *options, **env)` starts a worker (solo pool unless options say otherwise)."""

    def start_worker(name: str, *options: str, **env: str) -> subprocess.Popen:
        pool = options or ("--pool", "solo", "--concurrency", "1")
        command = [
            *("worker", "--include", "tests.reliability.testnode_plugin", "-Q", queue, "-n", f"{name}@%h"),
            *pool,
            *("--without-mingle", "--without-gossip", "-l", "INFO"),
        ]
        return processes(name, command, {"CONCERTMASTER_ENGINE_LEASE_SECONDS": str(LEASE_SECONDS), **env})

    return start_worker


@pytest.fixture
def beat(processes, tmp_path):
    """Starts `celery beat` (the reaper every second) with the fast recovery settings."""
    return processes("beat", ["beat", "-l", "INFO", "--pidfile", str(tmp_path / "beat.pid")], FAST_RECOVERY)


def logs_of(tmp_path: Path) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(tmp_path.glob("*.log")))


def assert_completed_once(executions: list[WorkflowExecution], node_ids: list[str], logs: str) -> None:
    """Every execution succeeded, and each of its nodes was recorded succeeded exactly once."""
    for execution in executions:
        assert execution.status == "succeeded", logs
        assert statuses(execution) == dict.fromkeys(node_ids, "succeeded")
        for node_id in node_ids:
            succeeded = ExecutionEvent.objects.filter(execution=execution, node_id=node_id, type="node_succeeded")
            assert succeeded.count() == 1, (execution.pk, node_id)


def wait_all_finished(executions: list[WorkflowExecution], timeout: float) -> list[WorkflowExecution]:
    return [wait_finished(execution, timeout=timeout) for execution in executions]


def first_start_after(executions: list[WorkflowExecution], moment: float) -> float:
    """Seconds from `moment` (epoch seconds) to the first node started after it in `executions`."""
    started = ExecutionEvent.objects.filter(execution__in=executions, type="node_started").order_by("at")
    at = [event.at.timestamp() for event in started if event.at.timestamp() > moment]
    return at[0] - moment


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
    reasons = ("lease_expired", "worker_gone")
    assert ExecutionEvent.objects.filter(execution=execution, node_id="slow", data__reason__in=reasons).exists()


def blocker_and_light(marker: str, seconds: float):
    """A chain whose `slow` node keeps a worker busy, and a light chain of two no-op nodes."""
    blocker = make_workflow(
        *chain(
            {"id": "slow", "type": "test.slow", "config": {"seconds": seconds, "marker": marker}},
            {"id": "after", "type": "test.noop"},
        )
    )
    return blocker, make_workflow(*chain({"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.noop"}))


def wait_heartbeat(prefix: str) -> float:
    """Wait for the first heartbeat of a worker whose name starts with `prefix`; when it was seen (epoch seconds)."""
    client = presence.redis_client()
    wait_for(
        lambda: any(name.decode().startswith(prefix) for name in client.smembers(presence.WORKERS_KEY)),
        timeout=120,
        poll=0.05,
        message=f"the heartbeat of {prefix}",
    )
    return time.time()


def report(fault: str, executions: list[WorkflowExecution], moment: float) -> None:
    finished = max(execution.finished_at.timestamp() for execution in executions) - moment
    progress = first_start_after(executions, moment)
    print(f"\n{fault}: first node started {progress:.1f} s and every execution finished {finished:.1f} s after it")


@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_worker_loses_none_of_the_tasks_it_had_prefetched(workers, beat, tmp_path):
    """The worker holds the next executions' start tasks, prefetched and unstarted, when it is killed: the reaper
    sees that no live worker holds them and sends them again (default 60 s lease, not the hour of Redis's
    visibility timeout nor the 15 minutes of the last-resort redispatch)."""
    marker = str(tmp_path / "slow")
    fast = {**FAST_RECOVERY, "CONCERTMASTER_ENGINE_LEASE_SECONDS": "60"}
    with testnodes.registered():
        blocker, light = blocker_and_light(marker, 3)
        # One pool process and four prefetched messages: while `slow` runs, the next tasks wait in the worker.
        prefork = ("--pool", "prefork", "--concurrency", "1", "--prefetch-multiplier", "4")
        first = workers("first", *prefork, **fast)
        executions = [start(blocker)]
        wait_for(lambda: os.path.exists(marker + ".started"), timeout=60, message="the slow node to start")
        executions += [start(light) for _ in range(2)]
        prefetched = {node(execution, "start").task_id for execution in executions[1:]}
        wait_for(lambda: prefetched <= presence.look().held, timeout=20, message="the worker to prefetch them")

        first.send_signal(signal.SIGKILL)  # its pool process dies with it (Celery sets PDEATHSIG)
        first.wait(timeout=10)
        assert {node(execution, "start").status for execution in executions[1:]} == {"queued"}
        spawned = time.time()
        workers("second", *prefork, **fast)
        returned = wait_heartbeat("second@")
        executions = wait_all_finished(executions, timeout=60)

    assert_completed_once(executions[:1], ["start", "slow", "after"], logs_of(tmp_path))
    assert_completed_once(executions[1:], ["start", "a", "b"], logs_of(tmp_path))
    assert node(executions[0], "slow").attempt == 2
    assert Path(marker + ".done").read_text().splitlines() == ["slow"]  # the killed run never finished
    print(f"\nThe new worker took {returned - spawned:.1f} s to start (its first heartbeat).")
    report("worker SIGKILL with prefetched tasks, from the new worker's first heartbeat", executions, returned)


@pytest.mark.django_db(transaction=True)
def test_a_redis_emptied_under_queued_nodes_loses_no_execution(workers, beat, tmp_path):
    """Redis loses every queued message (and kombu's bindings) while a worker is busy: the reaper finds the
    broker's epoch gone and sends every queued node again; the worker declares its queue again."""
    marker = str(tmp_path / "slow")
    with testnodes.registered():
        blocker, light = blocker_and_light(marker, 2)
        workers("first", **FAST_RECOVERY, CONCERTMASTER_ENGINE_LEASE_SECONDS="60")  # solo: the queue waits in Redis
        executions = [start(blocker)]
        wait_for(lambda: os.path.exists(marker + ".started"), timeout=60, message="the slow node to start")
        executions += [start(light) for _ in range(3)]
        waiting = {node(execution, "start").task_id for execution in executions[1:]}
        wait_for(lambda: waiting <= (presence.look().waiting or set()), timeout=20, message="the queued messages")

        presence.redis_client().flushdb()  # as a Redis restarted without persistence
        emptied = time.time()
        assert not NodeExecution.objects.filter(execution__in=executions[1:], status="succeeded").exists()
        executions = wait_all_finished(executions, timeout=60)

    assert_completed_once(executions[:1], ["start", "slow", "after"], logs_of(tmp_path))
    assert_completed_once(executions[1:], ["start", "a", "b"], logs_of(tmp_path))
    assert node(executions[0], "slow").attempt == 1
    report("Redis emptied under queued nodes", executions[1:], emptied)


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_loses_no_execution_and_runs_no_node_twice(processes, workers, queue, tmp_path):
    """PostgreSQL is unreachable for a few seconds while nodes run and wait: node tasks retry (seconds apart, for
    minutes), a node that was running keeps its outcome and records it when the database is back (it is not run
    again), and beat's reaper carries on."""
    settings = connection.settings_dict
    proxy = CuttableProxy((settings["HOST"] or "127.0.0.1", int(settings.get("PORT") or 5432)))
    proxied = {**FAST_RECOVERY, "CONCERTMASTER_ENGINE_LEASE_SECONDS": "60"}
    proxied["DATABASE_URL"] = database_url(host="127.0.0.1", port=proxy.port)
    marker = str(tmp_path / "slow")
    try:
        with testnodes.registered():
            workflow = make_workflow(
                *chain(
                    {"id": "slow", "type": "test.slow", "config": {"seconds": 1.5, "marker": marker}},
                    {"id": "after", "type": "test.noop"},
                )
            )
            processes("beat", ["beat", "-l", "INFO", "--pidfile", str(tmp_path / "beat.pid")], proxied)
            workers("first", **proxied)
            executions = [start(workflow, {"order": order}) for order in range(3)]
            wait_for(lambda: os.path.exists(marker + ".started"), timeout=60, message="a slow node to start")
            proxy.cut()
            time.sleep(6)
            proxy.restore()
            restored = time.time()
            executions = wait_all_finished(executions, timeout=60)
    finally:
        proxy.close()

    assert_completed_once(executions, ["start", "slow", "after"], logs_of(tmp_path))
    runs = Path(marker + ".done").read_text().splitlines()
    assert runs == ["slow"] * 3  # each slow node ran once: none was run again after the outage
    report("PostgreSQL unreachable for 6 s, from its return", executions, restored)
