"""The events the engine appends: their types, and one builder per event type for the data they carry.

Both stores build events through these builders: the ORM store through `Unit.event(type, node_id, **data)`, the
PostgreSQL store for the events its statements insert (Python values, or column expressions that the statement
turns into a `jsonb_build_object`, see `statements.json_object`). So the payload of an event is written down once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import waited_ms


class EventType:
    """The types of ExecutionEvent the engine appends."""

    EXECUTION_STARTED = "execution_started"
    EXECUTION_PAUSED = "execution_paused"
    EXECUTION_RESUMED = "execution_resumed"
    EXECUTION_SUCCEEDED = "execution_succeeded"
    EXECUTION_FAILED = "execution_failed"
    EXECUTION_CANCELLED = "execution_cancelled"
    NODE_QUEUED = "node_queued"
    NODE_STARTED = "node_started"
    NODE_SUCCEEDED = "node_succeeded"
    NODE_FAILED = "node_failed"
    NODE_RETRYING = "node_retrying"
    NODE_SKIPPED = "node_skipped"
    NODE_WAITING = "node_waiting"


def node_started(*, attempt: Any, node_type: Any) -> dict[str, Any]:
    """A node taken for a run: which attempt, of which type."""
    return {"attempt": attempt, "node_type": node_type}


def node_queued(*, reason: str = "") -> dict[str, Any]:
    """A node sent to a worker; `reason` when it is not the first time (a retry, a wake-up, a decision)."""
    return {"reason": reason} if reason else {}


def node_succeeded(*, ports: list, duration_ms: int | None, waited_ms: int | None) -> dict[str, Any]:
    """A node's success: the ports it emitted on, and its timing (`timing`)."""
    return {"ports": ports, "duration_ms": duration_ms, "waited_ms": waited_ms}


def timing(queued_at: datetime | None, finished_at: datetime | None, duration_ms: int | None) -> dict[str, Any]:
    """A finished node's `duration_ms` (its result's compute time) and `waited_ms` (the rest since first queued),
    as its event carries them."""
    return {
        "duration_ms": duration_ms,
        "waited_ms": waited_ms(queued_at=queued_at, finished_at=finished_at, duration_ms=duration_ms),
    }
