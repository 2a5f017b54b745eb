"""The storage port on the ORM (any database; the embedded default on SQLite): every write at once, the locked
path for every claim and completion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..models import ExecutionEvent, NodeExecution, WorkflowExecution
from .port import TAKE_LOCK, Completed, NodeWrites, Success


class OrmStore:
    name = "orm"

    def lock(
        self, execution_id: Any, *, durable: bool, row_fields: tuple[str, ...] | None
    ) -> tuple[WorkflowExecution, dict[str, tuple] | None]:
        return WorkflowExecution.objects.select_for_update().get(pk=execution_id), None

    def update_nodes(self, writes: NodeWrites, node_pks: Sequence[Any], values: dict[str, Any]) -> None:
        NodeExecution.objects.filter(pk__in=node_pks).update(**values)

    def append_events(self, execution: WorkflowExecution, events: list[ExecutionEvent], writes: NodeWrites) -> None:
        writes.write()
        ExecutionEvent.objects.bulk_create(events)
        WorkflowExecution.objects.filter(pk=execution.pk).update(last_seq=execution.last_seq)

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
    ) -> object:
        return TAKE_LOCK  # a claim is a few statements here: they run under the execution lock

    def complete_success(self, success: Success) -> Completed | None:
        return None  # likewise: the completion runs under the lock
