"""Building the engine's PostgreSQL statements from the ORM's definitions: column names from the models' `_meta`
(an insert names every concrete field), node status guards from `transitions.NODE_TRANSITIONS`, event payloads
from the builders of `event_data.py` (`json_object`); and the server-bound cursor they run on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Field, Model

from ..choices import ExecutionStatus, NodeStatus
from ..models import ExecutionEvent, NodeExecution, WorkflowExecution
from . import transitions


@contextmanager
def server_bound_cursor() -> Iterator[Any]:
    """A Django cursor whose parameters are bound by the server, so that psycopg prepares a statement from its
    second run on a connection (`prepare_threshold` 1) and PostgreSQL plans it once per connection.

    Planning is most of a hot statement's cost (a claim: ~1 ms to plan, ~0.3 ms to run). Django's own cursors
    bind on the client and never prepare (its default, kept for the rest of the ORM; only these server-bound
    cursors are affected by the threshold). CONCERTMASTER_ENGINE_PREPARED_STATEMENTS=false turns preparing off,
    for a pooler in transaction mode.

    The connection also asks for generic plans (`plan_cache_mode`, which only prepared statements have). Left to
    choose, PostgreSQL kept planning the completion anew at every run (0.3 ms): with the statuses bound, a
    custom plan can use the partial indexes on status and looks cheaper, though the generic one finds the same
    rows by primary key.
    """
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        if settings.CONCERTMASTER_ENGINE_PREPARED_STATEMENTS and connection.connection.prepare_threshold != 1:
            connection.connection.execute("SET plan_cache_mode = force_generic_plan")
            connection.connection.prepare_threshold = 1
        cursor = connection._prepare_cursor(ServerBindingCursor(connection.connection))  # type: ignore[attr-defined, call-arg]
    with cursor:
        yield cursor


#: The statuses the statements compare with, as parameters: the execution's `running`, and every node status as
#: `status_<name>` (the guards below name them, from transitions.py).
STATUSES = {"running": ExecutionStatus.RUNNING, **{f"status_{status}": status for status in NodeStatus.values}}


EXECUTION = WorkflowExecution._meta.db_table


NODE = NodeExecution._meta.db_table


EVENT = ExecutionEvent._meta.db_table


def guard(column: str, target: str) -> str:
    """`column IN (...)`: the statuses a node may move to `target` from (`transitions.NODE_TRANSITIONS`)."""
    sources = sorted(transitions.NODE_TRANSITIONS[target])
    return f"{column} IN ({', '.join(f'%(status_{status})s' for status in sources)})"


def column(model: type[Model], name: str) -> str:
    """The quoted column of the model field `name` (a field that does not exist fails at import)."""
    return connection.ops.quote_name(cast(str, cast(Field, model._meta.get_field(name)).column))


def assign(model: type[Model], values: dict[str, str]) -> str:
    """`column = expression, ...` for an UPDATE's SET, from model field names."""
    return ", ".join(f"{column(model, name)} = {expression}" for name, expression in values.items())


def columns(model: type[Model], names: tuple[str, ...], alias: str) -> str:
    """`alias.column, ...` of model field names, for a RETURNING or SELECT list."""
    return ", ".join(f"{alias}.{column(model, name)}" for name in names)


def insert(model: type[Model], values: dict[str, str]) -> str:
    """`table (columns) SELECT values`: every concrete field of the model, in its order, each given an expression
    (a column added to the model and not here fails at import instead of inserting its default silently)."""
    fields = model._meta.concrete_fields
    given = {f.attname for f in fields}
    if given != values.keys():
        raise ImproperlyConfigured(f"{model.__name__} insert: fields {sorted(given ^ values.keys())} differ")
    columns = ", ".join(connection.ops.quote_name(cast(str, f.column)) for f in fields)
    return f"{model._meta.db_table} ({columns}) SELECT {', '.join(values[f.attname] for f in fields)}"


class Column(str):
    """An SQL expression standing for a value in an event builder's payload (see `json_object`)."""


def json_object(data: dict[str, Any]) -> str:
    """An event builder's payload as a `jsonb_build_object` of the statement's columns (`Column` values)."""
    if not all(isinstance(value, Column) for value in data.values()):
        raise ImproperlyConfigured("json_object() builds a payload of columns only")
    return "jsonb_build_object(" + ", ".join(f"'{key}', {value}" for key, value in data.items()) + ")"


def json_value(value: Any) -> Any:
    """A jsonb column as Python data (Django has psycopg hand jsonb over as text, for JSONField)."""
    return json.loads(value) if isinstance(value, str) else value
