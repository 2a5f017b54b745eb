"""Database connections around worker tasks: what Django does around a request, without a health check per node.

Django checks a connection (`SELECT 1`, one round trip) on its first use after `close_old_connections()`, which
would be before every task: a round trip per node for a connection that worked a millisecond earlier. Here a
connection that passed a check less than RECHECK_SECONDS ago, and has had no error since, is left as it is; a busy
worker checks once a second. A connection that breaks in between fails its task's first statement (the claim, in
autocommit: nothing is half-written); the task is retried (`autoretry_for=DatabaseError`) and this closes the
broken connection before the retry runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)
T = TypeVar("T")

RECHECK_SECONDS = 1.0
#: The monotonic time after which a connection is reset (and so checked) again.
_RECHECK_AT = "concertmaster_recheck_at"


def recycle() -> None:
    """Drop a connection that broke or outlived CONN_MAX_AGE; keep the rest, re-checking them once a second."""
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if _recently_checked(conn, now):
            continue
        conn.close_if_unusable_or_obsolete()
        setattr(conn, _RECHECK_AT, now + RECHECK_SECONDS)


def _recently_checked(conn, now: float) -> bool:
    return (
        conn.connection is not None
        and conn.health_check_done
        and not conn.errors_occurred
        and not conn.in_atomic_block
        and conn.autocommit == conn.settings_dict["AUTOCOMMIT"]
        and (conn.close_at is None or now < conn.close_at)
        and now < getattr(conn, _RECHECK_AT, 0.0)
    )


def through_outage(call: Callable[[], T], *, seconds: float, what: str) -> T:
    """`call()`, tried again while the database cannot be reached (a connection error), for up to `seconds`.

    For a step whose work must not be thrown away by a short outage: the outcome of a node that ran (recording it
    after the outage beats running the node, and its side effects, again). Other database errors, and the last
    connection error, are raised.
    """
    deadline = time.monotonic() + seconds
    pause = 0.5
    while True:
        try:
            return call()
        except (OperationalError, InterfaceError):
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("The database cannot be reached to %s; trying again in %.1f s", what, pause)
            for conn in connections.all(initialized_only=True):
                conn.close_if_unusable_or_obsolete()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
