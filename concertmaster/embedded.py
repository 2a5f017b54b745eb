"""The embedded mode's Celery worker and beat, run as threads inside the server process.

Used only when no REDIS_URL is set: the broker is kombu's in-memory transport, which works only
inside one process, so the worker has to live beside the web server.
"""

import logging
import threading

from celery.beat import EmbeddedService
from celery.contrib.testing.worker import start_worker
from django_celery_beat.schedulers import DatabaseScheduler

from concertmaster.celery import app

logger = logging.getLogger(__name__)

# Module-level references: a started worker whose context manager is garbage-collected stops silently.
_worker_context = None
_beat = None
_lock = threading.Lock()


def start(*, beat: bool = True) -> None:
    """Start one worker thread (solo pool: SQLite has one writer) and, if asked, beat. Idempotent."""
    global _worker_context, _beat
    with _lock:
        if _worker_context is None:
            _worker_context = start_worker(
                app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=5
            )
            _worker_context.__enter__()
            logger.info("Embedded Celery worker started")
        if beat and _beat is None:
            _beat = EmbeddedService(app, thread=True, scheduler_cls=DatabaseScheduler)
            _beat.start()
            logger.info("Embedded Celery beat started")


def is_running() -> bool:
    return _worker_context is not None
