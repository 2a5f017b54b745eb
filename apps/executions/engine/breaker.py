"""A circuit breaker per node type, kept in the Django cache (Redis in production: shared by every worker).

- closed: failures are counted; CONCERTMASTER_BREAKER_THRESHOLD consecutive ones open the breaker;
- open: nodes of the type are not run until CONCERTMASTER_BREAKER_COOLDOWN_SECONDS have passed;
- half-open: after the cool-down one probe runs at a time; a success closes the breaker, a failure
  opens it again for another cool-down.

The engine parks a node whose breaker is open as `retrying` until the cool-down ends (it spends no
attempt), so a failing integration is not hammered and nothing is lost.

Every node's claim asks for admission, and nearly always the answer is "closed, no failures". A process keeps
that answer for CONCERTMASTER_BREAKER_LOCAL_SECONDS instead of asking the cache each time (a Redis round trip
and a client object per call); a failure recorded in the process forgets it at once, one recorded by another
worker is seen within that time. Any other state is read from the cache on every call.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


#: node type -> monotonic time until which "closed, no failures" (read from the cache) may be reused here.
_clean_until: dict[str, float] = {}
#: node type -> monotonic time a failure recorded in this process last forgot its clean state.
_forgotten_at: dict[str, float] = {}
_clean_lock = threading.Lock()


def _key(node_type: str, what: str) -> str:
    return f"concertmaster:breaker:{node_type}:{what}"


def _cooldown() -> float:
    return float(settings.CONCERTMASTER_BREAKER_COOLDOWN_SECONDS)


def state(node_type: str) -> str:
    opened = cache.get(_key(node_type, "opened"))
    if opened is None:
        return CLOSED
    return OPEN if time.time() < opened + _cooldown() else HALF_OPEN


def blocked_until(node_type: str) -> datetime | None:
    """None when a node of this type may run now (closed, or this caller is the half-open probe), else
    the time to try again."""
    return admission(node_type)[0]


def admission(node_type: str) -> tuple[datetime | None, bool]:
    """(`blocked_until`, whether the breaker holds any state a success must clear), in one cache read.

    The second part spares the common case (no failures recorded) a cache write after every success.
    """
    asked = time.monotonic()
    if _clean_until.get(node_type, 0.0) > asked:
        return None, False
    opened_key, failures_key = _key(node_type, "opened"), _key(node_type, "failures")
    values = cache.get_many([opened_key, failures_key])
    opened = values.get(opened_key)
    if opened is None:
        dirty = bool(values.get(failures_key))
        if not dirty:
            _remember_clean(node_type, asked)
        return None, dirty
    return _half_open_or_until(node_type, opened), True


def _remember_clean(node_type: str, asked: float) -> None:
    keep = float(settings.CONCERTMASTER_BREAKER_LOCAL_SECONDS)
    if keep <= 0:
        return
    with _clean_lock:
        # A failure recorded here while the cache was being read forgot the type after `asked`: keep it forgotten.
        if _forgotten_at.get(node_type, 0.0) < asked:
            _clean_until[node_type] = asked + keep


def _forget_clean(node_type: str) -> None:
    with _clean_lock:
        _clean_until.pop(node_type, None)
        _forgotten_at[node_type] = time.monotonic()


def _half_open_or_until(node_type: str, opened: float) -> datetime | None:
    cooldown = _cooldown()
    reopen = opened + cooldown
    now = time.time()
    if now >= reopen:
        # Half-open: whoever adds the probe key runs; the key expires if the probe dies without a verdict.
        if cache.add(_key(node_type, "probe"), now, timeout=max(cooldown, 1)):
            return None
        reopen = now + cooldown
    return datetime.fromtimestamp(reopen, tz=UTC)


def record_success(node_type: str) -> None:
    cache.delete_many([_key(node_type, "failures"), _key(node_type, "opened"), _key(node_type, "probe")])


def record_failure(node_type: str) -> None:
    _forget_clean(node_type)
    failures_key = _key(node_type, "failures")
    cache.add(failures_key, 0, timeout=None)
    failures = cache.incr(failures_key)
    probing = cache.get(_key(node_type, "probe")) is not None
    if probing or failures >= settings.CONCERTMASTER_BREAKER_THRESHOLD:
        cache.set(_key(node_type, "opened"), time.time(), timeout=None)
        cache.delete(_key(node_type, "probe"))


def reset(node_type: str) -> None:
    """Close the breaker by hand (tests, operators)."""
    record_success(node_type)
