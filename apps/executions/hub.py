"""One channel layer subscription per server process and group, shared by the streams watching it.

channels-redis delivers a group message to each member channel separately, and receiving one costs four
Redis round trips in a loop shared by the whole process: 500 streams on one execution would mean 2,000
round trips per event, one after another. The hub joins each group once, with one channel of its own,
and hands each event to the local streams of that group in memory, encoded to JSON once.

A hub belongs to one channel layer and one event loop (the server's); `hub_for(layer)` gives the current
loop's hub. Messages name their group (`events.send_to_groups` puts it there), because one channel in
several groups cannot tell which group a message came through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections import defaultdict
from typing import Protocol

from channels.layers import BaseChannelLayer

from apps.core.live import ACCESS_CHANGED

logger = logging.getLogger(__name__)


class Member(Protocol):
    def deliver(self, event: dict, text: str) -> None:
        """Take one event (and its JSON text) without blocking."""

    def access_changed(self) -> None:
        """Re-check the caller's access (an `apps.core.live` message), without blocking."""


class Hub:
    """The groups this process watches, their local members, and the task receiving for all of them."""

    def __init__(self, layer: BaseChannelLayer) -> None:
        self.layer = layer
        self.loop = asyncio.get_running_loop()
        self.members: dict[str, set[Member]] = defaultdict(set)
        self.channel: str | None = None
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    async def join(self, group: str, member: Member) -> None:
        async with self.lock:
            if self.channel is None:
                # The default "specific." prefix: channels-redis receives every process-local channel through
                # one loop reading that prefix, and a channel under another prefix would stall it.
                self.channel = await self.layer.new_channel()
                self.task = asyncio.create_task(self.receive())
            if not self.members[group]:
                await self.layer.group_add(group, self.channel)
            self.members[group].add(member)

    async def leave(self, group: str, member: Member) -> None:
        async with self.lock:
            members = self.members.get(group)
            if members is None or member not in members:
                return
            members.discard(member)
            if not members:
                del self.members[group]
                await self.layer.group_discard(group, self.channel)

    async def receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A Redis outage: keep trying; streams catch up from the database on their heartbeat.
                logger.warning("Live hub receive failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            self.dispatch(message)

    def dispatch(self, message: dict) -> None:
        members = self.members.get(message.get("group", ""))
        if not members:
            return
        if message.get("type") == ACCESS_CHANGED:
            for member in tuple(members):
                member.access_changed()
            return
        # One event, or a batch of them in order (`events.publish_committed`).
        for event in message["events"] if "events" in message else (message["event"],):
            text = json.dumps(event)
            for member in tuple(members):
                member.deliver(event, text)


_hubs: weakref.WeakKeyDictionary[BaseChannelLayer, Hub] = weakref.WeakKeyDictionary()


def hub_for(layer: BaseChannelLayer) -> Hub:
    """The hub of `layer` on the running loop (a new one when the loop changed, as between tests)."""
    hub = _hubs.get(layer)
    if hub is None or hub.loop is not asyncio.get_running_loop():
        hub = _hubs[layer] = Hub(layer)
    return hub
