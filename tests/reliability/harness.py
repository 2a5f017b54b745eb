"""The fault suite's stack and measurements: the production shape in processes of its own.

`Stack` starts a PostgreSQL cluster (initdb into a temporary directory, pg_ctl on a free port; run as the
`postgres` OS user when we are root, since initdb refuses root), a redis-server without persistence on a free
port, `manage.py serve --no-worker`, a prefork `celery -A concertmaster worker` (concurrency 2) and
`celery -A concertmaster beat`, with DEBUG off and the production environment. Nothing here touches the shared
services on 5432 and 6379: faults stop and kill only these processes.

`Counter` is the side-effect receiver: a loopback HTTP server the chain's http_request nodes POST to, which
counts every call per (execution, node) and, like a receiver that honours `Idempotency-Key`, applies a call
once per key. `measure()` reads the stack's database for the figures: executions lost, nodes completed twice,
and the seconds from the fault's end until every execution that was unfinished then progressed again.

This module imports no Django: it runs in any process (pytest with its own settings, or the CLI).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psycopg

BASE_DIR = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
#: Events that mean an execution moved forward: a node finished, or the execution did.
PROGRESS_EVENTS = ("node_succeeded", "node_failed", "node_skipped", "execution_succeeded", "execution_failed")
TERMINAL = ("succeeded", "failed", "cancelled")
#: Environment of the stack's processes beyond the database and Redis URLs (documented in docs/reliability.md).
STACK_ENV = {
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback; check --deploy covers the HTTPS settings
    "CONCERTMASTER_ALLOW_PRIVATE_HTTP": "1",  # the counter listens on loopback
    "CONCERTMASTER_THROTTLE_WEBHOOK": "100000/min",  # the duplicate-delivery scenario sends 50 per message
    "CONCERTMASTER_DEMO": "0",
    "LOG_LEVEL": "INFO",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def idempotency_key(execution_id: str, node_id: str) -> str:
    """What the engine sends (apps.nodes.base.idempotency_key), recomputed to check the node sent the right one."""
    return hashlib.sha256(f"{execution_id}:{node_id}".encode()).hexdigest()[:32]


def wait_until(predicate, timeout: float, message: str, poll: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            value = predicate()
            if value:
                return value
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {message}")


# ---------------------------------------------------------------------------------------------------------
# The side-effect counter
# ---------------------------------------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A caller that went away mid-answer (its worker was killed) is part of the fault, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Counter:
    """Counts POSTs per (execution, node) and the Idempotency-Key each carried; `delay` holds every answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.in_flight = 0
        self.delay = 0.0
        counter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                with counter.lock:
                    counter.calls[(body.get("execution", ""), body.get("node", ""))].append(key)
                    counter.in_flight += 1
                try:
                    time.sleep(counter.delay)
                    payload = b'{"ok": true}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    with counter.lock:
                        counter.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hit"
        threading.Thread(target=self.server.serve_forever, daemon=True, name="counter").start()

    def total(self) -> int:
        with self.lock:
            return sum(len(keys) for keys in self.calls.values())

    def figures(self, executions: list[str]) -> dict:
        """Calls repeated (the receiver dropped them by key), duplicate side effects (a node's calls carried
        different keys, so a receiver would apply both), and wrong keys (not the engine's key for the node)."""
        wanted = set(executions)
        repeated = duplicates = wrong_keys = 0
        with self.lock:
            for (execution, node), keys in self.calls.items():
                if execution not in wanted:
                    continue
                repeated += len(keys) - 1
                duplicates += len(set(keys)) - 1
                wrong_keys += sum(1 for key in keys if key != idempotency_key(execution, node))
        return {"repeated_calls": repeated, "duplicate_side_effects": duplicates, "wrong_keys": wrong_keys}

    def close(self, keep: bool = False) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------------


