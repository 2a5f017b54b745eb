"""Where the engine's task messages are: waiting in the broker, held by a live worker, or nowhere (lost).

Every worker records, every CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS, the ids of the tasks it holds (reserved,
prefetched, waiting for a countdown, or running) under a key that expires after
CONCERTMASTER_ENGINE_WORKER_TIMEOUT_SECONDS: a worker that dies (SIGKILL, a lost machine) stops renewing it, and
the broker's own clock drops it. The reaper reads those records and the task ids waiting in the engine's queues
(`look()`); a queued node whose message is in neither has lost it and is sent again at once.

The broker also carries an epoch key that only the reaper writes: when it is gone, the broker lost its data (a
Redis restarted without persistence, or flushed) and every queued node is sent again without waiting.

Redis brokers are read directly (the queue is a list of JSON messages); the embedded in-memory broker lives in
this process with its worker, so both are read in memory. Any other broker gives no view (`look()` is None) and
the reaper falls back to the lease and CONCERTMASTER_ENGINE_REDISPATCH_SECONDS.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

WORKERS_KEY = "concertmaster:engine:workers"
WORKER_KEY = "concertmaster:engine:worker:{name}"
EPOCH_KEY = "concertmaster:engine:broker-epoch"
#: The engine's task whose messages the reaper looks for (one per queued node).
NODE_TASK = "concertmaster.engine.run_node"
#: A Celery message's task id, found in the raw JSON of a Redis queue entry (its headers' `id`).
_TASK_ID = re.compile(rb'"id": ?"([^"]+)"')
#: Queue entries read per round trip.
_CHUNK = 1000


@dataclass(frozen=True)
class BrokerView:
    """One look at the broker."""

    #: Task ids waiting in the engine's queues; None when the queues were too long to read.
    waiting: frozenset[str] | None
    #: Task ids held by live workers (reserved, waiting for a countdown, or running).
    held: frozenset[str]
    #: The broker lost its data since the last look: every queued node must be sent again.
    lost_everything: bool = False

    def has(self, task_id: str) -> bool:
        """The message of `task_id` is still somewhere (or cannot be known to be lost)."""
        return self.waiting is None or task_id in self.waiting or task_id in self.held


def renew_seconds() -> float:
    """How often a running node renews its lease: every CONCERTMASTER_ENGINE_LEASE_RENEW_SECONDS, or a third of the
    lease when that is shorter."""
    lease = settings.CONCERTMASTER_ENGINE_LEASE_SECONDS
    return max(min(lease / 3, settings.CONCERTMASTER_ENGINE_LEASE_RENEW_SECONDS), 0.1)


def stale_lease_seconds() -> float:
    """A running node's lease not renewed for this long, with no live worker holding its task, is lost."""
    return 3 * renew_seconds()


# --- the broker ----------------------------------------------------------------------------------------------


def _broker_kind() -> str:
    from concertmaster.celery import app

    scheme = str(app.conf.broker_url or "").split("://", 1)[0]
    if scheme in ("redis", "rediss"):
        return "redis"
    if scheme == "memory":
        return "memory"
    return ""


@lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> Any:
    import redis

    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


def redis_client() -> Any:
    """A client of the broker's Redis (short timeouts: a Redis that is down must not hold the reaper up)."""
    from concertmaster.celery import app

    return _client(str(app.conf.broker_url), settings.CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS)


def _key_prefix() -> str:
    from concertmaster.celery import app

    return (app.conf.broker_transport_options or {}).get("global_keyprefix", "")


def engine_queues() -> list[str]:
    """The queues the engine's node task is routed to (a routed name, or the default queue)."""
    from concertmaster.celery import app

    route = app.amqp.router.route({}, NODE_TASK, args=(), kwargs={})
    queue = route.get("queue")
    return [getattr(queue, "name", None) or str(queue or app.conf.task_default_queue)]


def _redis_lists(queue: str) -> list[str]:
    """The Redis lists of one queue: kombu keeps one per priority step (the plain name for priority 0)."""
    from kombu.transport.redis import Channel

    steps = Channel.priority_steps
    prefix = _key_prefix()
    return [prefix + (queue if step == 0 else f"{queue}{Channel.sep}{step}") for step in steps]


def _waiting_redis(client: Any, queues: Iterable[str], limit: int) -> frozenset[str] | None:
    lists = [name for queue in queues for name in _redis_lists(queue)]
    pipe = client.pipeline(transaction=False)
    for name in lists:
        pipe.llen(name)
    lengths = pipe.execute()
    if sum(lengths) > limit:
        return None
    found: set[str] = set()
    for name, length in zip(lists, lengths, strict=True):
        # Read from the head while the tail is consumed and new messages are pushed at the head: an entry that
        # stays in the list is read at least once (some twice), which is all that is needed.
        start = 0
        while length and start < limit:
            entries = client.lrange(name, start, start + _CHUNK - 1)
            if not entries:
                break
            found.update(_task_ids(entries))
            start += _CHUNK
    return frozenset(found)


def _task_ids(entries: Iterable[bytes]) -> set[str]:
    found = set()
    for entry in entries:
        match = _TASK_ID.search(entry)
        if match:
            found.add(match.group(1).decode())
    return found


def _just_delivered(client: Any) -> frozenset[str]:
    """Task ids of the messages workers took in the last two heartbeats (kombu's unacknowledged index)."""
    from kombu.transport.redis import Channel

    from concertmaster.celery import app

    options = app.conf.broker_transport_options or {}
    prefix = _key_prefix()
    index = prefix + options.get("unacked_index_key", Channel.unacked_index_key)
    unacked = prefix + options.get("unacked_key", Channel.unacked_key)
    since = time.time() - 2 * settings.CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS - 1
    tags = client.zrangebyscore(index, since, "+inf")
    if not tags:
        return frozenset()
    return frozenset(_task_ids(entry for entry in client.hmget(unacked, tags) if entry))


