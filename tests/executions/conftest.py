"""A real Celery worker (in a thread, on the configured broker) and the test node types, for tests that run nodes.

The worker starts once for tests/executions (stopping one takes seconds) and stops when its tests are done,
before other packages start workers of their own in this process. Defined here once: a module importing these
fixtures would get a worker of its own beside this one, and two workers in one process steal each other's tasks.
Each test purges the queue before it
starts, keeps countdowns short, and waits for the worker to be idle before its database is flushed (a task
still running then would race the flush).
"""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.worker import state as worker_state
from django.db import connections

from concertmaster.celery import app
from tests.executions.engine import testnodes


@pytest.fixture
def test_nodes():
    with testnodes.registered():
        yield


@pytest.fixture(scope="package")
def session_worker(django_db_setup, django_db_blocker):
    # The worker thread's connection is closed after each task (a connection left open in a thread that
    # is gone keeps PostgreSQL from dropping the test database).
    database = connections.settings["default"]
    max_age = database.get("CONN_MAX_AGE", 0)
    database["CONN_MAX_AGE"] = 0
    with django_db_blocker.unblock():
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker
    database["CONN_MAX_AGE"] = max_age


def wait_idle(timeout: float = 20.0) -> None:
    """Wait until the worker runs nothing and holds nothing (tasks with a countdown are held, reserved)."""
    deadline = time.monotonic() + timeout
    while (worker_state.active_requests or worker_state.reserved_requests) and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def engine_worker(session_worker, transactional_db, test_nodes, settings):
    """The package's worker, consuming the engine's tasks; the test's database is shared with it."""
    # Longer waits are left to the waker (tests call it): a long countdown would outlive its test.
    settings.CONCERTMASTER_ENGINE_MAX_COUNTDOWN_SECONDS = 2
    app.control.purge()
    yield session_worker
    app.control.purge()
    wait_idle()
