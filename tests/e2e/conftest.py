"""Browser tests: a real server (`manage.py serve`, embedded worker) on a scratch SQLite file, driven by the
system Chromium through Playwright's sync API. Never `playwright install`: CI installs Chromium with apt."""

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERNAME = "admin"
PASSWORD = "concertmaster"
SERVER_START_SECONDS = 60

#: Builds a 200-node workflow (a trigger, then 199 set nodes in ten parallel chains) for the scale test.
BIG_WORKFLOW_SCRIPT = """
from apps.orgs.models import Organization
from apps.workflows.services import workflow_create
nodes = [{"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 900}}]
edges = []
for i in range(199):
    chain, step = divmod(i, 20)
    node_id = f"n{i}"
    nodes.append({"id": node_id, "type": "set", "config": {"values": {"i": i}},
                  "position": {"x": 260 * (step + 1), "y": 180 * chain}})
    edges.append({"source": "start" if step == 0 else f"n{i - 1}", "target": node_id})
workflow = workflow_create(organization=Organization.objects.get(slug="demo"), name="Two hundred nodes",
                           definition={"nodes": nodes, "edges": edges, "variables": {}})
print(workflow.pk)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database: Path | str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    # The embedded default: SQLite, in-memory channel layer, worker and beat inside the server process.
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    env.update({"DEBUG": "1", "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"})
    return env


def scratch_postgres(url: str) -> str:
    """Drop and create the database `url` names (a scratch database for one test module); return `url`.

    Set E2E_DATABASE_URL=postgres://.../<name> to run the browser tests on PostgreSQL (jsonb, as in
    production) instead of a SQLite file; the worker stays embedded.
    """
    import psycopg

    name = urllib.parse.urlsplit(url).path.lstrip("/")
    assert name.isidentifier(), f"E2E_DATABASE_URL must name a plain database, not {name!r}"
    maintenance = urllib.parse.urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return url


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The server exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"The server did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def live_server_info(tmp_path_factory):
    """A migrated scratch database with the demo data and a 200-node workflow, served on a free port."""
    workdir = tmp_path_factory.mktemp("e2e")
    postgres = os.environ.get("E2E_DATABASE_URL")
    env = server_env(scratch_postgres(postgres) if postgres else workdir / "e2e.sqlite3")
    manage(env, "migrate", "--noinput")
    manage(env, "bootstrap_demo")
    big_workflow_id = manage(env, "shell", "-c", BIG_WORKFLOW_SCRIPT).strip().splitlines()[-1]
    port = free_port()
    log = workdir / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/static/editor/editor.css", process, log)
        yield {"base_url": base_url, "big_workflow_id": big_workflow_id, "log": log, "env": env}
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module. Playwright's sync API runs an event loop in this thread, and Django
    refuses ORM calls from a thread with a running loop unless DJANGO_ALLOW_ASYNC_UNSAFE is set: set it
    while the browser lives, so the rest of the suite keeps Django's guard."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run .ci/browser (apt-get install -y chromium)."
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.failed_call = report.failed
    return report


@pytest.fixture
def page(browser, live_server_info, request):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server_info["base_url"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    yield page
    if getattr(request.node, "failed_call", False):
        # Leave what the browser showed and what the server said where CI keeps artifacts.
        failure_dir = ROOT / "var" / "e2e-failures"
        failure_dir.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(failure_dir / f"{request.node.name}.png"))
        log_tail = live_server_info["log"].read_text()[-6000:]
        (failure_dir / f"{request.node.name}.log").write_text(log_tail)
        print(f"page errors: {errors}\nserver log tail:\n{log_tail}")
    context.close()


@pytest.fixture
def logged_in_page(page):
    page.goto("/admin/login/?next=/workflows/new/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/workflows/new/")
    return page
