"""Which adapter of the storage port (`port.Store`) the engine writes through: the PostgreSQL one
(`sql_store.py`, the hand-written statements of `statements.py`) or the ORM one (`orm_store.py`).

The engine asks `current()` for the port (never the database vendor), so both adapters can run on PostgreSQL and be
compared row for row (tests/executions/engine/test_store_differential.py). The setting
`CONCERTMASTER_ENGINE_STORE` chooses: "auto" (the statements on PostgreSQL, the ORM elsewhere), "orm", or
"sql" (PostgreSQL only).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from .orm_store import OrmStore
from .port import Store
from .sql_store import PostgresStore

STORES = ("auto", "orm", "sql")
_ORM, _SQL = OrmStore(), PostgresStore()


def current() -> Store:
    """The adapter the setting picks for this connection's database (read at each call: tests switch it)."""
    return _SQL if uses_sql() else _ORM


def uses_sql() -> bool:
    """True when the engine writes through `statements.py` (PostgreSQL's one-statement claim, lock and
    completion); False when it writes through the ORM."""
    store = settings.CONCERTMASTER_ENGINE_STORE
    postgresql = connection.vendor == "postgresql"
    if store == "auto":
        return postgresql
    if store == "orm":
        return False
    if store == "sql" and postgresql:
        return True
    raise ImproperlyConfigured(
        f"CONCERTMASTER_ENGINE_STORE must be one of {', '.join(STORES)} ('sql' on PostgreSQL only), not {store!r}"
    )
