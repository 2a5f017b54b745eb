"""A circuit breaker per organization, node type and target, kept in the Django cache (Redis in production:
shared by every worker).

The key is (organization, node type, target): a node type names what a failure says is broken from its
rendered config (`Node.breaker_target`: the host of an HTTP call); a node using a credential and naming no
target of its own is keyed by the credential; any other node by its type within the organization. So a dead
host in one organization pauses that organization's calls to that host, nothing else.

- closed: failures are counted; CONCERTMASTER_BREAKER_THRESHOLD consecutive ones open the breaker;
- open: nodes with the key are not run until CONCERTMASTER_BREAKER_COOLDOWN_SECONDS have passed;
- half-open: after the cool-down one probe runs at a time; a success closes the breaker, a failure
  opens it again for another cool-down.

The engine parks a node whose breaker is open as `retrying` until the cool-down ends (it spends no
attempt), so a failing integration is not hammered and nothing is lost.

Every node run asks for admission, and nearly always the answer is "closed, no failures". A process keeps
that answer for CONCERTMASTER_BREAKER_LOCAL_SECONDS instead of asking the cache each time (a Redis round trip
and a client object per call); a failure recorded in the process forgets it at once, one recorded by another
worker is seen within that time. Any other state is read from the cache on every call. The answers kept are
bounded (LOCAL_MAX_KEYS): expired ones are dropped when the table fills.

Transitions (open, half-open, closed) are mirrored into CircuitBreaker rows, for the admin to list and reset:
they are rare, and written outside the engine's transactions.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from ..choices import BreakerState

logger = logging.getLogger(__name__)

CLOSED = BreakerState.CLOSED.value
OPEN = BreakerState.OPEN.value
HALF_OPEN = BreakerState.HALF_OPEN.value

#: Most keys whose clean answer a process keeps (and failure marks); past it, expired ones are dropped.
LOCAL_MAX_KEYS = 4096
#: A failure mark older than this cannot matter to a cache read still in flight.
_FORGOTTEN_KEEP_SECONDS = 60.0
#: Targets used as they are in cache keys; anything else (long, spaces, odd characters) is hashed.
_PLAIN_TARGET = re.compile(r"^[\w.:@\[\]-]{0,120}$")
#: Longest last error kept on a CircuitBreaker row.
_ERROR_MAX = 2000


class Key(NamedTuple):
    """What a breaker guards: one organization's nodes of one type calling one target ("" = the type as a whole)."""

    organization_id: str
    node_type: str
    target: str = ""


#: key -> monotonic time until which "closed, no failures" (read from the cache) may be reused here.
_clean_until: dict[Key, float] = {}
#: key -> monotonic time a failure recorded in this process last forgot its clean state.
_forgotten_at: dict[Key, float] = {}
_clean_lock = threading.Lock()


#: Longest target kept (the CircuitBreaker row's column).
TARGET_MAX = 300


def key_for(organization_id: object, node_type: str, target: str | None = None) -> Key:
    return Key(str(organization_id), node_type, (target or "")[:TARGET_MAX])


def _key(key: Key, what: str) -> str:
    target = key.target if _PLAIN_TARGET.match(key.target) else hashlib.sha256(key.target.encode()).hexdigest()
    return f"concertmaster:breaker:{key.organization_id}:{key.node_type}:{target}:{what}"


def _cooldown() -> float:
    return float(settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS)


def state(key: Key) -> str:
    opened = cache.get(_key(key, "opened"))
    if opened is None:
        return CLOSED
    return OPEN if time.time() < opened + _cooldown() else HALF_OPEN


def blocked_until(key: Key) -> datetime | None:
    """None when a node with this key may run now (closed, or this caller is the half-open probe), else the
    time to try again."""
    return admission(key)[0]


def admission(key: Key) -> tuple[datetime | None, bool]:
    """(`blocked_until`, whether the breaker holds any state a success must clear), in one cache read.

    The second part spares the common case (no failures recorded) a cache write after every success.
    """
    asked = time.monotonic()
    if _clean_until.get(key, 0.0) > asked:
        return None, False
    opened_key, failures_key = _key(key, "opened"), _key(key, "failures")
    values = cache.get_many([opened_key, failures_key])
    opened = values.get(opened_key)
    if opened is None:
        dirty = bool(values.get(failures_key))
        if not dirty:
            _remember_clean(key, asked)
        return None, dirty
    return _half_open_or_until(key, opened), True


