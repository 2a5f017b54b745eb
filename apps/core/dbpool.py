"""The PostgreSQL connection pool (Django's `OPTIONS["pool"]`, psycopg_pool) across Celery's prefork.

A pool holds sockets and background threads: a forked child must never use its parent's. The Celery parent
closes its pool before it forks its children (`worker_init`); each child then opens its own on first use.
"""

from __future__ import annotations

import logging

from django.db import connections

logger = logging.getLogger(__name__)


def pooled(alias: str = "default") -> bool:
    """Whether `alias` is served by a connection pool."""
    return bool(connections[alias].settings_dict.get("OPTIONS", {}).get("pool"))


def close_pools(**kwargs) -> None:
    """Give back every connection and close this process's pools (reopened on the next use)."""
    for conn in connections.all():
        if not pooled(conn.alias):
            continue
        conn.close()
        pools = getattr(type(conn), "_connection_pools", {})
        if conn.alias in pools:
            conn.close_pool()  # type: ignore[attr-defined]  # PostgreSQL's wrapper only
            logger.debug("Closed the connection pool of %r before forking", conn.alias)


def keep_in_worker(sender=None, connection=None, **kwargs) -> None:
    """In a worker, a thread keeps the pooled connection it borrowed across tasks instead of returning it after
    each one (CONN_MAX_AGE is 0 with a pool): a node costs no borrow and no pool check. The engine closes it, and
    so returns it to the pool, when a statement failed on it (engine/connections.py); node threads return theirs
    after each node."""
    if connection is not None and getattr(connection, "pool", None) is not None:
        connection.close_at = None


def worker_starting(sender=None, **kwargs) -> None:
    """`worker_init`: close the parent's pool before any fork, and keep connections across tasks from now on.

    Not for the test worker in a thread of a test process (celery.contrib.testing), which shares its process."""
    from django.db.backends.signals import connection_created

    if type(sender).__module__.startswith("celery.contrib.testing"):
        return
    close_pools()
    connection_created.connect(keep_in_worker, weak=False, dispatch_uid="concertmaster-keep-in-worker")
