"""Searching executions by their data: a JSON path in the trigger data, a node's output or the custom data equals or
contains a value; the node that failed; the error's text; the duration. Reads only (the list's filters call these).

On PostgreSQL an `equals` on trigger or custom data is a JSONB containment (`@>`) that the GIN indexes of migration
0011 serve, refined by the exact path comparison; `contains` compares the value at the path as text (ILIKE).
SQLite runs the same lookups through its JSON functions, unindexed: correct, slower.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F, Q, QuerySet, TextField
from django.db.models.functions import Cast

from .choices import NodeStatus
from .models import NodeExecution, WorkflowExecution

EQUALS = "equals"
CONTAINS = "contains"
OPERATORS = (EQUALS, CONTAINS)
MSG_BAD_PATH = "A JSON pointer to a value, e.g. /body/customer/email."


def path_parts(pointer: str) -> list[str]:
    """The keys of a JSON pointer ("/a/b~1c" -> ["a", "b/c"]); ValueError when it is not one."""
    if not pointer.startswith("/") or pointer == "/":
        raise ValueError(MSG_BAD_PATH)
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]
    if any(part == "" for part in parts):
        raise ValueError(MSG_BAD_PATH)
    return parts


def parse_value(text: str) -> Any:
    """A query value as JSON when it is JSON (`42`, `true`, `"42"`), else as the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _nested(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def json_path_q(field: str, pointer: str, value: str, op: str) -> Q:
    """A Q on `field` (a JSONField) at `pointer`: equal to `value` (as JSON) or containing it (as text)."""
    parts = path_parts(pointer)
    lookup = "__".join([field, *parts])
    if op == CONTAINS:
        return Q(**{f"{lookup}__icontains": value})
    parsed = parse_value(value)
    exact = Q(**{lookup: parsed})
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__contains": _nested(parts, parsed)}) & exact
    return exact


def by_trigger_data(executions: QuerySet, *, pointer: str, value: str, op: str) -> QuerySet:
    return executions.filter(json_path_q("trigger_data", pointer, value, op))


def by_custom_data(executions: QuerySet, *, key: str, value: str, op: str) -> QuerySet:
    return executions.filter(json_path_q("custom_data", "/" + key.replace("~", "~0").replace("/", "~1"), value, op))


def by_node_output(executions: QuerySet, *, node_id: str, pointer: str, value: str, op: str) -> QuerySet:
    """Executions in which `node_id` output `value` at `pointer` (unindexed beyond the node rows of an execution)."""
    rows = NodeExecution.objects.filter(node_id=node_id).filter(json_path_q("output", pointer, value, op))
    return executions.filter(pk__in=rows.values("execution_id"))


def by_failed_node(executions: QuerySet, *, node_id: str) -> QuerySet:
    failed = NodeExecution.objects.filter(node_id=node_id, status=NodeStatus.FAILED)
    return executions.filter(pk__in=failed.values("execution_id"))


def by_error_text(executions: QuerySet, *, text: str) -> QuerySet:
    """Executions whose error (its JSON as text: message, type, node) contains `text`, case-insensitively."""
    return executions.alias(error_text=Cast("error", TextField())).filter(error_text__icontains=text)


def by_duration(
    executions: QuerySet[WorkflowExecution], *, min_ms: int | None = None, max_ms: int | None = None
) -> QuerySet:
    """Finished executions that took at least `min_ms` / at most `max_ms` milliseconds."""
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    executions = executions.alias(took=took).filter(finished_at__isnull=False, started_at__isnull=False)
    if min_ms is not None:
        executions = executions.filter(took__gte=timedelta(milliseconds=min_ms))
    if max_ms is not None:
        executions = executions.filter(took__lte=timedelta(milliseconds=max_ms))
    return executions
