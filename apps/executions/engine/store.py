"""Which persistence path the engine's hot path takes: the hand-written PostgreSQL statements
(`statements.py`) or the ORM.

The engine asks `uses_sql()` instead of the database vendor, so both paths can run on PostgreSQL and be
compared row for row (tests/executions/engine/test_store_differential.py). The setting
`CONCERTMASTER_ENGINE_STORE` chooses: "auto" (the statements on PostgreSQL, the ORM elsewhere), "orm", or
"sql" (PostgreSQL only).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

STORES = ("auto", "orm", "sql")


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
