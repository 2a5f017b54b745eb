"""A real n8n for the contract tests (started once per session) and a Celery worker for this package.

n8n 1.123.50 is installed by `.ci/n8n` into a cache folder outside the repository; without it the tests that
need it are skipped with a message saying how to install it. The worker follows tests/executions/conftest.py:
one per package, started when this package's first test needs it.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from celery.worker import state as worker_state
from django.db import connections

from concertmaster.celery import app

N8N_VERSION = "1.123.50"
N8N_HOME = Path(
    os.environ.get("CONCERTMASTER_N8N_HOME") or Path.home() / ".cache" / "concertmaster" / f"n8n-{N8N_VERSION}"
)
N8N_BIN = N8N_HOME / "node_modules" / ".bin" / "n8n"
NOT_INSTALLED = (
    f"n8n {N8N_VERSION} is not installed in {N8N_HOME}: run `.ci/n8n` (about 12 minutes and 1.7 GB, once; "
    "CONCERTMASTER_N8N_HOME picks another folder) to enable the n8n contract tests."
)
STARTUP_SECONDS = 240
API_KEY_SCOPES = [
    "workflow:create",
    "workflow:read",
    "workflow:update",
    "workflow:delete",
    "workflow:list",
    "workflow:activate",
    "workflow:deactivate",
]


@dataclass(frozen=True)
class N8n:
    url: str
    api_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    """`/rest/settings` answers once n8n can serve its API (the readiness probe answers seconds earlier)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"n8n exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            response = httpx.get(f"{url}/rest/settings", timeout=2)
            # While it starts, n8n answers every path with 200 and the text "n8n is starting up".
            if response.status_code == 200 and "json" in response.headers.get("content-type", ""):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"n8n did not answer /rest/settings within {STARTUP_SECONDS} s: {log.read_text()[-2000:]}")


def _owner_and_key(url: str) -> str:
    with httpx.Client(base_url=url, timeout=30) as client:
        owner = {"email": "owner@example.com", "firstName": "Test", "lastName": "Owner", "password": "Passw0rd-n8n-1"}
        client.post("/rest/owner/setup", json=owner).raise_for_status()  # its cookie signs the next call in
        body = {"label": "concertmaster-tests", "scopes": API_KEY_SCOPES, "expiresAt": None}
        response = client.post("/rest/api-keys", json=body)
        response.raise_for_status()
        if "json" not in response.headers.get("content-type", ""):
            raise RuntimeError(f"n8n's API key answer: HTTP {response.status_code} {response.text[:500]!r}")
        return response.json()["data"]["rawApiKey"]


@pytest.fixture(scope="session")
def n8n():
    """A fresh n8n on a free port with an owner and an API key; skipped when n8n is not installed."""
    if not N8N_BIN.exists():
        pytest.skip(NOT_INSTALLED)
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="cm-n8n-"))
    log = folder / "n8n.log"
    env = {
        **os.environ,
        "N8N_PORT": str(port),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_USER_FOLDER": str(folder),
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_SECURE_COOKIE": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "GENERIC_TIMEZONE": "UTC",  # the translated Date & Time nodes work in UTC (the workflows set no zone)
    }
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(N8N_BIN), "start"], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(url, process, log)
        yield N8n(url=url, api_key=_owner_and_key(url))
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
def integrations_worker(django_db_setup, django_db_blocker):
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock():
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    database["CONN_MAX_AGE"] = max_age


@pytest.fixture
def worker(integrations_worker, transactional_db, settings):
    """The package's worker on the test's database; waits for it to be idle before the database is flushed."""
    settings.CONCERTMASTER_ENGINE_MAX_COUNTDOWN_SECONDS = 2
    app.control.purge()
    yield integrations_worker
    app.control.purge()
    deadline = time.monotonic() + 20
    while (worker_state.active_requests or worker_state.reserved_requests) and time.monotonic() < deadline:
        time.sleep(0.02)
