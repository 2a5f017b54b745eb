"""The hot path's statements on PostgreSQL, written as SQL: claiming a node, and locking an execution with
its nodes' scheduling state.

Every node runs through these two, so their cost is the engine's per-node overhead. The ORM would take two
transactions of five statements for a claim; here a claim is one statement in autocommit (a data-modifying
WITH: check and take the node, bump the execution's sequence, append `node_started`, read the inputs), and a
completion reads what it needs under the lock in one. They serve the PostgreSQL adapter of the storage port
(`sql_store.py`); the ORM adapter (`orm_store.py`) does the same in more statements, and the tests run both.

The statements are built from the definitions the ORM path uses: column names from the models' `_meta` (an insert
names every concrete field, so a new column cannot be left out silently), event payloads from the builders in
`event_data.py`, and the node status guards from `transitions.NODE_TRANSITIONS`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from django.db import connection

from ..choices import ExecutionStatus, NodeStatus
from ..models import ExecutionEvent, NodeExecution, WorkflowExecution
from . import event_data, transitions
from .event_data import EventType
from .port import Claimed
from .sql import (
    EXECUTION,
    NODE,
    STATUSES,
    Column,
    assign,
    columns,
    guard,
    insert,
    json_object,
    json_value,
    server_bound_cursor,
)

#: What the claim reads of the execution and of the node it takes.
_CLAIM_EXECUTION = (
    "id", "organization_id", "workflow_id", "last_seq", "trigger_data", "context", "started_at", "trigger_kind",
    "correlation_id",
)  # fmt: skip
_CLAIM_NODE = ("node_id", "node_type", "attempt", "state", "queued_at")
_STARTED = event_data.node_started(attempt=Column("claimed.attempt"), node_type=Column("claimed.node_type"))

_CLAIM = f"""
WITH execution AS (
    UPDATE {EXECUTION} SET last_seq = last_seq + 1
    WHERE id = %(execution)s AND version_id = %(version)s AND status = %(running)s AND error IS NULL
      AND EXISTS (
        SELECT 1 FROM {NODE} AS node
        WHERE id = %(node)s AND execution_id = %(execution)s AND node_id = %(node_id)s
          AND {guard("node.status", NodeStatus.RUNNING)} AND task_id = %(task)s
      )
    RETURNING {columns(WorkflowExecution, _CLAIM_EXECUTION, EXECUTION)},
              set_config('synchronous_commit', 'off', true) AS relaxed
), claimed AS (
    UPDATE {NODE} AS node
    SET {
    assign(
        NodeExecution,
        {
            "status": "%(status_running)s",
            "attempt": "CASE WHEN node.state ? 'resume' THEN node.attempt ELSE node.attempt + 1 END",
            "started_at": "%(now)s",
            "lease_expires_at": "%(lease)s",
            "updated_at": "%(now)s",
        },
    )
}
    FROM execution
    WHERE node.id = %(node)s AND node.execution_id = execution.id AND node.node_id = %(node_id)s
      AND {guard("node.status", NodeStatus.RUNNING)} AND node.task_id = %(task)s
    RETURNING {columns(NodeExecution, _CLAIM_NODE, "node")}
), started AS (
    INSERT INTO {
    insert(
        ExecutionEvent,
        {
            "id": "%(event)s",
            "created_at": "%(now)s",
            "updated_at": "%(now)s",
            "organization_id": "execution.organization_id",
            "execution_id": "execution.id",
            "seq": "execution.last_seq",
            "type": "%(type)s",
            "node_id": "claimed.node_id",
            "data": json_object(_STARTED),
            "at": "%(now)s",
        },
    )
}
    FROM execution, claimed
)
SELECT json_build_object(
    {", ".join(f"'{name}', execution.{name}" for name in _CLAIM_EXECUTION if name != "id")},
    {", ".join(f"'{name}', claimed.{name}" for name in _CLAIM_NODE)},
    'finished', (SELECT json_agg(json_build_array(source.node_id, source.ports, source.output))
                 FROM {NODE} AS source
                 WHERE source.execution_id = execution.id
                   AND source.node_id IN (SELECT jsonb_array_elements_text(%(sources)s::jsonb))
                   AND source.status IN (%(status_succeeded)s, %(status_failed)s)),
    'states', (SELECT json_agg(json_build_array(state.node_id, state.status, state.ports))
               FROM {NODE} AS state WHERE state.execution_id = execution.id),
    'snapshot_seq', (SELECT seen.last_seq FROM {EXECUTION} AS seen WHERE seen.id = execution.id))
