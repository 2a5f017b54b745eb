"""Custom data: key-values a node attaches to its execution (`ctx.set_custom_data`, the `set_execution_data` node).

Written from the node's thread as one atomic JSON merge on the execution row (parallel nodes do not overwrite
each other's keys), without the engine's lock: custom data is not a transition and appends no event.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL

from apps.nodes.base import NodeError

from .models import WorkflowExecution

MAX_KEYS = 20
MAX_KEY_CHARS = 50
MAX_VALUE_CHARS = 255
MSG_BAD_KEY = "A custom data key is a non-empty string of at most 50 characters."
MSG_BAD_VALUE = "A custom data value is a string of at most 255 characters, a number, a boolean or null."
MSG_TOO_MANY_KEYS = "An execution holds at most 20 custom data keys."


def custom_data_check(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise NodeError(MSG_BAD_KEY, retryable=False)
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise NodeError(MSG_BAD_VALUE, retryable=False)
    elif value is not None and not isinstance(value, bool | int | float):
        raise NodeError(MSG_BAD_VALUE, retryable=False)


def execution_custom_data_set(key: str, value: Any, *, execution_id: str) -> None:
    """Merge {key: value} into the execution's custom data; a null value removes the key. NodeError for a bad key
    or value, or too many keys."""
    custom_data_check(key, value)
    current = WorkflowExecution.objects.values_list("custom_data", flat=True).get(pk=execution_id) or {}
    if key not in current and len(current) >= MAX_KEYS:
        raise NodeError(MSG_TOO_MANY_KEYS, retryable=False)
    patch = json.dumps({key: value})
    if connection.vendor == "postgresql" and value is None:  # as a JSON merge patch does: null removes the key
        merged = RawSQL("COALESCE(custom_data, '{}'::jsonb) - %s", [key])
    elif connection.vendor == "postgresql":
        merged = RawSQL("COALESCE(custom_data, '{}'::jsonb) || %s::jsonb", [patch])
    else:
        merged = RawSQL("json_patch(COALESCE(custom_data, '{}'), %s)", [patch])
    WorkflowExecution.objects.filter(pk=execution_id).update(custom_data=merged)
