"""Waiting for a run without polling: a waiter wakes when its execution publishes a live event.

`execution_wait` (the execute action's `?wait=`, synchronous webhooks) and `run_workflow --wait` subscribe to
the execution's group (`execution.<id>`, where `events.py` sends every event of the run) and read the database
only when something happened, plus once every FALLBACK_POLL_SECONDS in case a message was lost (the channel
layer is best effort; the database is the record). Subscribe first, then read: an event that commits in between
is not missed.

Two sources wake a waiter:
- in this process, `events._send` calls `notify()` for every message it sends (the embedded mode, where the
  worker is a thread of the server; a worker thread of a test);
- across processes (channels-redis), one listener per process: a daemon thread with its own event loop, its own
  layer instance and one channel that joins the group of each execution waited on (the server's hub owns the
  server loop's layer; a layer cannot receive on two loops).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

from .events import execution_group

logger = logging.getLogger(__name__)

#: A waiter reads the database at least this often even when no event arrives (a dropped message, Redis down).
FALLBACK_POLL_SECONDS = 1.0
#: How long subscribing may wait for the channel layer before the waiter falls back to polling.
SUBSCRIBE_TIMEOUT_SECONDS = 2.0

_waiters: dict[str, set[threading.Event]] = defaultdict(set)
_lock = threading.Lock()


def notify(groups: Iterable[str]) -> None:
    """Wake the waiters of these groups (called for every message sent, and by the listener)."""
    with _lock:
        woken = [event for group in groups for event in _waiters.get(group, ())]
    for event in woken:
        event.set()


@contextmanager
def subscribed(execution_id) -> Iterator[threading.Event]:
    """A threading.Event set whenever the execution publishes an event, while the block runs."""
    group = execution_group(execution_id)
    woken = threading.Event()
    with _lock:
        first = not _waiters[group]
        _waiters[group].add(woken)
    listener = _listener()
    if listener is not None and first:
        listener.join(group)
    try:
        yield woken
    finally:
        with _lock:
            _waiters[group].discard(woken)
            last = not _waiters[group]
            if last:
                del _waiters[group]
        if listener is not None and last:
            listener.leave(group)


class _Listener:
    """This process's subscription to the groups waited on, through a channel layer of its own."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.layer: RedisChannelLayer | None = None
        self.channel: str | None = None
        self.opening: asyncio.Lock | None = None
        threading.Thread(target=self._run, name="execution-waits", daemon=True).start()

    def join(self, group: str) -> None:
        self._call(self._group_add(group), group)

    def leave(self, group: str) -> None:
        self._call(self._group_discard(group), group)

    def _call(self, coroutine, group: str) -> None:
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=SUBSCRIBE_TIMEOUT_SECONDS)
        except Exception:
            logger.warning("Could not (un)subscribe %s; its waiters poll", group, exc_info=True)

    async def _group_add(self, group: str) -> None:
        await self._channel()
        assert self.layer is not None and self.channel is not None
        await self.layer.group_add(group, self.channel)

    async def _group_discard(self, group: str) -> None:
        if self.layer is not None and self.channel is not None:
            await self.layer.group_discard(group, self.channel)

    async def _channel(self) -> None:
        self.opening = self.opening or asyncio.Lock()
        async with self.opening:
            if self.channel is None:
                self.layer = RedisChannelLayer(**self.config)
                self.channel = await self.layer.new_channel(prefix="waits.")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._receive_forever())

    async def _receive_forever(self) -> None:
        while True:
            while self.channel is None:
                await asyncio.sleep(0.05)
            try:
                assert self.layer is not None
                message = await self.layer.receive(self.channel)
            except Exception:
                # Redis failed: start afresh with a new channel; waiters poll meanwhile and re-join on their next wait.
                logger.warning("The waits listener lost its channel; resubscribing", exc_info=True)
                await self._reset()
                continue
            group = message.get("group")
            if group:
                notify([group])

    async def _reset(self) -> None:
        with _lock:
            groups = list(_waiters)
        self.channel = None
        await asyncio.sleep(1.0)
        try:
            await self._channel()
            for group in groups:
                await self._group_add(group)
        except Exception:
            logger.warning("The waits listener could not resubscribe", exc_info=True)
            self.channel = None


_listener_instance: _Listener | None = None
_listener_lock = threading.Lock()


def _listener() -> _Listener | None:
    """The process's listener when the channel layer crosses processes (channels-redis), else None."""
    global _listener_instance
    if _listener_instance is not None:
        return _listener_instance
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        return None
    with _listener_lock:
        if _listener_instance is None:
            config: dict[str, Any] = dict(settings.CHANNEL_LAYERS["default"].get("CONFIG", {}))  # type: ignore[arg-type]
            _listener_instance = _Listener(config)
        return _listener_instance
