"""WebSocket streams of execution events: `/ws/executions/<id>/`, `/ws/workflows/<id>/`, `/ws/orgs/<id>/`.

On connect a stream authorises the caller (close 4401 not authenticated, 4403 no permission, 4404 not
found or another organization's, 4400 a malformed `since`), subscribes to its group through the
process's hub (`hub.py`), and only then reads the database: a snapshot `{"v": 1, "type": "snapshot",
...}` and, for an execution with `?since=<seq>`, every event after that seq. Events published meanwhile
wait in the stream's inbox until the replay is out; each execution's last delivered seq then drops what
was already sent, so nothing is lost between the replay query and the subscription.

Events reach a client in seq order, each once: one published before an earlier one (two workers
committing close together) first fetches the missing seqs from ExecutionEvent. Workflow and
organization streams apply the same rule per execution, for executions in their snapshot or first seen
live. Every `CONCERTMASTER_WS_HEARTBEAT_SECONDS` a `{"type": "ping"}` goes out, and an execution stream
that has gone quiet checks the database for events a full channel dropped.

Access is checked again while a stream is open: at once when the caller's memberships, roles, shares or API
key change (`apps.core.live` messages to the caller's access group), and every
`CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS`. A caller who may no longer watch is closed with 4403; what was
published after the change is not sent.

Workflow and organization streams also ask the database on every heartbeat whether an execution they saw
and that has not finished went further than what they sent (its last events may have been dropped, and no
later event would show the gap), and send what is missing.

Backpressure: what is to be written to a client goes through a bounded inbox; a client too slow to drain
it is closed with 4008, meaning "reconnect with ?since=<the last seq you received>".

Redis down: when the channel layer fails (the process's hub cannot receive, or a stream cannot join its group)
the stream is closed with 4503, "try again later": the client reconnects after a pause and replays what it
missed (`?since=<the last seq you received>` on an execution stream; a workflow or organization stream sends
a fresh snapshot). A database outage while connecting closes with 4503 too.

Message types: "snapshot", the event types of `events.py` (execution_*, node_*), "log" (a line a node logged,
`logs.py`: no seq, on execution and workflow streams), "ping", and "pong" (the answer to a client's
`{"type": "ping"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import OrderedDict
from datetime import timedelta
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.utils import timezone

from apps.core.availability import DATABASE_ERRORS
from apps.core.jsonparse import json_loads_bounded
from apps.core.live import api_key_access_group, user_access_group
from apps.orgs.selectors import access_current, access_for_api_key, access_for_user

from . import metrics
from .events import EVENT_VERSION
from .hub import hub_for
from .selectors import (
    EXECUTION,
    ORGANIZATION,
    WORKFLOW,
    Stream,
    active_execution_snapshots,
    execution_event_payloads,
    execution_last_seq,
    execution_snapshot,
    executions_behind,
    executions_event_payloads,
    stream_get,
)

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_OVERFLOW = 4008
OVERFLOW_REASON = "Too slow: reconnect with ?since=<the last seq you received>."
#: Live updates (the channel layer, or the database) are unavailable for a moment: reconnect after a pause.
CLOSE_RECONNECT = 4503
RECONNECT_REASON = "Live updates are unavailable for a moment: reconnect with ?since=<the last seq you received>."
#: The event types that end an execution: a workflow or organization stream stops checking it after one.
FINAL_EVENTS = frozenset({"execution_succeeded", "execution_failed", "execution_cancelled"})
#: At most this many unfinished executions are checked against the database per heartbeat.
CATCH_UP_EXECUTIONS = 1_000
#: Replayed events are read and sent in batches of this many.
REPLAY_BATCH = 500
#: Workflow and organization streams remember the last seq of at most this many executions.
TRACKED_EXECUTIONS = 10_000
# What the inbox holds: (EVENT, payload, json text), (TICK,) from the heartbeat, (PONG,) for a client's ping,
# (RECHECK,) when the caller's access may have changed.
EVENT, TICK, PONG, RECHECK = "event", "tick", "pong", "recheck"


def _since(scope: dict) -> int | None:
    """The `since` query parameter as a non-negative int, None when absent; raises ValueError when malformed."""
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("since")
    if not values:
        return None
    since = int(values[-1])
    if since < 0:
        raise ValueError(since)
    return since


class ExecutionStreamConsumer(AsyncJsonWebsocketConsumer):
    """The events of one execution. Subclasses watch a workflow's or an organization's executions.

    After connect, one task (`pump`) is the only writer to the socket: it takes events from the hub,
    heartbeat ticks and pong requests from a bounded inbox, in order.
    """

    kind = EXECUTION
    # No channel of its own: events arrive through the process's hub, so the consumer needs no receive
    # loop on the layer (500 idle ones would each wait on Redis).
    channel_layer_alias = None

    async def connect(self) -> None:
        self.stream: Stream | None = None
        self.closing = False
        self.tasks: list[asyncio.Task] = []
        self.last_seq: OrderedDict[str, int] = OrderedDict()
        self.unfinished: OrderedDict[str, None] = OrderedDict()  # seen, no final event sent yet
        self.inbox: asyncio.Queue = asyncio.Queue(maxsize=settings.CONCERTMASTER_WS_SEND_QUEUE)
        self.quiet = True  # no event sent since the last heartbeat
        # Accept before refusing: a close code sent before the handshake completes becomes a bare HTTP 403.
        await self.accept()
        self.counted = True
        metrics.websocket_opened(self.kind)
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return await self.refuse(CLOSE_UNAUTHENTICATED)
        try:
            since = _since(self.scope)
        except ValueError:
            return await self.refuse(CLOSE_BAD_REQUEST)
        try:
            stream = await database_sync_to_async(self.authorise)()
        except ObjectDoesNotExist:
            return await self.refuse(CLOSE_NOT_FOUND)
        except PermissionDenied:
            return await self.refuse(CLOSE_FORBIDDEN)
        except DATABASE_ERRORS:
            logger.warning("A live stream could not be authorised: the database is unavailable", exc_info=True)
            return await self.refuse(CLOSE_RECONNECT, RECONNECT_REASON)
        # Subscribe before reading the database: what is published meanwhile waits in the inbox.
        self.subscribed_at = self.checked_at = timezone.now()
        self.hub = hub_for(get_channel_layer())
        self.access_group = self.caller_access_group()
        try:
            await self.hub.join(stream.group, self)
            await self.hub.join(self.access_group, self)
        except Exception:  # the channel layer failed (Redis down): nothing can be streamed now
            logger.warning("A live stream could not join its group %s", stream.group, exc_info=True)
            with contextlib.suppress(Exception):
                await self.hub.leave(stream.group, self)
            return await self.refuse(CLOSE_RECONNECT, RECONNECT_REASON)
        self.stream = stream
        try:
            await self.send_initial(since)
        except ObjectDoesNotExist:  # deleted since authorised (retention pruning)
            await self.unsubscribe()
            return await self.refuse(CLOSE_NOT_FOUND)
        except DATABASE_ERRORS:
            await self.unsubscribe()
            return await self.refuse(CLOSE_RECONNECT, RECONNECT_REASON)
        if not self.closing:  # the inbox may have overflowed during a long replay
            self.tasks += [asyncio.create_task(t) for t in (self.pump(), self.heartbeat(), self.access_timer())]

    def authorise(self) -> Stream:
        api_key = self.scope.get("api_key")
        if api_key is not None:
            access = access_for_api_key(api_key=api_key)
        else:
            access = access_for_user(user=self.scope["user"])
        return stream_get(access=access, kind=self.kind, pk=self.scope["url_route"]["kwargs"]["pk"])

    def caller_access_group(self) -> str:
        api_key = self.scope.get("api_key")
        return api_key_access_group(api_key.pk) if api_key is not None else user_access_group(self.scope["user"].pk)

    def still_authorised(self) -> bool:
        """Whether the caller may still watch this stream, asked the way `authorise` asked (fresh from the database)."""
        access = access_current(user=self.scope["user"], api_key=self.scope.get("api_key"))
        if access is None:
            return False
        try:
            stream_get(access=access, kind=self.kind, pk=self.scope["url_route"]["kwargs"]["pk"])
        except (ObjectDoesNotExist, PermissionDenied):
            return False
        return True

    def access_changed(self) -> None:
        """From the hub: the caller's access may have changed. Events behind the check wait for it."""
        self.put((RECHECK,))

    async def access_timer(self) -> None:
        interval = settings.CONCERTMASTER_WS_ACCESS_RECHECK_SECONDS
        await asyncio.sleep(random.uniform(interval / 2, interval))  # spread the checks of many streams
        while self.put((RECHECK,)):
            await asyncio.sleep(interval)

    async def recheck(self) -> bool:
        """Re-check access; close with 4403 and return False when it is gone. A database outage keeps the stream."""
        try:
            allowed = await database_sync_to_async(self.still_authorised)()
        except Exception:
            logger.warning("Could not re-check the access of a live stream of %s", self.stream, exc_info=True)
            return True
        if allowed:
            return True
        logger.info("Closing a live stream of %s: its caller may no longer watch it", self.stream)
        self.closing = True
        await self.unsubscribe()
        await self.close(code=CLOSE_FORBIDDEN)
        return False

    async def refuse(self, code: int, reason: str | None = None) -> None:
        self.closing = True
        await self.close(code=code, reason=reason)

    def connection_lost(self) -> None:
        """From the hub: it stopped receiving, so events may be lost. Close with 4503; the client replays."""
        if self.closing:
            return
        self.closing = True
        self.tasks.append(asyncio.get_running_loop().create_task(self.reconnect()))

    async def reconnect(self) -> None:
        logger.info("Closing a live stream of %s: the channel layer failed", self.stream)
        await self.unsubscribe()
        await self.close(code=CLOSE_RECONNECT, reason=RECONNECT_REASON)

    async def send_initial(self, since: int | None) -> None:
        """The snapshot, then (execution streams with `since`) the events after it, straight to the socket."""
        assert self.stream is not None  # set by connect() before anything is sent
        snapshot = await database_sync_to_async(execution_snapshot)(execution_id=self.stream.pk)
        await self.send_json({"v": EVENT_VERSION, "type": "snapshot", "stream": self.kind, **snapshot})
        last = snapshot["seq"]
        if since is not None:
            last = since
            while True:
                batch = await database_sync_to_async(execution_event_payloads)(
                    execution_id=self.stream.pk, after=last, limit=REPLAY_BATCH
                )
                if self.closing:  # the inbox overflowed meanwhile and the socket is being closed
                    return
                for payload in batch:
                    await self.send_json(payload)
                    last = payload["seq"]
                if len(batch) < REPLAY_BATCH:
                    break
        self.remember(self.stream.pk, last)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        if getattr(self, "counted", False):
            self.counted = False
            metrics.websocket_closed(self.kind)
        await self.unsubscribe()

    async def unsubscribe(self) -> None:
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await self.hub.leave(stream.group, self)
            await self.hub.leave(self.access_group, self)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # A malformed frame from the client is ignored rather than ending the consumer with a traceback.
        with contextlib.suppress(ValueError):
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    @classmethod
    async def decode_json(cls, text_data):
        # Nested past CONCERTMASTER_JSON_MAX_DEPTH: a ValueError, ignored like any malformed frame (see receive).
        return json_loads_bounded(text_data)

    async def receive_json(self, content, **kwargs) -> None:
        if self.stream is not None and isinstance(content, dict) and content.get("type") == "ping":
            self.put((PONG,))

    def deliver(self, event: dict, text: str) -> None:
        """A published event, from the hub."""
        self.put((EVENT, event, text))

    def put(self, item: tuple) -> bool:
        """Queue `item` for the pump; when the inbox is full, close with 4008 and return False."""
        if self.closing:
            return False
        try:
            self.inbox.put_nowait(item)
            return True
        except asyncio.QueueFull:
            self.closing = True
            self.tasks.append(asyncio.get_running_loop().create_task(self.overflow()))
            return False

    async def overflow(self) -> None:
        logger.info("Closing a live stream of %s: its client is too slow", self.stream)
        await self.unsubscribe()
        await self.close(code=CLOSE_OVERFLOW, reason=OVERFLOW_REASON)

    async def pump(self) -> None:
        """Write what the inbox holds; a slow socket makes the inbox, not memory, fill up."""
        try:
            while True:
                kind, *args = await self.inbox.get()
                if kind == EVENT:
                    for text in await self.in_order(*args):
                        await self.send(text_data=text)
                        self.quiet = False
                elif kind == TICK:
                    await self.send_json({"v": EVENT_VERSION, "type": "ping", "at": timezone.now().isoformat()})
                    # While events flow, a dropped one shows as a gap and is filled; only a stream gone
                    # quiet can be missing its last events, so only then ask the database.
                    if self.kind == EXECUTION and self.quiet:
                        for payload in await self.missing_from_database():
                            await self.send_json(payload)
                    elif self.kind != EXECUTION:
                        for payload in await self.unfinished_from_database():
                            await self.send_json(payload)
                    self.quiet = True
                elif kind == RECHECK:
                    if not await self.recheck():
                        return
                else:
                    await self.send_json({"v": EVENT_VERSION, "type": "pong", "at": timezone.now().isoformat()})
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.debug("Live stream writer stopped", exc_info=True)

    async def in_order(self, event: dict, text: str) -> list[str]:
        """What to send for a live `event`: nothing if already sent, else any missing events and it."""
        execution_id, seq = event["execution_id"], event["seq"]
        if seq is None:  # a log line (`logs.py`): not a transition, sent as it comes
            return [text]
        last = self.last_seq.get(execution_id)
        if last is not None and seq <= last:
            return []
        missing: list[dict] = []
        if last is None and seq > 1:
            # An execution first seen live (workflow and organization streams): fill in what it published
            # since this connection subscribed, in case those events are still on their way.
            missing = await database_sync_to_async(execution_event_payloads)(
                execution_id=execution_id, after=0, before=seq, created_since=self.subscribed_at
            )
        elif last is not None and seq > last + 1:
            missing = await database_sync_to_async(execution_event_payloads)(
                execution_id=execution_id, after=last, before=seq
            )
        self.remember(execution_id, seq, final=event["type"] in FINAL_EVENTS)
        return [*(json.dumps(payload) for payload in missing), text]

    def remember(self, execution_id: str, seq: int, *, final: bool = False) -> None:
        self.last_seq[execution_id] = seq
        self.last_seq.move_to_end(execution_id)
        if len(self.last_seq) > TRACKED_EXECUTIONS:
            self.unfinished.pop(self.last_seq.popitem(last=False)[0], None)
        if final:
            self.unfinished.pop(execution_id, None)
        else:
            self.unfinished[execution_id] = None
            self.unfinished.move_to_end(execution_id)

    async def heartbeat(self) -> None:
        interval = settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS
        # A random first beat spreads the streams' database checks (many clients connect at once), never
        # sooner than half an interval after connecting (a stream just sent its snapshot).
        await asyncio.sleep(random.uniform(interval / 2, interval))
        while self.put((TICK,)):
            await asyncio.sleep(interval)

    async def missing_from_database(self) -> list[dict]:
        """The execution's events beyond the last seq sent (those a full channel dropped)."""
        execution_id = self.stream.pk if self.stream is not None else None
        if execution_id is None:
            return []
        last = self.last_seq[execution_id]
        if await database_sync_to_async(execution_last_seq)(execution_id=execution_id) <= last:
            return []
        missing = await database_sync_to_async(execution_event_payloads)(
            execution_id=execution_id, after=last, limit=REPLAY_BATCH
        )
        if missing:
            self.remember(execution_id, missing[-1]["seq"])
        return missing

    async def unfinished_from_database(self) -> list[dict]:
        """Events of unfinished executions beyond the last seq sent (workflow and organization streams).

        A dropped last event (an execution's finish) leaves no gap for a later event to reveal: ask the
        database about the executions seen without their final event, newest first.
        """
        watched = {execution_id: self.last_seq[execution_id] for execution_id in self.unfinished}
        watched = dict(list(watched.items())[-CATCH_UP_EXECUTIONS:])
        # Executions created since the previous check (less a heartbeat, for commits landing late) may never
        # have reached this stream at all.
        checked_at, now = self.checked_at, timezone.now()
        since = max(self.subscribed_at, checked_at - timedelta(seconds=settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS))
        behind = await database_sync_to_async(executions_behind)(
            stream=self.stream, last_seqs=watched, created_since=since
        )
        self.checked_at = now
        if not behind:
            return []
        after = {execution_id: self.last_seq.get(execution_id, 0) for execution_id in behind}
        payloads = await database_sync_to_async(executions_event_payloads)(after=after)
        sent = []
        for payload in payloads:
            execution_id = payload["execution_id"]
            if payload["seq"] > self.last_seq.get(execution_id, 0):  # live events may have come meanwhile
                self.remember(execution_id, payload["seq"], final=payload["type"] in FINAL_EVENTS)
                sent.append(payload)
        return sent


class WorkflowStreamConsumer(ExecutionStreamConsumer):
    """The events of every execution of one workflow; the snapshot lists its active executions."""

    kind = WORKFLOW

    async def send_initial(self, since: int | None) -> None:
        assert self.stream is not None  # set by connect() before anything is sent
        executions = await database_sync_to_async(active_execution_snapshots)(stream=self.stream)
        snapshot = {"v": EVENT_VERSION, "type": "snapshot", "stream": self.kind, "id": self.stream.pk}
        await self.send_json({**snapshot, "executions": executions})
        for execution in executions:
            self.remember(execution["execution_id"], execution["seq"])


class OrganizationStreamConsumer(WorkflowStreamConsumer):
    """The events of every execution of one organization."""

    kind = ORGANIZATION
