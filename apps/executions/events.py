"""Live events: every ExecutionEvent goes out through `publish()` to the channel groups watching it.

`publish(event)` takes a saved ExecutionEvent row and sends one versioned JSON message
(`event_payload`) to the groups `execution.<id>`, `workflow.<id>` and `org.<id>`.

- After commit: publish defers the send with `transaction.on_commit`, so the engine calls it right where
  it appends the event, inside its transaction; a rolled-back transition publishes nothing. Called
  outside a transaction, or from an on_commit callback, it sends at once (Django runs on_commit callbacks
  immediately when no transaction is open), so either way is correct.
- Never raises: a live update is a convenience, the database is the record. Any failure (a full
  channel, Redis down, a closed loop) is logged and the event dropped; clients replay what they missed
  from ExecutionEvent with `?since=<seq>`.
- Where the send runs: when a server loop is registered (`concertmaster.embedded.server_loop()`, the
  embedded mode, whose `InMemoryChannelLayer` belongs to that loop and is not thread-safe while the worker
  runs in a thread) it is handed to that loop with `run_coroutine_threadsafe`. Elsewhere an in-memory
  layer is used through `async_to_sync` (tests), and channels-redis (a Celery worker process) through one
  publisher loop per process, kept running in a daemon thread so its Redis connections are reused
  (a new loop per event costs about 4 ms more). The caller waits for the send (in order, bounded by
  HANDOFF_TIMEOUT_SECONDS).
- The engine's workers do not call `publish()` per event: their publisher thread sends what has committed
  meanwhile with `publish_committed(events)`, one message per group holding `"events": [...]` in order.
- Each message names its group (`{"type", "group", "event"}`): the server's hub (`hub.py`) receives a
  group once per process, through one channel that is in several groups.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

from .models import ExecutionEvent, WorkflowExecution

logger = logging.getLogger(__name__)

EVENT_VERSION = 1
#: The channel layer message type; consumers handle it in `execution_event`.
MESSAGE_TYPE = "execution.event"
#: How long a worker thread waits for the server loop to take a send before dropping it.
HANDOFF_TIMEOUT_SECONDS = 5.0

#: The status each event type means, for events whose data does not say.
EVENT_STATUSES = {
    "execution_started": "running",
    "execution_paused": "paused",
    "execution_resumed": "running",
    "execution_succeeded": "succeeded",
    "execution_failed": "failed",
    "execution_cancelled": "cancelled",
    "node_queued": "queued",
    "node_started": "running",
    "node_retrying": "retrying",
    "node_waiting": "waiting",
    "node_succeeded": "succeeded",
    "node_failed": "failed",
    "node_skipped": "skipped",
    "node_cancelled": "cancelled",
}


def execution_group(execution_id) -> str:
    return f"execution.{execution_id}"


def workflow_group(workflow_id) -> str:
    return f"workflow.{workflow_id}"


def organization_group(organization_id) -> str:
    return f"org.{organization_id}"


def event_payload(event: ExecutionEvent, *, workflow_id=None) -> dict:
    """The one JSON shape of a live event (version 1); every value is plain JSON data.

    `workflow_id` saves a query when the caller knows it; otherwise it is read from the event's cached
    execution, or fetched.
    """
    if workflow_id is None:
        if ExecutionEvent.execution.is_cached(event):
            workflow_id = event.execution.workflow_id
        else:
            workflow_id = WorkflowExecution.objects.values_list("workflow_id", flat=True).get(pk=event.execution_id)
    data = event.data if isinstance(event.data, dict) else {}
    return {
        "v": EVENT_VERSION,
        "type": event.type,
        "execution_id": str(event.execution_id),
        "workflow_id": str(workflow_id),
        "node_id": event.node_id or None,
        "status": data.get("status") or EVENT_STATUSES.get(event.type),
        "seq": event.seq,
        "at": event.at.isoformat(),
        "data": data,
    }


def publish(event: ExecutionEvent) -> None:
    """Send `event` to its execution's, workflow's and organization's groups once the transaction commits."""
    try:
        payload = event_payload(event)
        groups = _groups(payload, event.organization_id)
        transaction.on_commit(partial(send_to_groups, groups, payload), robust=True)
    except Exception:
        logger.exception("Could not publish execution event %s #%s", event.execution_id, event.seq)