def _waiting_memory(queues: Iterable[str]) -> frozenset[str]:
    from kombu.transport.memory import Channel

    found: set[str] = set()
    for name in queues:
        queue = Channel.queues.get(name)
        if queue is None:
            continue
        with queue.mutex:
            messages = list(queue.queue)
        found.update(str(message.get("headers", {}).get("id")) for message in messages)
    return frozenset(found)


def _held_redis(client: Any) -> frozenset[str]:
    names = [name.decode() for name in client.smembers(WORKERS_KEY)]
    if not names:
        return frozenset()
    records = client.mget([WORKER_KEY.format(name=name) for name in names])
    held: set[str] = set()
    gone = []
    for name, record in zip(names, records, strict=True):
        if record is None:
            gone.append(name)
        else:
            held.update(json.loads(record))
    if gone:
        client.srem(WORKERS_KEY, *gone)
    return frozenset(held)


def _epoch_lost(client: Any) -> bool:
    """True when the epoch key was missing (now written again): the broker lost its data, or never had it."""
    return bool(client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True))


def look() -> BrokerView | None:
    """The reaper's view of the broker, or None when there is none (another broker, or the broker is down)."""
    kind = _broker_kind()
    limit = settings.CONCERTMASTER_ENGINE_BROKER_SCAN_LIMIT
    try:
        if kind == "redis":
            client = redis_client()
            # A message being taken by a worker is in the worker's record only at its next beat: those delivered
            # moments ago count as held. Any the view still misses is sent twice, which is harmless (the duplicate's
            # claim is a no-op), so the view may err on that side only.
            waiting = _waiting_redis(client, engine_queues(), limit)
            held = _held_redis(client) | _just_delivered(client)
            # Last: once written again, the epoch tells no later pass that the broker lost its data.
            return BrokerView(waiting=waiting, held=held, lost_everything=_epoch_lost(client))
        if kind == "memory":
            return BrokerView(waiting=_waiting_memory(engine_queues()), held=frozenset(_local_held()))
    except Exception:
        logger.warning("Could not look at the broker; recovery falls back to leases", exc_info=True)
    return None


def _task_queues() -> list[Any]:
    from concertmaster.celery import app

    names = {*engine_queues(), app.conf.task_default_queue}
    return [app.amqp.queues[name] for name in sorted(names)]  # a missing name is created, as routing it would


def _binding_keys() -> list[str]:
    """The Redis sets in which kombu keeps the task queues' bindings (one per exchange)."""
    from kombu.transport.redis import Channel

    return sorted({_key_prefix() + Channel.keyprefix_queue % queue.exchange.name for queue in _task_queues()})


def redeclare_queues() -> None:
    """Declare the task queues again. A Redis that lost its data also lost kombu's bindings, and kombu drops a
    message published to an exchange without bindings (silently): until a consumer reconnects and declares its
    queues, or this runs, every task sent is lost (a flushed Redis keeps the workers' connections open)."""
    from concertmaster.celery import app

    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in _task_queues():
            queue(channel).declare()


# --- the worker side -------------------------------------------------------------------------------------------


def _local_held() -> set[str]:
    from celery.worker import state

    # list() of a set runs without releasing the GIL: a consistent copy while the consumer changes it.
    return {request.id for request in list(state.reserved_requests)} | {
        request.id for request in list(state.active_requests)
    }


class Heartbeat:
    """A thread in a worker's main process that records the tasks it holds, until stopped. It also declares the
    task queues again when their bindings are gone (see `redeclare_queues`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="concertmaster-heartbeat", daemon=True)
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            client = redis_client()
            client.delete(WORKER_KEY.format(name=self.name))
            client.srem(WORKERS_KEY, self.name)
        except Exception:
            logger.info("Could not remove the heartbeat of %s", self.name, exc_info=True)

    def beat(self) -> None:
        """Record the held task ids once."""
        ttl_ms = max(int(settings.CONCERTMASTER_ENGINE_WORKER_TIMEOUT_SECONDS * 1000), 1)
        record = json.dumps(sorted(_local_held()))
        pipe = redis_client().pipeline(transaction=False)
        pipe.set(WORKER_KEY.format(name=self.name), record, px=ttl_ms)
        pipe.sadd(WORKERS_KEY, self.name)
        pipe.exists(*_binding_keys())
        *_, bound = pipe.execute()
        if bound < len(_binding_keys()):
            logger.warning("The broker lost the task queues' bindings (Redis emptied?): declaring them again")
            redeclare_queues()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
                if self._failing:
                    logger.info("Worker heartbeat recorded again")
                self._failing = False
            except Exception:
                if not self._failing:
                    logger.warning("Could not record the worker heartbeat (broker down?)", exc_info=True)
                self._failing = True
            self._stop.wait(settings.CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS)


_heartbeat: Heartbeat | None = None
_heartbeat_lock = threading.Lock()


def start_heartbeat(hostname: str) -> None:
    """Start this worker process's heartbeat (Redis brokers only: the embedded worker is read in memory)."""
    global _heartbeat
    if _broker_kind() != "redis":
        return
    with _heartbeat_lock:
        if _heartbeat is None:
            _heartbeat = Heartbeat(f"{hostname}:{os.getpid()}")
            _heartbeat.start()


def stop_heartbeat() -> None:
    global _heartbeat
    with _heartbeat_lock:
        if _heartbeat is not None:
            _heartbeat.stop()
            _heartbeat = None
