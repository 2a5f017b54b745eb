"""What a node run can come to, as data: a Failure (with its error types and messages), Blocked by a circuit
breaker, ABANDONED; and how outputs, inputs and configs are made storable JSON within the size limit."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from apps.nodes.base import NodeResult

from . import breaker
from .unit import SUSPEND_APPROVAL, SUSPEND_CHILDREN, SUSPEND_DELAY

# Error types (the `type` of a node error, and the `error_type` label of workflow_errors_total).
ERROR_NODE = "node_error"


ERROR_EXCEPTION = "exception"


ERROR_TIMEOUT = "timeout"


ERROR_EXPRESSION = "expression"


ERROR_OUTPUT_TOO_LARGE = "output_too_large"


ERROR_OUTPUT_NOT_JSON = "output_not_json"


ERROR_UNKNOWN_TYPE = "unknown_node_type"


ERROR_CREDENTIAL = "credential"


ERROR_BAD_RESULT = "bad_result"


ERROR_CHILD_WORKFLOW = "child_workflow"


ERROR_WORKER_LOST = "worker_lost"


_SUSPEND_KINDS = (SUSPEND_DELAY, SUSPEND_APPROVAL, SUSPEND_CHILDREN)


MSG_TIMEOUT = "The node did not finish within {seconds:g} seconds."


MSG_OUTPUT_TOO_LARGE = (
    "The node's output is {size} bytes of JSON, over the limit of {limit} bytes (CONCERTMASTER_NODE_OUTPUT_MAX_BYTES)."
)


MSG_OUTPUT_NOT_JSON = "The node's output is not JSON data: {error}"


MSG_CREDENTIAL_MISSING = "No credential named {name!r} in this organization."


MSG_BAD_RESULT = "The node returned {kind}, not a NodeResult or Suspend."


MSG_BAD_SUSPEND_DATA = "The node asked to wait with data that is not a JSON object."


MSG_BAD_SUSPEND = "The node asked to wait with an unknown kind {kind!r} or without a wake-up time."


@dataclass(frozen=True)
class Failure:
    """A failed attempt: what went wrong and whether another attempt could help."""

    type: str
    message: str
    retryable: bool = True
    data: dict = field(default_factory=dict)

    def as_error(self, attempt: int) -> dict:
        error = {"type": self.type, "message": self.message, "attempt": attempt}
        if self.data:
            error["data"] = self.data
        return error


#: A run given up because the node was taken away (cancelled, or re-queued after its lease ran out).
ABANDONED = object()


@dataclass(frozen=True)
class Blocked:
    """The node's circuit breaker is open: the node is parked until `until` without spending an attempt."""

    until: datetime
    key: breaker.Key


@dataclass(frozen=True)
class Gate:
    """The circuit breaker a run went through: its key, and whether a success must reset it (it holds failures)."""

    key: breaker.Key
    dirty: bool


#: The key of a node's state naming the breaker target that parked it (dropped when the node next runs).
PARKED_BY_BREAKER = "breaker_target"


def _json_data(value: Any) -> Any:
    """`value` as JSON data, or None when it is not (it is stored in rows and events)."""
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except (TypeError, ValueError):
        return None


def _recorded(value: Any) -> Any:
    """`value` as stored for inspection (input, rendered config): JSON data, or a note saying why it was left out."""
    return json.loads(_recorded_text(value))


def _recorded_text(value: Any) -> str:
    """The JSON text of `_recorded(value)`."""
    try:
        return _json_text(value)
    except _Unstorable as exc:
        if exc.error:
            return json.dumps({"omitted": f"not JSON data: {exc.error}"})
        return json.dumps(
            {"omitted": f"{exc.size} bytes of JSON, over CONCERTMASTER_NODE_OUTPUT_MAX_BYTES ({exc.limit})"}
        )


class _Unstorable(Exception):
    """Why a value cannot be stored: it is not JSON data (`error`), or its JSON is `size` bytes, over `limit`."""

    def __init__(self, *, error: str = "", size: int = 0, limit: int = 0) -> None:
        super().__init__(error or f"{size} > {limit}")
        self.error, self.size, self.limit = error, size, limit


def _bounded_json(value: Any) -> Any:
    """`value` as plain JSON data within CONCERTMASTER_NODE_OUTPUT_MAX_BYTES (bytes of its JSON text)."""
    return json.loads(_json_text(value))


def _json_text(value: Any) -> str:
    """The JSON text of `value`, within CONCERTMASTER_NODE_OUTPUT_MAX_BYTES; raises _Unstorable."""
    try:
        text = json.dumps(value, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as exc:
        raise _Unstorable(error=str(exc)) from exc
    size, limit = len(text.encode()), settings.CONCERTMASTER_NODE_OUTPUT_MAX_BYTES
    if size > limit:
        raise _Unstorable(size=size, limit=limit)
    return text


def _serialize(result: NodeResult) -> dict | Failure:
    """The outputs as plain JSON data, or the Failure explaining why they cannot be stored."""
    try:
        return _bounded_json(result.outputs)
    except _Unstorable as exc:
        if exc.error:
            return Failure(ERROR_OUTPUT_NOT_JSON, MSG_OUTPUT_NOT_JSON.format(error=exc.error), retryable=False)
        message = MSG_OUTPUT_TOO_LARGE.format(size=exc.size, limit=exc.limit)
        return Failure(ERROR_OUTPUT_TOO_LARGE, message, retryable=False)