def _remember_clean(key: Key, asked: float) -> None:
    keep = float(settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS)
    if keep <= 0:
        return
    with _clean_lock:
        # A failure recorded here while the cache was being read forgot the key after `asked`: keep it forgotten.
        if _forgotten_at.get(key, 0.0) < asked:
            if key not in _clean_until and len(_clean_until) >= LOCAL_MAX_KEYS:
                _drop_expired(_clean_until, asked)
            _clean_until[key] = asked + keep


def _forget_clean(key: Key) -> None:
    now = time.monotonic()
    with _clean_lock:
        _clean_until.pop(key, None)
        if key not in _forgotten_at and len(_forgotten_at) >= LOCAL_MAX_KEYS:
            _drop_expired(_forgotten_at, now - _FORGOTTEN_KEEP_SECONDS)
        _forgotten_at[key] = now


def _drop_expired(table: dict[Key, float], before: float) -> None:
    """Drop the entries of `table` not after `before`; when that frees too little, all of them (they only save
    cache reads), so a full table costs one pass per LOCAL_MAX_KEYS / 2 new keys at most."""
    for stale in [key for key, at in table.items() if at <= before]:
        del table[stale]
    if len(table) > LOCAL_MAX_KEYS // 2:
        table.clear()


def _half_open_or_until(key: Key, opened: float) -> datetime | None:
    cooldown = _cooldown()
    reopen = opened + cooldown
    now = time.time()
    if now >= reopen:
        # Half-open: whoever adds the probe key runs; the key expires if the probe dies without a verdict.
        if cache.add(_key(key, "probe"), now, timeout=max(cooldown, 1)):
            _mirror(key, HALF_OPEN)
            return None
        reopen = now + cooldown
    return datetime.fromtimestamp(reopen, tz=UTC)


def record_success(key: Key) -> None:
    """Clear the key's failures; closing an open or half-open breaker is mirrored into its row."""
    opened_key = _key(key, "opened")
    was_open = cache.get(opened_key) is not None
    cache.delete_many([_key(key, "failures"), opened_key, _key(key, "probe")])
    if was_open:
        _mirror(key, CLOSED)


def record_failure(key: Key, error: str = "") -> None:
    _forget_clean(key)
    failures_key = _key(key, "failures")
    cache.add(failures_key, 0, timeout=None)
    failures = cache.incr(failures_key)
    probing = cache.get(_key(key, "probe")) is not None
    if probing or failures >= settings.CONCERTMASTER_BREAKER_THRESHOLD:
        opened = time.time()
        cache.set(_key(key, "opened"), opened, timeout=None)
        cache.delete(_key(key, "probe"))
        until = datetime.fromtimestamp(opened + _cooldown(), tz=UTC)
        _mirror(key, OPEN, failures=failures, opened_until=until, last_error=error)


def reset(key: Key) -> None:
    """Close the breaker by hand (operators through the admin, tests): the cache and the row."""
    cache.delete_many([_key(key, "failures"), _key(key, "opened"), _key(key, "probe")])
    _forget_clean(key)
    _mirror(key, CLOSED)


def _mirror(key: Key, new_state: str, **values) -> None:
    """Record a transition in the key's CircuitBreaker row. The cache is the breaker: a failed write is logged."""
    from ..models import CircuitBreaker

    if new_state == OPEN:
        values["last_error"] = (values.get("last_error") or "")[:_ERROR_MAX]
    else:
        values.pop("last_error", None)
    if new_state == CLOSED:
        values.update(failures=0, opened_until=None)
    try:
        rows = CircuitBreaker.objects.filter(
            organization_id=key.organization_id, node_type=key.node_type, target=key.target
        )
        if new_state != OPEN:  # only a breaker that opened has a row worth keeping
            rows.update(state=new_state, updated_at=timezone.now(), **values)
            return
        CircuitBreaker.objects.update_or_create(
            organization_id=key.organization_id,
            node_type=key.node_type,
            target=key.target,
            defaults={"state": new_state, **values},
        )
    except Exception:
        logger.exception("Could not record the %s breaker of %s", new_state, key)
