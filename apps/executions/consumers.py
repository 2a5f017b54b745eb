"""WebSocket streams of execution events: `/ws/executions/<id>/`, `/ws/workflows/<id>/`, `/ws/orgs/<id>/`.

On connect a stream authorises the caller (close 4401 not authenticated, 4403 no permission, 4404 not
found or another organization's, 4400 a malformed `since`), subscribes to its channel group, and only
then reads the database: a snapshot `{"v": 1, "type": "snapshot", ...}` and, for an execution with
`?since=<seq>`, every event after that seq. Channels handles one message of a consumer at a time, so
events published meanwhile wait in the channel until the replay is out; each execution's last delivered
seq then drops what was already sent, so nothing is lost between the replay query and the subscription.

Events reach a client in seq order, each once: one published before an earlier one (two workers
committing close together) first fetches the missing seqs from ExecutionEvent. Workflow and
organization streams apply the same rule per execution, for executions in their snapshot or first seen
live. Every `CONCERTMASTER_WS_HEARTBEAT_SECONDS` a `{"type": "ping"}` goes out, and an execution stream
also checks the database for events a full channel dropped.

Backpressure: messages to a client go through a bounded queue; a client too slow to drain it is closed
with 4008, meaning "reconnect with ?since=<the last seq you received>".

Message types: "snapshot", the event types of `events.py` (execution_*, node_*), "ping", and "pong"
(the answer to a client's `{"type": "ping"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.utils import timezone

from apps.orgs.selectors import access_for_api_key, access_for_user

from .events import EVENT_VERSION
from .stream_selectors import (
    EXECUTION,
    ORGANIZATION,
    WORKFLOW,
    Stream,
    active_execution_snapshots,
    execution_event_payloads,
    execution_last_seq,
    execution_snapshot,
    stream_get,
)

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_OVERFLOW = 4008
OVERFLOW_REASON = "Too slow: reconnect with ?since=<the last seq you received>."
#: Replayed events are read and sent in batches of this many.
REPLAY_BATCH = 500
#: Workflow and organization streams remember the last seq of at most this many executions.
TRACKED_EXECUTIONS = 10_000


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
    """The events of one execution. Subclasses watch a workflow's or an organization's executions."""

    kind = EXECUTION

    async def connect(self) -> None:
        self.stream: Stream | None = None
        self.closing = False
        self.tasks: list[asyncio.Task] = []
        self.last_seq: OrderedDict[str, int] = OrderedDict()
        self.order_lock = asyncio.Lock()
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=settings.CONCERTMASTER_WS_SEND_QUEUE)
        # Accept before refusing: a close code sent before the handshake completes becomes a bare HTTP 403.
        await self.accept()
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
        self.subscribed_at = timezone.now()
        await self.channel_layer.group_add(stream.group, self.channel_name)
        self.stream = stream
        try:
            await self.send_initial(since)
        except ObjectDoesNotExist:  # deleted since authorised (retention pruning)
            await self.unsubscribe()
            return await self.refuse(CLOSE_NOT_FOUND)
        self.tasks = [asyncio.create_task(self.write()), asyncio.create_task(self.heartbeat())]

    def authorise(self) -> Stream:
        api_key = self.scope.get("api_key")
        if api_key is not None:
            access = access_for_api_key(api_key=api_key)
        else:
            access = access_for_user(user=self.scope["user"])
        return stream_get(access=access, kind=self.kind, pk=self.scope["url_route"]["kwargs"]["pk"])

    async def refuse(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)

    async def send_initial(self, since: int | None) -> None:
        """The snapshot, then (execution streams with `since`) the events after it, straight to the socket."""
        snapshot = await database_sync_to_async(execution_snapshot)(execution_id=self.stream.pk)
        await self.send_json({"v": EVENT_VERSION, "type": "snapshot", "stream": self.kind, **snapshot})
        last = snapshot["seq"]
        if since is not None:
            last = since
            while True:
                batch = await database_sync_to_async(execution_event_payloads)(
                    execution_id=self.stream.pk, after=last, limit=REPLAY_BATCH
                )
                for payload in batch:
                    await self.send_json(payload)
                    last = payload["seq"]
                if len(batch) < REPLAY_BATCH:
                    break
        self.remember(self.stream.pk, last)

    async def disconnect(self, code: int) -> None:
        self.closing = True
        await self.unsubscribe()

    async def unsubscribe(self) -> None:
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await self.channel_layer.group_discard(stream.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # A malformed frame from the client is ignored rather than ending the consumer with a traceback.
        with contextlib.suppress(ValueError):
            await super().receive(text_data=text_data, bytes_data=bytes_data, **kwargs)

    async def receive_json(self, content, **kwargs) -> None:
        if self.stream is not None and isinstance(content, dict) and content.get("type") == "ping":
            await self.enqueue({"v": EVENT_VERSION, "type": "pong", "at": timezone.now().isoformat()})

    async def execution_event(self, message: dict) -> None:
        """A published event (channel layer type "execution.event"): relay it, in order and once."""
        if self.stream is None or self.closing:
            return
        async with self.order_lock:
            for payload in await self.in_order(message["event"]):
                if not await self.enqueue(payload):
                    return

    async def in_order(self, event: dict) -> list[dict]:
        """The events to send for a live `event`: nothing if already sent, else any missing ones and it."""
        execution_id, seq = event["execution_id"], event["seq"]
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
        self.remember(execution_id, seq)
        return [*missing, event]

    def remember(self, execution_id: str, seq: int) -> None:
        self.last_seq[execution_id] = seq
        self.last_seq.move_to_end(execution_id)
        if len(self.last_seq) > TRACKED_EXECUTIONS:
            self.last_seq.popitem(last=False)

    async def enqueue(self, message: dict) -> bool:
        """Queue `message` for the client; on a full queue close with 4008 and return False."""
        if self.closing:
            return False
        try:
            self.outbox.put_nowait(message)
            return True
        except asyncio.QueueFull:
            self.closing = True
            logger.info("Closing a live stream of %s: its client is too slow", self.stream)
            await self.unsubscribe()
            await self.close(code=CLOSE_OVERFLOW, reason=OVERFLOW_REASON)
            return False

    async def write(self) -> None:
        """Drain the queue to the socket; a slow socket makes the queue, not memory, fill up."""
        try:
            while True:
                await self.send_json(await self.outbox.get())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.debug("Live stream writer stopped", exc_info=True)

    async def heartbeat(self) -> None:
        interval = settings.CONCERTMASTER_WS_HEARTBEAT_SECONDS
        while not self.closing:
            await asyncio.sleep(interval)
            if not await self.enqueue({"v": EVENT_VERSION, "type": "ping", "at": timezone.now().isoformat()}):
                return
            if self.kind == EXECUTION:
                await self.catch_up()

    async def catch_up(self) -> None:
        """Send what the database has beyond the last seq sent (events a full channel dropped)."""
        async with self.order_lock:
            if self.stream is None:
                return
            execution_id = self.stream.pk
            last = self.last_seq[execution_id]
            if await database_sync_to_async(execution_last_seq)(execution_id=execution_id) <= last:
                return
            missing = await database_sync_to_async(execution_event_payloads)(
                execution_id=execution_id, after=last, limit=REPLAY_BATCH
            )
            for payload in missing:
                if not await self.enqueue(payload):
                    return
                self.remember(execution_id, payload["seq"])


class WorkflowStreamConsumer(ExecutionStreamConsumer):
    """The events of every execution of one workflow; the snapshot lists its active executions."""

    kind = WORKFLOW

    async def send_initial(self, since: int | None) -> None:
        executions = await database_sync_to_async(active_execution_snapshots)(stream=self.stream)
        snapshot = {"v": EVENT_VERSION, "type": "snapshot", "stream": self.kind, "id": self.stream.pk}
        await self.send_json({**snapshot, "executions": executions})
        for execution in executions:
            self.remember(execution["execution_id"], execution["seq"])


class OrganizationStreamConsumer(WorkflowStreamConsumer):
    """The events of every execution of one organization."""

    kind = ORGANIZATION
