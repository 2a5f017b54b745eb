"""A real Celery worker (in a thread, on the configured broker) and the test node types, for engine tests.

The worker starts once per session (stopping one takes seconds); each test purges the queue before it
starts and waits for the worker to be idle before its database is flushed.
"""

import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.worker import state as worker_state

from concertmaster.celery import app
from tests.executions.engine import testnodes


@pytest.fixture
def test_nodes():
    with testnodes.registered():
        yield


@pytest.fixture(scope="session")
def session_worker(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        app.control.purge()
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
            yield worker


def wait_idle(timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (worker_state.active_requests or worker_state.reserved_requests) and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def engine_worker(session_worker, transactional_db, test_nodes):
    """The session's worker, consuming the engine's tasks; the test's database is shared with it."""
    app.control.purge()
    yield session_worker
    app.control.purge()
    wait_idle()
