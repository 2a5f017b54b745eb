"""`manage.py serve --workers N` runs N web processes on one port (production mode); embedded mode refuses it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.executions.management.commands.serve import WORKERS_NEED_SERVICES

BASE_DIR = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _is_web_worker(pid: int) -> bool:
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()  # not multiprocessing's resource tracker
    except OSError:
        return False


@pytest.mark.skipif(connection.vendor == "postgresql", reason="The refusal is the embedded mode's.")
def test_embedded_mode_refuses_several_web_processes():
    with pytest.raises(CommandError) as refused:
        call_command("serve", workers=2, no_worker=True)
    assert str(refused.value) == WORKERS_NEED_SERVICES


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="Several web processes need PostgreSQL and Redis.")
def test_serve_with_two_workers_answers_from_two_processes():
    params = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DEBUG")}
    env.update(
        DATABASE_URL=f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}",
        SECRET_KEY="test-only-" + "x" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        CONCERTMASTER_DB_POOL_MIN_SIZE="1",
        CONCERTMASTER_DB_POOL_MAX_SIZE="2",
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-worker", "--workers", "2", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        answers = 0
        while answers < 10:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
                assert response.json()["checks"]["database"] == {"ok": True}
                answers += 1
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.3)
        workers = [pid for pid in _children(server.pid) if _is_web_worker(pid)]
        assert len(workers) == 2
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
