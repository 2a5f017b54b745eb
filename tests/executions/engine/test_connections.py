"""Connections around worker tasks: closed when broken or too old, health-checked once a second, not per task."""

import time

import pytest
from django.db import connections

from apps.executions.engine import connections as task_connections
from apps.executions.engine.connections import recycle


@pytest.fixture
def conn(transactional_db, monkeypatch):
    """The default connection with health checks on and a CONN_MAX_AGE, as a deployment has; counts checks."""
    conn = connections["default"]
    saved = {key: conn.settings_dict[key] for key in ("CONN_HEALTH_CHECKS", "CONN_MAX_AGE", "OPTIONS")}
    conn.close()
    # Without the pool (CONCERTMASTER_DB_POOL=false): with it, the pool checks a connection when it lends it.
    options = {key: value for key, value in conn.settings_dict["OPTIONS"].items() if key != "pool"}
    conn.settings_dict.update(CONN_HEALTH_CHECKS=True, CONN_MAX_AGE=60, OPTIONS=options)
    conn.close()
    conn.ensure_connection()
    monkeypatch.setattr(conn, "concertmaster_recheck_at", 0.0, raising=False)
    conn.checks = []
    is_usable = conn.is_usable
    monkeypatch.setattr(conn, "is_usable", lambda: conn.checks.append(1) or is_usable())
    yield conn
    conn.close()
    conn.settings_dict.update(saved)


def run_task(conn) -> None:
    """What the worker does for one task: the prerun signal, a statement, the postrun signal."""
    recycle()
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1")
    recycle()


def test_a_busy_worker_checks_its_connection_once_per_recheck_interval(conn):
    for _ in range(5):
        run_task(conn)
    assert len(conn.checks) == 1
    recheck_at = conn.concertmaster_recheck_at
    assert 0 < recheck_at - time.monotonic() <= task_connections.RECHECK_SECONDS
    conn.concertmaster_recheck_at = time.monotonic() - 0.001  # as when the interval has passed
    run_task(conn)
    assert len(conn.checks) == 2


def test_a_connection_with_an_error_is_checked_and_closed_when_broken(conn, monkeypatch):
    run_task(conn)
    conn.errors_occurred = True  # a statement of the task failed
    monkeypatch.setattr(conn, "is_usable", lambda: False)
    recycle()
    assert conn.connection is None


def test_a_connection_with_an_error_that_still_works_is_kept(conn):
    run_task(conn)
    checks = len(conn.checks)
    conn.errors_occurred = True
    recycle()
    assert conn.connection is not None
    assert len(conn.checks) == checks + 1
    assert not conn.errors_occurred


def test_a_connection_past_its_max_age_is_closed(conn):
    run_task(conn)
    conn.close_at = time.monotonic() - 1
    recycle()
    assert conn.connection is None


def test_a_connection_left_in_a_transaction_is_closed(conn):
    run_task(conn)
    conn.set_autocommit(False)
    recycle()
    assert conn.connection is None
