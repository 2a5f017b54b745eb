"""Node threads: a node runs in a thread of its own (kept from one node to the next per worker thread), waited for
until its timeout while the lease is renewed."""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import threading
import time
from typing import Any, cast

from django.db import connections

from apps.nodes.base import NodeContext, NodeError, NodeResult, Suspend

from . import presence
from .outcomes import (
    ABANDONED,
    ERROR_BAD_RESULT,
    ERROR_EXCEPTION,
    ERROR_NODE,
    ERROR_TIMEOUT,
    MSG_BAD_RESULT,
    MSG_TIMEOUT,
    Failure,
    _json_data,
)

logger = logging.getLogger(__name__)


class _EngineError(Exception):
    """An error of the engine's own steps run in the node thread (breaker, credentials): raised again in the task."""


class _NodeThread:
    """A thread that runs nodes one at a time for one worker thread, kept from one node to the next (starting a
    thread per node cost more than a no-op node). A run that is given up on (timed out, abandoned) keeps its
    thread, which is then dropped: the next run starts a new one."""

    _local = threading.local()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._serve, name="node", daemon=True)
        self._thread.start()

    @classmethod
    def take(cls) -> _NodeThread:
        """This worker thread's idle node thread, or a new one (also in a forked child, where threads are gone)."""
        idle = getattr(cls._local, "idle", None)
        cls._local.idle = None
        if idle is not None and idle._pid == os.getpid() and idle._thread.is_alive():
            return idle
        return cls()

    def give_back(self) -> None:
        self._local.idle = self

    def submit(self, name: str, context: contextvars.Context, job) -> threading.Event:
        done = threading.Event()
        self._jobs.put((name, context, job, done))
        return done

    def _serve(self) -> None:
        while True:
            name, context, job, done = self._jobs.get()
            threading.current_thread().name = name
            try:
                context.run(job)
            finally:
                done.set()


def run_with_timeout(run, ctx: NodeContext, *, timeout: float, renew) -> Any:
    """Run `run(ctx)` in a node thread; wait at most `timeout` seconds, calling `renew()` every third of a lease.

    A thread past its timeout cannot be killed safely in Python: it is left to finish in the background and
    its result is ignored (nodes doing I/O should also pass their own timeouts to their clients).
    """
    return _run_timed(lambda: _checked(run(ctx)), name=f"node-{ctx.node_id}", timeout=timeout, renew=renew)


def _checked(result: Any) -> NodeResult | Suspend | Failure:
    if not isinstance(result, NodeResult | Suspend):
        return Failure(ERROR_BAD_RESULT, MSG_BAD_RESULT.format(kind=type(result).__name__), retryable=False)
    return result


def _run_timed(job, *, name: str, timeout: float, renew, deadline: float | None = None) -> Any:
    """Run `job()` in a node thread until `deadline` (`timeout` seconds from now by default), renewing the lease;
    its result, a Failure for an exception or the timeout, or ABANDONED when the lease was lost."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = job()
        except BaseException as exc:  # the node's failure is data for the engine, whatever it is
            box["error"] = exc
        finally:
            connections.close_all()

    # The node's own logs carry the run's bound context (execution, node, correlation id).
    node_thread = _NodeThread.take()
    done = node_thread.submit(name, contextvars.copy_context(), target)
    renew_every = presence.renew_seconds()
    deadline = time.monotonic() + timeout if deadline is None else deadline
    while True:
        remaining = deadline - time.monotonic()
        if done.wait(max(min(renew_every, remaining), 0)):
            break
        if time.monotonic() >= deadline:
            return Failure(ERROR_TIMEOUT, MSG_TIMEOUT.format(seconds=timeout))
        if not renew():
            return ABANDONED
    node_thread.give_back()
    error = box.get("error")
    if isinstance(error, _EngineError):
        raise cast(BaseException, error.__cause__)  # an _EngineError always wraps its cause
    if error is not None:
        return _failure_from_exception(error)
    return box.get("result")


def _failure_from_exception(exc: BaseException) -> Failure:
    if isinstance(exc, NodeError):
        data = _json_data(exc.data)
        if data is None:
            data = {"unserializable": repr(exc.data)[:1000]}
        return Failure(ERROR_NODE, str(exc.message), retryable=exc.retryable, data=data)
    logger.warning("Node raised an unexpected exception", exc_info=exc)
    return Failure(ERROR_EXCEPTION, f"{type(exc).__name__}: {exc}")