FROM execution, claimed
"""


def claim(
    *,
    execution_id: str,
    version_id: str,
    node_execution_id: str,
    node_id: str,
    task_id: str,
    sources: list[str],
    now: datetime,
    lease: datetime,
) -> Claimed | None:
    """Take the node (queued under `task_id` -> running) if its execution is running without an error, in one
    statement; None when it is not this task's to run (a stale or duplicate delivery, a paused or stopping
    execution, a message whose version or node id does not match the rows). The commit is not waited for on
    disk (see `runtime.locked(durable=False)`)."""
    event_id = uuid.uuid4()
    params = {
        "execution": execution_id,
        "version": version_id,
        "node": node_execution_id,
        "node_id": node_id,
        "task": task_id,
        "event": event_id,
        "type": EventType.NODE_STARTED,
        "sources": json.dumps(sources),
        "now": now,
        "lease": lease,
        **STATUSES,
    }
    with server_bound_cursor() as cursor:
        cursor.execute(_CLAIM, params)
        row = cursor.fetchone()
    if row is None:
        return None
    # One JSON column: psycopg sets up a loader per result column and type, which cost more than the values.
    taken = json_value(row[0])
    seq, node_id, node_type, attempt = taken["last_seq"], taken["node_id"], taken["node_type"], taken["attempt"]
    started_at, queued_at = taken["started_at"], taken["queued_at"]
    execution = WorkflowExecution(
        id=uuid.UUID(str(execution_id)),
        organization_id=taken["organization_id"],
        workflow_id=taken["workflow_id"],
        status=ExecutionStatus.RUNNING,
        last_seq=seq,
        trigger_data=taken["trigger_data"],
        context=taken["context"],
        started_at=datetime.fromisoformat(started_at).astimezone(UTC) if started_at else None,
        trigger_kind=taken["trigger_kind"],
        correlation_id=taken["correlation_id"],
    )
    node = NodeExecution(
        id=uuid.UUID(str(node_execution_id)),
        organization_id=execution.organization_id,
        execution_id=execution.pk,
        node_id=node_id,
        node_type=node_type,
        status=NodeStatus.RUNNING,
        attempt=attempt,
        state=taken["state"],
        task_id=task_id,
        queued_at=datetime.fromisoformat(queued_at).astimezone(UTC) if queued_at else None,
        started_at=now,
        lease_expires_at=lease,
    )
    event = ExecutionEvent(
        id=event_id,
        organization_id=execution.organization_id,
        execution=execution,
        seq=seq,
        type=EventType.NODE_STARTED,
        node_id=node_id,
        data=event_data.node_started(attempt=attempt, node_type=node_type),
        at=now,
    )
    return Claimed(
        execution=execution,
        node=node,
        event=event,
        finished={source: (ports, output) for source, ports, output in taken["finished"] or ()},
        # All sub-statements read one snapshot: its states are current only if nothing committed between it
        # and the execution row's lock, which this statement's own bump of the sequence shows.
        states={nid: (status, ports) for nid, status, ports in taken["states"]}
        if taken["snapshot_seq"] + 1 == seq
        else None,
    )


# --- locking an execution with its nodes -------------------------------------------------------------------

#: The execution's columns a completion reads; the large JSON ones (trigger data, context, output) are left
#: deferred and fetched by the ORM only if something touches them.
_LOCKED_FIELDS = tuple(
    f.attname for f in WorkflowExecution._meta.concrete_fields if f.attname not in {"trigger_data", "context", "output"}
)
_JSON_FIELDS = {f.attname for f in WorkflowExecution._meta.concrete_fields if f.get_internal_type() == "JSONField"}


@lru_cache(maxsize=4)
def _lock_sql(row_fields: tuple[str, ...]) -> str:
    columns = ", ".join(f'execution."{name}"' for name in _LOCKED_FIELDS)
    node_columns = ", ".join(f'node."{name}"' for name in row_fields)
    return (
        f"SELECT {columns}, (SELECT json_agg(json_build_array({node_columns})) FROM {NODE} AS node"
        f" WHERE node.execution_id = execution.id) FROM {EXECUTION} AS execution WHERE execution.id = %s"
        " FOR UPDATE OF execution"
    )


def lock_with_nodes(execution_id: Any, row_fields: tuple[str, ...]) -> tuple[WorkflowExecution, dict[str, tuple]]:
    """Lock the execution row (FOR UPDATE) and read, in the same statement, `row_fields` of all its nodes.

    Returns the execution (large JSON fields deferred) and its node rows by node id, as tuples in
    `row_fields` order (ids as text). Raises WorkflowExecution.DoesNotExist like `get()`."""
    with server_bound_cursor() as cursor:
        cursor.execute(_lock_sql(row_fields), [execution_id])
        row = cursor.fetchone()
    if row is None:
        raise WorkflowExecution.DoesNotExist(f"No execution {execution_id}.")
    values = [
        json_value(value) if name in _JSON_FIELDS else value for name, value in zip(_LOCKED_FIELDS, row, strict=False)
    ]
    execution = WorkflowExecution.from_db(connection.alias, _LOCKED_FIELDS, values)
    node_id = row_fields.index("node_id")
    nodes = {node_row[node_id]: tuple(node_row) for node_row in row[-1] or ()}
    return execution, nodes


# --- completing a node without a lock --------------------------------------------------------------------

_COMPLETE = f"""
WITH execution AS (
    UPDATE {EXECUTION} SET last_seq = %(seq)s
    WHERE id = %(execution)s AND last_seq = %(seen)s AND status = %(running)s AND error IS NULL
    RETURNING id
), done AS (
    UPDATE {NODE} AS node
    SET {
    assign(
        NodeExecution,
        {
            "status": "%(status_succeeded)s",
            "ports": "%(ports)s::jsonb",
            "output": "%(output)s::jsonb",
            "error": "NULL",
            "state": "'{}'",
            "duration_ms": "%(duration)s",
            "lease_expires_at": "NULL",
            "finished_at": "%(now)s",
            "updated_at": "%(now)s",
            "input": "%(input)s::jsonb",
            "rendered_config": "%(config)s::jsonb",
        },
    )
}
    FROM execution
    WHERE node.id = %(node)s AND node.execution_id = execution.id
      AND {guard("node.status", NodeStatus.SUCCEEDED)} AND node.task_id = %(task)s
    RETURNING node.id
), queued AS (
    UPDATE {NODE} AS node
    SET {
    assign(
        NodeExecution,
        {
            "status": "%(status_queued)s",
            "task_id": "next.task_id",
            "lease_expires_at": "%(lease)s",
            "wake_at": "NULL",
            "updated_at": "%(now)s",
            "queued_at": "COALESCE(node.queued_at, %(now)s)",
        },
    )
}
    FROM done, jsonb_each_text(%(next)s::jsonb) AS next(node_id, task_id)
    WHERE node.execution_id = %(execution)s AND node.node_id = next.node_id AND node.status = %(status_pending)s
    RETURNING node.node_id, node.id
), appended AS (
    INSERT INTO {
    insert(
        ExecutionEvent,
        {
            "id": "event.id",
            "created_at": "%(now)s",
            "updated_at": "%(now)s",
            "organization_id": "%(organization)s",
            "execution_id": "%(execution)s",
            "seq": "event.seq",
            "type": "event.type",
            "node_id": "event.node_id",
            "data": "event.data",
            "at": "event.at",
        },
    )
}
    FROM done, jsonb_to_recordset(%(events)s::jsonb)
         AS event(id uuid, seq int, type varchar, node_id varchar, data jsonb, at timestamptz)
)
SELECT (SELECT count(*) FROM done), (SELECT json_agg(json_build_array(node_id, id)) FROM queued)
"""
# The scheduler queues ready nodes, which are pending: a move transitions.py must allow.
assert NodeStatus.PENDING in transitions.NODE_TRANSITIONS[NodeStatus.QUEUED]


def complete_unlocked(
    *,
    execution_id: str,
    organization_id: str,
    seen_seq: int,
    node_execution_id: str,
    task_id: str,
    fields: dict[str, Any],
    next_tasks: dict[str, str],
    events: list[ExecutionEvent],
    now: datetime,
    lease: datetime,
) -> dict[str, str] | None:
    """Record a success and queue its successors in one statement, if the execution has not changed since
    `seen_seq` (the sequence number its claim took): compare-and-set on the execution row instead of a lock.

    `fields` holds the node's ports and output as data, its input and rendered config as JSON text (or None).

    Every change to an execution's state appends an event, so an unchanged `last_seq` means the scheduler's
    answer computed from the claim's snapshot still holds. Returns node id -> NodeExecution id of the queued
    successors, or None when something changed (the caller completes under the lock instead).
    """
    # JSON goes in as text cast in the statement: one json.dumps per value, and the events and successors as one
    # JSON document each (psycopg dumps a list parameter element by element, which cost more than the statement).
    params = {
        "execution": execution_id,
        "organization": organization_id,
        "seen": seen_seq,
        "seq": events[-1].seq,
        "node": node_execution_id,
        "task": task_id,
        "ports": json.dumps(fields["ports"]),
        "output": json.dumps(fields["output"]),
        "input": fields["input"],
        "config": fields["rendered_config"],
        "duration": fields["duration_ms"],
        "next": json.dumps(next_tasks),
        "events": json.dumps(
            [
                {
                    "id": str(event.id),
                    "seq": event.seq,
                    "type": event.type,
                    "node_id": event.node_id,
                    "data": event.data,
                    "at": event.at.isoformat(),
                }
                for event in events
            ]
        ),
        "now": now,
        "lease": lease,
        **STATUSES,
    }
    with server_bound_cursor() as cursor:
        cursor.execute(_COMPLETE, params)
        done, queued = cursor.fetchone()
    if not done:
        return None
    return {node_id: pk for node_id, pk in queued or ()}
