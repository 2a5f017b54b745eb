"""One channel layer subscription per server process and group, shared by the streams watching it.

channels-redis delivers a group message to each member channel separately, and receiving one costs four
Redis round trips in a loop shared by the whole process: 500 streams on one execution would mean 2,000
round trips per event, one after another. The hub joins each group once, with one channel of its own,
and hands each event to the local streams of that group in memory, encoded to JSON once.

When its receive fails (Redis down, or a read that failed after Redis popped a message) the hub closes every
member with the reconnect code (they replay from the database when they reconnect) and starts afresh on the
next join, with new connections.

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

#: How long the hub waits for Redis while cleaning up after a failed receive.
RESET_TIMEOUT_SECONDS = 5.0


class Member(Protocol):
    def deliver(self, event: dict, text: str) -> None:
        """Take one event (and its JSON text) without blocking."""

    def access_changed(self) -> None:
        """Re-check the caller's access (an `apps.core.live` message), without blocking."""

    def connection_lost(self) -> None:
        """The hub stopped receiving (the channel layer failed): close so the client reconnects and replays."""


class HubUnavailable(Exception):
    """The hub's channel failed while a stream was joining it."""


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
        """Add `member` to `group`; raises the channel layer's error (Redis down) or HubUnavailable."""
        async with self.lock:
            if self.channel is None:
                # The default "specific." prefix: channels-redis receives every process-local channel through
                # one loop reading that prefix, and a channel under another prefix would stall it.
                self.channel = await self.layer.new_channel()
                self.task = asyncio.create_task(self.receive())
            channel = self.channel
            if not self.members.get(group):
                await self.layer.group_add(group, channel)
            if self.channel != channel:  # the receive loop failed meanwhile and closed every member
                raise HubUnavailable(channel)
            self.members[group].add(member)

    async def leave(self, group: str, member: Member) -> None:
        async with self.lock:
            members = self.members.get(group)
            if members is None or member not in members:
                return
            members.discard(member)
            if not members:
                del self.members[group]
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:  # Redis down: the membership expires with the group (group_expiry)
                    logger.warning("Could not leave the live group %s", group, exc_info=True)

    async def receive(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Redis is down or failed mid-read: a message may be lost, so no stream may trust what it has.
                self.fail(error)
                return
            self.dispatch(message)

    def fail(self, error: BaseException) -> None:
        """Close every member with the reconnect code and start afresh: the next join makes a new channel.

        The members replay from the database when they reconnect (`?since=` on execution streams, a snapshot on
        the others), which covers whatever the failed read lost.
        """
        members = {member for group in self.members.values() for member in group}
        groups, channel = list(self.members), self.channel
        logger.warning(
            "Live hub receive failed (%s: %s): closing %d streams with the reconnect code",
            type(error).__name__,
            error,
            len(members),
        )
        self.members.clear()
        self.channel, self.task = None, None
        for member in members:
            member.connection_lost()
        self.loop.create_task(self._reset(channel, groups))

    async def _reset(self, channel: str | None, groups: list[str]) -> None:
        """Take the failed channel out of its groups (best effort, so senders stop filling it), then drop the
        layer's connections: after a Redis restart they are dead, and the next join must not inherit them.
        Joins wait for this (the lock)."""
        async with self.lock:
            try:
                for group in groups if channel is not None else ():
                    await asyncio.wait_for(self.layer.group_discard(group, channel), RESET_TIMEOUT_SECONDS)
            except Exception:  # Redis is down: the memberships expire by themselves
                logger.info("Could not take channel %s out of its groups; they expire", channel)
            close_pools = getattr(self.layer, "close_pools", None)
            if close_pools is not None:
                try:
                    await asyncio.wait_for(close_pools(), RESET_TIMEOUT_SECONDS)
                except Exception:
                    logger.debug("Closing the channel layer's connections failed", exc_info=True)

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