class Process:
    """One long-running command in a session of its own (a signal reaches its children too), logged to a file."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path, cwd: Path = BASE_DIR) -> None:
        self.name, self.argv, self.env, self.log_dir, self.cwd = name, argv, env, log_dir, cwd
        self.popen: subprocess.Popen | None = None
        self.generation = 0

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}-{self.generation}.log"

    def start(self) -> None:
        self.generation += 1
        with open(self.log_path, "w") as log:
            self.popen = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL the whole process group (the worker's pool children too), as a crash or an OOM kill would."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 20) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        # pool children left behind by a worker whose parent went first
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Postgres:
    """A PostgreSQL cluster of our own: initdb into `root`, pg_ctl on a free port (as `postgres` when root)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bindir = Path(subprocess.check_output(["pg_config", "--bindir"], text=True).strip())
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, cwd=self.root)

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c full_page_writes=off"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "postgres.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` is an orderly shutdown; `immediate` quits at once, as a crash does (recovery at the next start)."""
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, database: str, user: str) -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """A superuser connection: it keeps the reserved slots when the application's role used up the rest."""
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True, connect_timeout=3
        )


class Stack:
    """The production shape in processes of our own. `start()` builds it; `close()` stops and deletes it."""

    DATABASE = "concertmaster"
    #: The application's role: not a superuser (as in production), so the suite's own superuser connections keep
    #: PostgreSQL's reserved slots when the application exhausts max_connections.
    ROLE = "concertmaster"

    def __init__(
        self,
        *,
        chain_length: int = 10,
        worker_concurrency: int = 2,
        env: dict | None = None,
        code: Path | None = None,
    ) -> None:
        """`code`: the checkout whose manage.py and packages the stack runs (default: this one)."""
        self.chain_length = chain_length
        self.code = Path(code or BASE_DIR)
        self.root = Path(tempfile.mkdtemp(prefix="cm-reliability-"))
        self.root.chmod(0o755)  # the postgres user reaches its cluster inside
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.counter = Counter()
        self.postgres = Postgres(self.root / "pg")
        self.redis_port = free_port()
        self.web_port = free_port()
        self.poison_marker = self.root / "poison-runs.txt"
        from cryptography.fernet import Fernet

        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PYTEST", "DJANGO_", "CELERY_", "CONCERTMASTER_")) and key not in ("DEBUG",)
        }
        self.env.update(STACK_ENV)
        self.env.update(
            DATABASE_URL=self.postgres.url(self.DATABASE, self.ROLE),
            REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0",
            SECRET_KEY=secrets.token_urlsafe(50),
            CONCERTMASTER_CREDENTIAL_KEYS=Fernet.generate_key().decode(),
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="concertmaster.settings",
            **(env or {}),
        )
        self.redis = Process(
            "redis",
            [
                *("redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.root)),
            ],
            self.env,
            self.logs,
            self.code,
        )
        self.web = Process(
            "web",
            [PYTHON, "manage.py", "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(self.web_port)],
            self.env,
            self.logs,
            self.code,
        )
        self.worker = Process("worker", self.worker_argv(worker_concurrency), self.env, self.logs, self.code)
        self.beat = Process(
            "beat",
            [
                *(PYTHON, "-m", "celery", "-A", "concertmaster", "beat", "-l", "INFO"),
                *("--pidfile", str(self.root / "beat.pid")),
            ],
            self.env,
            self.logs,
            self.code,
        )
        self.ids: dict = {}
        self.base_url = f"http://127.0.0.1:{self.web_port}"

    def worker_argv(self, concurrency: int) -> list[str]:
        return [
            *(PYTHON, "-m", "celery", "-A", "concertmaster", "worker", "-l", "INFO"),
            *("--include", "tests.reliability.testnode_plugin"),
            *("--pool", "prefork", "--concurrency", str(concurrency)),
            # a name of its own per start, so a restarted worker is a new worker to the cluster
            *("-n", f"reliability-{os.getpid()}-%i@%h"),
        ]

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> Stack:
        self.postgres.init()
        self.start_postgres()
        with self.postgres.connect() as conn:
            conn.execute(f"CREATE ROLE {self.ROLE} LOGIN")
            conn.execute(f"CREATE DATABASE {self.DATABASE} OWNER {self.ROLE}")
        self.start_redis()
        self.ids = self.django(
            "setup",
            {
                "counter_url": self.counter.url,
                "chain_length": self.chain_length,
                "poison_marker": str(self.poison_marker),
            },
        )
        self.start_web()
        self.start_worker()
        self.start_beat()
        return self

    def start_postgres(self) -> None:
        self.postgres.start()
        wait_until(lambda: self.postgres.connect().close() or True, 30, "PostgreSQL")

    def start_redis(self) -> None:
        self.redis.start()
        wait_until(lambda: self.redis_ping(), 30, "Redis")

    def redis_ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")

    def start_web(self) -> None:
        self.web.start()
        wait_until(
            lambda: set(httpx.get(f"{self.base_url}/health", timeout=5).json()["failing"]) <= {"worker"},
            60,
            f"the web process ({self.web.log_path})",
        )

    def start_worker(self) -> None:
        self.worker.start()
        wait_until(self.healthy, 90, f"the worker ({self.worker.log_path})", poll=0.5)

    def healthy(self) -> bool:
        """/health answers 200: database, cache, broker and a worker that answers a ping."""
        return httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200

    def start_beat(self) -> None:
        """Start beat and wait until it runs its scheduler (it prints its banner then): a scenario that began
        before would measure beat's start-up (a minute on a loaded machine), not the engine's recovery."""
        self.beat.start()
        self.wait_beat()

    def wait_beat(self) -> None:
        wait_until(lambda: "LocalTime" in self.beat.log_path.read_text(errors="replace"), 180, "beat", poll=0.5)

    def ensure_running(self) -> None:
        """Bring back whatever an earlier scenario left stopped (each scenario starts from a whole stack)."""
        try:
            self.postgres.connect().close()
        except psycopg.OperationalError:
            self.start_postgres()
        if not self.redis.alive():
            self.start_redis()
        if not self.web.alive():
            self.start_web()
        if not self.worker.alive():
            self.start_worker()
        if not self.beat.alive():
            self.start_beat()

    def close(self, keep: bool = False) -> None:
        for process in (self.beat, self.worker, self.web, self.redis):
            process.stop()
        self.postgres.stop("immediate")
        self.counter.close()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def logs_tail(self) -> str:
        parts = [f"--- {p.log_path.name}\n{p.tail()}" for p in (self.worker, self.beat, self.web) if p.popen]
        return "\n".join(parts)

    # -- talking to it -------------------------------------------------------------------------------------

    def django(self, command: str, args: dict) -> dict:
        """Run tests/reliability/stack_setup.py in the stack's environment and return what it printed."""
        done = subprocess.run(
            [PYTHON, "-m", "tests.reliability.stack_setup", command, json.dumps(args)],
            cwd=self.code,
            env=self.env,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"stack_setup {command} failed:\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.ids['api_key']}"}, timeout=30
        )

    def execute(self, count: int) -> list[str]:
        with self.api() as client:
            ids = []
            for i in range(count):
                response = client.post(f"/api/v1/workflows/{self.ids['chain']}/execute/", json={"input": {"i": i}})
                response.raise_for_status()
                ids.append(response.json()["id"])
        return ids

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.postgres.connect(self.DATABASE) as conn:
            return conn.execute(sql, params).fetchall()

    def statuses(self, executions: list[str]) -> dict[str, str]:
        sql = "SELECT id::text, status FROM executions_workflowexecution WHERE id = ANY(%s::uuid[])"
        return dict(self.query(sql, (executions,)))

    def queued_nodes(self) -> int:
        return self.query("SELECT count(*) FROM executions_nodeexecution WHERE status = 'queued'")[0][0]

    def wait_finished(self, executions: list[str], timeout: float) -> bool:
        """Poll until every execution is finished or `timeout` passes; say whether all finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                statuses = self.statuses(executions)
                if len(statuses) == len(executions) and all(s in TERMINAL for s in statuses.values()):
                    return True
            time.sleep(0.5)
        return False


# ---------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    scenario: str
    executions: int
    fault_seconds: float = 0.0
    lost: int = 0
    failed: int = 0
    nodes_completed_twice: int = 0
    duplicate_side_effects: int = 0
    repeated_calls: int = 0
    wrong_keys: int = 0
    unfinished_at_fault_end: int = 0
    #: Seconds from the fault's end until every execution unfinished then had progressed; None: some never did.
    progress_seconds: float | None = 0.0
    #: Seconds from the fault's end until the last execution finished; None: some never did.
    finished_seconds: float | None = 0.0
    extra_executions: int = 0
    poison_runs: int = 0
    poison_status: str = ""
    notes: list[str] = field(default_factory=list)

    def row(self) -> list[str]:
        def seconds(value: float | None) -> str:
            return "stalled" if value is None else f"{value:.1f}"

        return [
            self.scenario,
            str(self.executions),
            f"{self.fault_seconds:.1f}",
            str(self.lost),
            str(self.nodes_completed_twice),
            str(self.duplicate_side_effects),
            str(self.repeated_calls),
            str(self.unfinished_at_fault_end),
            seconds(self.progress_seconds),
            seconds(self.finished_seconds),
            "; ".join(self.notes),
        ]


HEADER = [
    "scenario",
    "executions",
    "fault (s)",
    "lost",
    "nodes twice",
    "dup. side effects",
    "repeated calls (dropped by key)",
    "unfinished at fault end",
    "progress after fault (s)",
    "all finished after fault (s)",
    "notes",
]


def table(rows: list[Figures]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(figures.row()) + " |" for figures in rows]
    return "\n".join(lines)


def measure(
    stack: Stack,
    figures: Figures,
    executions: list[str],
    fault_end: float,
    *,
    expect_failed: tuple[str, ...] = (),
    wait_seconds: float,
) -> Figures:
    """Wait up to `wait_seconds` past the fault's end for every execution to finish, then fill `figures`."""
    stack.wait_finished(executions, max(0.0, fault_end + wait_seconds - time.time()))
    end = datetime.fromtimestamp(fault_end, UTC)
    statuses = stack.statuses(executions)
    figures.lost = sum(1 for e in executions if e not in expect_failed and statuses.get(e) != "succeeded")
    figures.failed = sum(1 for e in executions if statuses.get(e) == "failed")
    figures.nodes_completed_twice = stack.query(
        "SELECT count(*) FROM (SELECT 1 FROM executions_executionevent WHERE execution_id = ANY(%s::uuid[]) "
        "AND type = 'node_succeeded' GROUP BY execution_id, node_id HAVING count(*) > 1) twice",
        (executions,),
    )[0][0]
    unfinished = stack.query(
        "SELECT id::text FROM executions_workflowexecution WHERE id = ANY(%s::uuid[]) "
        "AND (finished_at IS NULL OR finished_at > %s)",
        (executions, end),
    )
    unfinished = [row[0] for row in unfinished]
    figures.unfinished_at_fault_end = len(unfinished)
    if unfinished:
        first_progress = dict(
            stack.query(
                "SELECT execution_id::text, min(at) FROM executions_executionevent "
                "WHERE execution_id = ANY(%s::uuid[]) AND at > %s AND type = ANY(%s) GROUP BY execution_id",
                (unfinished, end, list(PROGRESS_EVENTS)),
            )
        )
        if len(first_progress) < len(unfinished):
            figures.progress_seconds = None
        else:
            figures.progress_seconds = max((at - end).total_seconds() for at in first_progress.values())
        last = stack.query(
            "SELECT count(*), max(finished_at) FROM executions_workflowexecution WHERE id = ANY(%s::uuid[]) "
            "AND finished_at IS NOT NULL",
            (unfinished,),
        )[0]
        figures.finished_seconds = (last[1] - end).total_seconds() if last[0] == len(unfinished) else None
    counted = stack.counter.figures(executions)
    figures.repeated_calls = counted["repeated_calls"]
    figures.duplicate_side_effects = counted["duplicate_side_effects"]
    figures.wrong_keys = counted["wrong_keys"]
    if figures.wrong_keys:
        figures.notes.append(f"{figures.wrong_keys} calls with a key that is not the node's")
    return figures
