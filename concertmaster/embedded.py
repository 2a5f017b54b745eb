"""The embedded mode's Celery worker and beat, run as threads inside the server process.

Used only when no REDIS_URL is set: the broker is kombu's in-memory transport, which works only
inside one process, so the worker has to live beside the web server.
"""

import asyncio
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
# The event loop of the ASGI server in this process: the in-memory channel layer lives on it, so threads
# (the embedded worker) hand their channel layer sends to it instead of running their own loop.
_server_loop: asyncio.AbstractEventLoop | None = None


def start(*, beat: bool = True) -> None:
    """Start one worker thread (solo pool: SQLite has one writer) and, if asked, beat. Idempotent.

    Nodes left queued or running by the previous server process are re-queued: their tasks lived in that
    process's in-memory broker and are gone.
    """
    global _worker_context, _beat
    with _lock:
        if _worker_context is None:
            _worker_context = start_worker(
                app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING", shutdown_timeout=5
            )
            _worker_context.__enter__()
            logger.info("Embedded Celery worker started")
            from apps.executions.engine.recovery import recover_on_start

            logger.info("Embedded worker recovery: %s", recover_on_start(embedded=True))
        if beat and _beat is None:
            _beat = EmbeddedService(app, thread=True, scheduler_cls=DatabaseScheduler)
            _beat.start()
            logger.info("Embedded Celery beat started")


def is_running() -> bool:
    return _worker_context is not None


def set_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    """Record (or, with None, forget) the running ASGI server's event loop."""
    global _server_loop
    _server_loop = loop


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The registered server loop while it runs; None when there is none or it stopped."""
    loop = _server_loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return None
    return loop


async def serve(server) -> None:
    """Run an ASGI server (`uvicorn.Server`) on the current loop, registered as the server loop meanwhile."""
    set_server_loop(asyncio.get_running_loop())
    try:
        await server.serve()
    finally:
        set_server_loop(None)
