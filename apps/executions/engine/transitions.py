"""Which status changes are allowed, for executions and for nodes: every change goes through here.

Pure data and one check, so the same tables guard services, the runtime and recovery.
"""

from __future__ import annotations

from apps.core.errors import InvalidTransition

from . import scheduler as s

EXEC_PENDING = "pending"
EXEC_RUNNING = "running"
EXEC_PAUSED = "paused"
EXEC_SUCCEEDED = "succeeded"
EXEC_FAILED = "failed"
EXEC_CANCELLED = "cancelled"

#: target status -> the statuses an execution may move there from.
EXECUTION_TRANSITIONS: dict[str, frozenset[str]] = {
    EXEC_RUNNING: frozenset({EXEC_PENDING, EXEC_PAUSED, EXEC_FAILED}),
    EXEC_PAUSED: frozenset({EXEC_RUNNING}),
    EXEC_SUCCEEDED: frozenset({EXEC_RUNNING, EXEC_PAUSED}),
    EXEC_FAILED: frozenset({EXEC_RUNNING, EXEC_PAUSED}),
    EXEC_CANCELLED: frozenset({EXEC_PENDING, EXEC_RUNNING, EXEC_PAUSED}),
}

#: target status -> the statuses a node may move there from.
NODE_TRANSITIONS: dict[str, frozenset[str]] = {
    s.QUEUED: frozenset({s.PENDING, s.QUEUED, s.RUNNING, s.RETRYING, s.WAITING}),
    s.RUNNING: frozenset({s.QUEUED}),
    s.RETRYING: frozenset({s.QUEUED, s.RUNNING}),
    s.WAITING: frozenset({s.RUNNING}),
    s.SUCCEEDED: frozenset({s.RUNNING}),
    s.FAILED: frozenset({s.RUNNING, s.WAITING}),
    s.SKIPPED: frozenset({s.PENDING}),
    s.CANCELLED: frozenset({s.PENDING, s.QUEUED, s.RUNNING, s.RETRYING, s.WAITING}),
    s.PENDING: frozenset({s.QUEUED, s.RUNNING, s.WAITING, s.FAILED, s.CANCELLED}),
}

MSG_EXECUTION_TRANSITION = "An execution cannot go from {source} to {target}."
MSG_NODE_TRANSITION = "The node '{node_id}' cannot go from {source} to {target}."


def check_execution(source: str, target: str) -> None:
    if source not in EXECUTION_TRANSITIONS.get(target, ()):
        raise InvalidTransition(MSG_EXECUTION_TRANSITION.format(source=source, target=target), extra={"status": source})


def check_node(node_id: str, source: str, target: str) -> None:
    if source not in NODE_TRANSITIONS.get(target, ()):
        raise InvalidTransition(
            MSG_NODE_TRANSITION.format(node_id=node_id, source=source, target=target), extra={"status": source}
        )
