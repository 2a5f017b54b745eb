"""The server starts the way `make run` starts it and serves the admin."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_make_run_path_serves_the_admin_login(tmp_path):
    """migrate + bootstrap_demo + serve (embedded worker and beat) answer /admin/login/ with 200."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'smoke.sqlite3'}"
    env["DEBUG"] = "1"
    env["CONCERTMASTER_DEMO"] = "1"
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--noinput"], ["bootstrap_demo"]):
        result = subprocess.run(manage + command, cwd=BASE_DIR, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    assert "admin / concertmaster" in result.stdout
    port = _free_port()
    server = subprocess.Popen(
        [*manage, "serve", "--port", str(port)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/admin/login/", timeout=2).status_code
            except httpx.TransportError:
                time.sleep(0.3)
        assert status == 200
        login = httpx.Client(base_url=f"http://127.0.0.1:{port}")
        page = login.get("/admin/login/")
        response = login.post(
            "/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": "concertmaster",
                "csrfmiddlewaretoken": page.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"},
        )
        assert response.status_code == 302 and response.headers["location"] == "/admin/"
        assert "Greet and check an order" in login.get("/admin/workflows/workflow/").text
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=15)
    assert "Embedded Celery worker and beat running" in output