def publish_committed(events: Iterable[ExecutionEvent]) -> None:
    """Send events that are already committed, in order, with one message per group for all of them.

    A message carries `"events": [...]` instead of `"event"`: the engine's publisher hands over whatever
    committed while the previous send was in flight, so a busy worker makes a few group sends per batch
    instead of three per event (channels-redis costs two to four Redis round trips per group send).
    """
    batches: dict[str, list[dict]] = {}
    for event in events:
        try:
            payload = event_payload(event)
        except Exception:
            logger.exception("Could not publish execution event %s #%s", event.execution_id, event.seq)
            continue
        for group in _groups(payload, event.organization_id):
            batches.setdefault(group, []).append(payload)
    if batches:
        _send([(group, {"type": MESSAGE_TYPE, "group": group, "events": sent}) for group, sent in batches.items()])


def _groups(payload: dict, organization_id) -> tuple[str, str, str]:
    return (
        execution_group(payload["execution_id"]),
        workflow_group(payload["workflow_id"]),
        organization_group(organization_id),
    )


async def _group_send_all(layer: BaseChannelLayer, messages: list[tuple[str, dict]]) -> None:
    if isinstance(layer, RedisChannelLayer) and len(messages) > 1:
        messages = await _watched(layer, messages)
    for group, message in messages:
        try:
            await layer.group_send(group, message)
        except ChannelFull:
            logger.warning("Channel full: dropped %s for %s", _describe(message), group)


async def _watched(layer: RedisChannelLayer, messages: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The messages whose group has a member, asking Redis about all the groups in one round trip per server.

    channels-redis's `group_send` takes two round trips to find a group empty, and most groups a worker sends to
    are (nobody watches most executions): a node's events cost six round trips of the worker's CPU for nothing.
    A member that joins just after this count misses the message, as it would just after `group_send`'s own read.
    """
    live_after = int(time.time()) - layer.group_expiry  # group_send drops members at or below this score
    by_server: dict[int, list[int]] = {}
    for index, (group, _) in enumerate(messages):
        by_server.setdefault(layer.consistent_hash(group), []).append(index)
    watched = [False] * len(messages)
    for server, indexes in by_server.items():
        pipe = layer.connection(server).pipeline(transaction=False)
        for index in indexes:
            pipe.zcount(layer._group_key(messages[index][0]), f"({live_after}", "+inf")
        for index, members in zip(indexes, await pipe.execute(), strict=True):
            watched[index] = members > 0
    return [message for message, is_watched in zip(messages, watched, strict=True) if is_watched]


def _describe(message: dict) -> str:
    """For logs: which event, or which run of events, a message carries."""
    if "event" in message:
        return f"event #{message['event']['seq']}"
    return f"events #{message['events'][0]['seq']}-#{message['events'][-1]['seq']}"


_publisher_loop: asyncio.AbstractEventLoop | None = None
_publisher_pid: int | None = None
_publisher_lock = threading.Lock()


def _publisher() -> asyncio.AbstractEventLoop:
    """This process's publisher loop, started on first use (and again in a forked child)."""
    global _publisher_loop, _publisher_pid
    with _publisher_lock:
        if _publisher_loop is None or _publisher_pid != os.getpid() or not _publisher_loop.is_running():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="live-event-publisher", daemon=True)
            thread.start()
            _publisher_loop, _publisher_pid = loop, os.getpid()
        return _publisher_loop


def send_to_groups(groups: Iterable[str], payload: dict) -> None:
    """Send `payload` to `groups` now, on the loop that may use the layer (see above). Logs instead of raising."""
    _send([(group, {"type": MESSAGE_TYPE, "group": group, "event": payload}) for group in groups])


def _send(messages: list[tuple[str, dict]]) -> None:
    label = _describe(messages[0][1]) if messages else "nothing"
    from .waits import notify  # waiters in this process (`?wait=`, run_workflow --wait) wake at once

    notify(group for group, _ in messages)
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        from concertmaster import embedded  # the embedded worker's module: imported only when sending

        loop = embedded.server_loop()
        if loop is None and isinstance(layer, InMemoryChannelLayer):
            async_to_sync(_group_send_all)(layer, messages)
            return
        loop = loop or _publisher()
        coroutine = _group_send_all(layer, messages)
        if _running_loop() is loop:
            # Called on the server loop itself (an async caller): schedule, do not block the loop.
            loop.create_task(coroutine)
            return
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=HANDOFF_TIMEOUT_SECONDS)
    except FutureTimeout:
        logger.warning("The server loop did not take %s in time; dropped", label)
    except Exception:
        logger.exception("Could not send %s to the channel layer", label)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
