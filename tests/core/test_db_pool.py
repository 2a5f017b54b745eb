"""PostgreSQL connections are pooled: requests to a real ASGI server reuse the same backends."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="The pool is PostgreSQL's (embedded SQLite has no connections)."
    ),
    pytest.mark.django_db(transaction=True),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_backends(database: str) -> set[int]:
    """Backend pids of client connections to `database`, other than this test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'",
            [database],
        )
        return {row[0] for row in cursor.fetchall()}


def _serve(database_url: str, port: int, **extra: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG")}
    env.update(
        DATABASE_URL=database_url,
        SECRET_KEY="test-only-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        CONCERTMASTER_EMBEDDED_WORKER="false",
        **extra,
    )
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _get_until_up(url: str) -> httpx.Response:
    deadline = time.monotonic() + 240
    while True:
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture
def pooled():
    """The default connection served by a pool in this test process (web processes have one by default)."""
    saved = {key: connection.settings_dict[key] for key in ("CONN_MAX_AGE", "OPTIONS")}
    connection.close()
    pool = {"min_size": 1, "max_size": 4, "timeout": 10.0}
    connection.settings_dict.update(CONN_MAX_AGE=0, OPTIONS={**saved["OPTIONS"], "pool": pool})
    yield connection
    connection.close()
    connection.close_pool()
    connection.settings_dict.update(saved)


@pytest.mark.slow
def test_requests_through_uvicorn_reuse_the_pooled_connections():
    """Each request under ASGI runs in a new thread: without a pool every one opened (and closed) a backend."""
    params = connection.settings_dict
    database = params["NAME"]
    url = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{database}"
    before = _server_backends(database)
    port = _free_port()
    server = _serve(url, port, CONCERTMASTER_DB_POOL_MIN_SIZE="1", CONCERTMASTER_DB_POOL_MAX_SIZE="3")
    try:
        health = f"http://127.0.0.1:{port}/health"
        first = _get_until_up(health)
        assert first.json()["checks"]["database"] == {"ok": True}
        opened = _server_backends(database) - before
        assert opened, "the server holds no connection between requests"
        for _ in range(10):
            assert httpx.get(health, timeout=10).json()["checks"]["database"] == {"ok": True}
        assert _server_backends(database) - before == opened
        assert len(opened) <= 3
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_a_worker_keeps_its_pooled_connection_across_tasks(pooled):
    """In a worker process (after `worker_init`) a task thread does not hand its connection back after each task."""
    from django.db.backends.signals import connection_created

    from apps.core import dbpool
    from apps.executions.engine.connections import recycle

    connection.close()
    connection_created.connect(dbpool.keep_in_worker, weak=False, dispatch_uid="test-keep-in-worker")
    try:
        pids = set()
        for _ in range(5):  # what the worker does around each task: recycle, statements, recycle
            recycle()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.add(cursor.fetchone()[0])
            recycle()
            assert connection.connection is not None
        assert len(pids) == 1
    finally:
        connection_created.disconnect(dispatch_uid="test-keep-in-worker")
        connection.close()


def test_without_the_worker_hook_a_connection_goes_back_to_the_pool_after_a_task(pooled):
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    from apps.executions.engine.connections import recycle

    recycle()
    assert connection.connection is None  # returned (CONN_MAX_AGE 0), as a request's is at its end
