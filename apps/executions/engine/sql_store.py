"""The storage port on PostgreSQL: the hand-written statements of `statements.py` for the hot path (a claim and
a plain success in one statement each, without the execution lock; the lock reading every node's state in the
locking statement), and the unit's node writes held back to go out with its events in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from django.db import connection
from django.db.models import Model
from django.db.models.expressions import RawSQL
from django.db.models.sql import InsertQuery, UpdateQuery

from ..models import ExecutionEvent, NodeExecution, WorkflowExecution
from . import event_data, statements
from .event_data import EventType
from .port import TAKE_LOCK, Claimed, Completed, NodeWrites, Success


class PostgresStore:
    name = "sql"

    def lock(
        self, execution_id: Any, *, durable: bool, row_fields: tuple[str, ...] | None
    ) -> tuple[WorkflowExecution, dict[str, tuple] | None]:
        if row_fields is not None:
            return statements.lock_with_nodes(execution_id, row_fields)
        executions = WorkflowExecution.objects.select_for_update()
        if not durable:
            # Set in the locking statement itself: one round trip fewer than a SET LOCAL before it.
            executions = executions.annotate(_commit=RawSQL("set_config('synchronous_commit', 'off', true)", ()))
        return executions.get(pk=execution_id), None

    def update_nodes(self, writes: NodeWrites, node_pks: Sequence[Any], values: dict[str, Any]) -> None:
        """Held back until the unit's events go out (one statement), unless the same rows change twice (one
        statement may not change a row twice): then what is held goes out first."""
        pks = {str(pk) for pk in node_pks}
        if pks & writes.pks:
            writes.write()
        query = cast(UpdateQuery, NodeExecution.objects.filter(pk__in=node_pks).query.chain(UpdateQuery))
        query.add_update_values(values)
        writes.pending.append(query.get_compiler(connection=connection).as_sql())
        writes.pks |= pks

    def append_events(self, execution: WorkflowExecution, events: list[ExecutionEvent], writes: NodeWrites) -> None:
        """One statement: the held-back node updates, the events and the execution's last seq."""
        pending = writes.take()
        insert = InsertQuery(ExecutionEvent)
        insert.insert_values(ExecutionEvent._meta.concrete_fields, cast(list[Model], events))
        [(insert_sql, insert_params)] = insert.get_compiler(connection=connection).as_sql()
        table = connection.ops.quote_name(WorkflowExecution._meta.db_table)
        updates = "".join(f"updated{index} AS ({sql}), " for index, (sql, _) in enumerate(pending))
        params = [param for _, update_params in pending for param in update_params]
        with statements.server_bound_cursor() as cursor:
            cursor.execute(
                f"WITH {updates}inserted AS ({insert_sql}) UPDATE {table} SET last_seq = %s WHERE id = %s",
                [*params, *insert_params, execution.last_seq, execution.pk],
            )

    def claim(
        self,
        *,
        execution_id: str,
        version_id: str,
        node_execution_id: str,
        node_id: str,
        task_id: str,
        sources: Callable[[], list[str] | None],
        now: datetime,
        lease: datetime,
    ) -> Claimed | object | None:
        reads = sources()
        if reads is None:
            return TAKE_LOCK
        return statements.claim(
            execution_id=execution_id,
            version_id=version_id,
            node_execution_id=node_execution_id,
            node_id=node_id,
            task_id=task_id,
            sources=reads,
            now=now,
            lease=lease,
        )

    def complete_success(self, success: Success) -> Completed | None:
        execution = WorkflowExecution(
            id=success.execution_id, organization_id=success.organization_id, workflow_id=success.workflow_id
        )

        def event(offset: int, type_: str, node_id: str, data: dict) -> ExecutionEvent:
            return ExecutionEvent(
                id=uuid.uuid4(),
                organization_id=success.organization_id,
                execution=execution,
                seq=success.seen_seq + offset,
                type=type_,
                node_id=node_id,
                data=data,
                at=success.now,
            )

        timing = event_data.timing(success.queued_at, success.now, success.duration_ms)
        events = [
            event(
                1, EventType.NODE_SUCCEEDED, success.node_id, event_data.node_succeeded(ports=success.ports, **timing)
            ),
            *(
                event(2 + index, EventType.NODE_QUEUED, node_id, event_data.node_queued())
                for index, node_id in enumerate(success.next_tasks)
            ),
        ]
        queued = statements.complete_unlocked(
            execution_id=success.execution_id,
            organization_id=success.organization_id,
            seen_seq=success.seen_seq,
            node_execution_id=success.node_execution_id,
            task_id=success.task_id,
            fields={
                "ports": success.ports,
                "output": success.output,
                "duration_ms": success.duration_ms,
                "input": success.input,
                "rendered_config": success.rendered_config,
            },
            next_tasks=success.next_tasks,
            events=events,
            now=success.now,
            lease=success.lease,
        )
        return None if queued is None else Completed(events=events, queued=queued)
