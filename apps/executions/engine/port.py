"""The engine's storage port: what the claim, the completion and the locked unit need from the database, as one
interface with two adapters (`orm_store.OrmStore`, `sql_store.PostgresStore`), chosen once per call site by
`store.current()`. Nothing above the port asks which database it runs on.

Two operations are the hot path's shortcuts, which an adapter may decline with `TAKE_LOCK` / None: `claim` (take a
node in one statement, without holding the execution lock) and `complete_success` (record a success whose
successors are simply queued, compare-and-set on the execution's `last_seq`). The caller then does the same under
`lock`, so both adapters write the same rows (tests/executions/engine/test_store_differential.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from django.db import connection

from ..models import ExecutionEvent, NodeExecution, WorkflowExecution

#: `Store.claim`'s answer when the adapter has no one-statement claim: the caller claims under the lock.
TAKE_LOCK = object()


@dataclass(frozen=True)
class Claimed:
    """What a claim without the lock took and read."""

    execution: WorkflowExecution
    node: NodeExecution
    event: ExecutionEvent
    #: node id -> (ports, output) of the finished nodes among the sources asked for.
    finished: dict[str, tuple[list, Any]]
    #: node id -> (status, ports) of every node, as of the claimed sequence number (this node still queued);
    #: None when another change slipped in between the statement's snapshot and its lock.
    states: dict[str, tuple[str, list]] | None


@dataclass(frozen=True)
class Success:
    """A success to record without the lock (`Store.complete_success`)."""

    execution_id: str
    organization_id: str
    workflow_id: str
    #: The execution's `last_seq` as the claim took it: the success counts only while it is unchanged.
    seen_seq: int
    node_execution_id: str
    node_id: str
    task_id: str
    ports: list
    output: Any
    duration_ms: int
    queued_at: datetime | None
    #: The run's input and rendered config, as JSON text (None: not rendered).
    input: str
    rendered_config: str | None
    #: node id -> new task id of the successors to queue, in the scheduler's order.
    next_tasks: dict[str, str]
    now: datetime
    lease: datetime


@dataclass(frozen=True)
class Completed:
    """A success recorded without the lock: the events it appended, and node id -> NodeExecution id queued."""

    events: list[ExecutionEvent]
    queued: dict[str, str]


@dataclass
class NodeWrites:
    """Node UPDATEs (sql, params) a unit holds back to send with its events (one statement), and the rows they
    change. Empty for a store that writes at once."""

    pending: list[tuple[str, tuple]] = field(default_factory=list)
    pks: set[str] = field(default_factory=set)

    def take(self) -> list[tuple[str, tuple]]:
        pending, self.pending, self.pks = self.pending, [], set()
        return pending

    def write(self) -> None:
        """Send what is held back, one statement each (a read of node rows must see them)."""
        for sql, params in self.take():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)


class Store(Protocol):
    """How the engine reads and writes executions, nodes and events."""

    name: str

    def lock(
        self, execution_id: Any, *, durable: bool, row_fields: tuple[str, ...] | None
    ) -> tuple[WorkflowExecution, dict[str, tuple] | None]:
        """Lock the execution row for this transaction and return it; with `row_fields`, also those fields of every
        node by node id (or None when the adapter leaves them to be read when first needed). `durable=False`:
        the commit need not wait for the disk (a claim, which a crash only makes run again)."""

    def update_nodes(self, writes: NodeWrites, node_pks: Sequence[Any], values: dict[str, Any]) -> None:
        """UPDATE these node rows with `values` (model field names): at once, or held in `writes` until the
        unit's events go out or a read needs them."""

    def append_events(self, execution: WorkflowExecution, events: list[ExecutionEvent], writes: NodeWrites) -> None:
        """Insert `events`, record the execution's `last_seq` and send the held-back node writes."""

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
        """Take the node (queued under `task_id` -> running, an attempt counted unless it resumes) and append
        `node_started`, without the lock: Claimed, None when it is not this task's to run, or TAKE_LOCK.
        `sources()`: the nodes whose outputs it reads, None when the node is not in the version's graph."""

    def complete_success(self, success: Success) -> Completed | None:
        """Record a success and queue `next_tasks` if the execution is unchanged since `seen_seq`; None when it
        changed or the adapter cannot (the caller records it under the lock)."""
