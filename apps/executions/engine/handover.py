"""What a committed unit hands over: node tasks and wake-ups sent, tasks revoked, after-commit callbacks run, and
its events published live (on one background thread, in commit order)."""

from __future__ import annotations

import logging
import queue
import threading
import time

from ..models import ExecutionEvent
from . import leases, sending

logger = logging.getLogger(__name__)


class _Publisher:
    """Hands committed events to `apps.executions.events.publish_committed()` on one background thread, in
    commit order.

    A worker goes on to its next node at once instead of waiting for the channel layer (a Redis round trip
    per group and event). Live events are a convenience: one lost at process exit is replayed by clients
    from the database.
    """

    #: Events per send at most (a batch is one channel-layer message per group).
    MAX_BATCH = 200
    #: Sends are at least this far apart: a worker running a node every few milliseconds sends its events a few
    #: nodes at a time (each send is a dozen Redis round trips on this process's CPU), one idle for longer sends
    #: at once. It bounds what the batching adds to a live event's latency.
    MIN_INTERVAL_SECONDS = 0.01

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, events: list[ExecutionEvent]) -> None:
        if not events:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="concertmaster-events", daemon=True)
                self._thread.start()
        self._queue.put(events)

    def _run(self) -> None:
        from apps.executions import events as live

        sent_at = 0.0
        while True:
            # Everything committed while the previous send was in flight goes out together, in commit order.
            batch = list(self._queue.get())
            pause = sent_at + self.MIN_INTERVAL_SECONDS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            sent_at = time.monotonic()
            try:
                live.publish_committed(batch)
            except Exception:  # publish_committed() logs its own errors; this guards the thread itself
                logger.exception("Publishing %d events failed", len(batch))


publisher = _Publisher()


def hand_over(events, dispatches, wakes, revokes, after) -> None:
    """After a commit: send the node tasks and wake-ups, revoke, run the callbacks, publish the events.

    The broker failing here (after the commit) never raises to the caller: the nodes it could not take stay
    `queued` in the database with their lease already expired, so the reaper sends them again on its next
    pass once the broker is back. Wake-ups and callbacks have database safety nets of their own (the waker reads
    `wake_at`, the children re-check, the start of queued executions runs on every recovery pass).
    """
    unsent: list[str] = []
    for execution_id, node_execution_id, node_id, task_id, version_id in dispatches:
        if unsent:  # the broker already failed for this commit: do not wait for it once per node
            unsent.append(node_execution_id)
            continue
        args = [execution_id, node_execution_id, node_id, version_id]
        try:
            # The args are ids: their plain repr is what Celery's saferepr would give, at a fraction of its cost.
            sending.task(sending.RUN_NODE).apply_async(args=args, task_id=task_id, argsrepr=repr(args), kwargsrepr="{}")
        except Exception:
            logger.warning("The broker did not take node %s of %s; the reaper will send it", node_id, execution_id)
            unsent.append(node_execution_id)
    if unsent:
        _leave_for_reaper(unsent)
    try:
        for execution_id, node_execution_id, countdown in wakes:
            sending.task(sending.WAKE_NODE).apply_async(args=[execution_id, node_execution_id], countdown=countdown)
    except Exception:
        logger.warning("The broker did not take %d wake-ups; the waker will run them when due", len(wakes))
    if revokes:
        _revoke(revokes)
    for callback in after:
        try:
            callback()
        except Exception:
            logger.warning("An after-commit step of the engine failed; recovery will redo it", exc_info=True)
    publisher.put(events)


def _leave_for_reaper(node_execution_ids: list[str]) -> None:
    """Expire the lease of queued nodes whose task the broker did not take, so the next reaper pass resends them."""
    try:
        leases.expire_queued(node_execution_ids)
    except Exception:  # the database is down too: the lease set at queueing still runs out later
        logger.warning("Could not expire the lease of %d unsent nodes", len(node_execution_ids), exc_info=True)


def _revoke(task_ids: list[str]) -> None:
    """Ask workers to drop queued tasks. Best effort: a task that still arrives finds its node moved on."""
    from concertmaster.celery import app

    try:
        app.control.revoke(task_ids)
    except Exception:
        logger.warning("Revoking %d tasks failed; their claims will be refused", len(task_ids), exc_info=True)
