"""The unit of change: one transaction holding an execution row, and what it produced.

Every change to an execution and its nodes happens inside `locked(execution_id)`: one transaction that
holds the execution row (`select_for_update`), so node completions, joins, pauses and cancels of one
execution are serialised. A `Unit` collects what the transaction produced (events, tasks to send, tasks
to revoke) and hands it over on commit (`handover.py`), so nothing is published or enqueued for a rolled-back
change. The unit is also the one write API for node rows inside a change (`save_node`, `save_nodes`,
`update_nodes`), through the storage port (`store.current()`).

Delivery is at least once. A node task carries the id it was dispatched with (`NodeExecution.task_id`):
it only runs while the node is `queued` under that id, and its completion only counts while the node is
still `running` under that id, so a duplicate or stale delivery does nothing.

Every change to the state of an execution or of its nodes appends an event, so `last_seq` moves with it.
The completion without the lock relies on that (`complete._succeed_unlocked`, `Store.complete_success`): it
records a success only while `last_seq` is still the one its claim took, and otherwise falls back to `locked()`.
A change that appends no event must happen inside a unit that does, or while the execution is not running
or has an error (that statement checks both): a node sent back to pending in a paused execution, say.
tests/executions/engine/test_store_differential.py checks this invariant with a database trigger.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from ..choices import ExecutionStatus
from ..models import ExecutionEvent, NodeExecution, WorkflowExecution
from . import scheduler as sched
from . import transitions
from .graphs import CompiledGraph, compiled_graph
from .handover import hand_over
from .port import NodeWrites, Store
from .store import current as current_store

SUSPEND_DELAY = "delay"


SUSPEND_APPROVAL = "approval"


SUSPEND_CHILDREN = "children"


ACTIVE_EXECUTION = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)


#: What a unit reads of every node of its execution (not the large JSON fields), and the tuple positions.
_ROW_NAMES = {
    "id",
    "organization_id",
    "execution_id",
    "node_id",
    "node_type",
    "status",
    "ports",
    "task_id",
    "attempt",
    "state",
}


# In model field order: Model.from_db() maps a partial row by that order.
_ROW_FIELDS = tuple(f.attname for f in NodeExecution._meta.concrete_fields if f.attname in _ROW_NAMES)


_NODE_ID, _STATUS, _PORTS = (_ROW_FIELDS.index(name) for name in ("node_id", "status", "ports"))


#: Positions of the id columns, which rows read as JSON (PostgreSQL's `locked(nodes=True)`) carry as text.
_UUID_POSITIONS = frozenset(
    _ROW_FIELDS.index(f.attname)
    for f in NodeExecution._meta.concrete_fields
    if f.attname in _ROW_NAMES and f.get_internal_type() in ("UUIDField", "ForeignKey")
)


@dataclass
class Unit:
    """What one locked transaction on an execution produced; `flush` hands it to the commit hooks."""

    execution: WorkflowExecution
    #: The storage port this unit writes through (`store.current()` when it began).
    store: Store = field(default_factory=current_store)
    events: list[ExecutionEvent] = field(default_factory=list)
    dispatches: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    wakes: list[tuple[str, str, float]] = field(default_factory=list)
    revokes: list[str] = field(default_factory=list)
    after_commit: list = field(default_factory=list)
    #: The scheduler's view of the execution's nodes, read once per unit as plain tuples (a 200-node
    #: workflow would otherwise build 200 model instances per completion); model instances are made only
    #: for the nodes a unit changes, and override their tuple. Code that changes node rows behind this
    #: view calls `forget_nodes()`.
    _rows: dict[str, tuple] | None = None
    _objects: dict[str, NodeExecution] = field(default_factory=dict)
    #: Node UPDATEs the store holds back to send with the events.
    _writes: NodeWrites = field(default_factory=NodeWrites)

    @property
    def graph(self) -> CompiledGraph:
        return compiled_graph(self.execution.version_id)

    def _node_rows(self) -> dict[str, tuple]:
        if self._rows is None:
            rows = self.nodes().values_list(*_ROW_FIELDS)
            self._rows = {row[_NODE_ID]: row for row in rows}
        return self._rows

    def node(self, node_id: str) -> NodeExecution | None:
        """The node as a model instance (its large JSON fields deferred), shared by everything in this unit."""
        if node_id not in self._objects:
            row = self._node_rows().get(node_id)
            if row is None:
                return None
            if isinstance(row[0], str):
                row = tuple(uuid.UUID(value) if i in _UUID_POSITIONS else value for i, value in enumerate(row))
            self._objects[node_id] = NodeExecution.from_db(connection.alias, _ROW_FIELDS, row)
        return self._objects[node_id]

    def node_ids(self) -> list[str]:
        return list(self._node_rows())

    def state_of(self, node_id: str) -> sched.NodeState:
        node = self._objects.get(node_id)
        if node is not None:
            return sched.NodeState(node.status, frozenset(node.ports or ()))
        row = self._node_rows()[node_id]
        return sched.NodeState(row[_STATUS], frozenset(row[_PORTS] or ()))

    def remember(self, node: NodeExecution) -> None:
        self._objects[node.node_id] = node

    def forget_nodes(self) -> None:
        self._rows = None
        self._objects = {}

    def event(self, type_: str, node_id: str = "", **data: Any) -> None:
        self.execution.last_seq += 1
        self.events.append(
            ExecutionEvent(
                organization_id=self.execution.organization_id,
                execution=self.execution,
                seq=self.execution.last_seq,
                type=type_,
                node_id=node_id,
                data=data,
                at=timezone.now(),
            )
        )

    def dispatch(self, node: NodeExecution) -> None:
        execution = self.execution
        self.dispatches.append((str(execution.pk), str(node.pk), node.node_id, node.task_id, str(execution.version_id)))

    def wake_later(self, node: NodeExecution, seconds: float) -> None:
        """Also wake `node` by a countdown when it is short (beat wakes it in any case)."""
        if seconds <= settings.CONCERTMASTER_ENGINE_MAX_COUNTDOWN_SECONDS:
            self.wakes.append((str(self.execution.pk), str(node.pk), max(seconds, 0.0)))

    def update_nodes(self, node_pks: list, **values: Any) -> None:
        """UPDATE these node rows with `values`, through the store: at once, or held back to go out with the
        unit's events (PostgreSQL). Reads of node rows inside a unit go through `nodes()`, which writes what is
        held back first."""
        self.store.update_nodes(self._writes, node_pks, values)

    def save_node(self, node: NodeExecution, fields: list[str]) -> None:
        """`node.save(update_fields=fields)`, through `update_nodes` (auto_now fields are set as save() would)."""
        meta = node._meta
        values = {name: cast(Field, meta.get_field(name)).pre_save(node, False) for name in fields}
        self.update_nodes([node.pk], **values)

    def save_nodes(self, nodes: list[NodeExecution], fields: list[str]) -> None:
        """`bulk_update(nodes, fields)` at once (what is held back goes first); the unit's view of the nodes is
        read again when next needed."""
        self.write_pending()
        NodeExecution.objects.bulk_update(nodes, fields)
        self.forget_nodes()

    def write_pending(self) -> None:
        self._writes.write()

    def nodes(self):
        """This execution's node rows, as a queryset (pending changes written first)."""
        self.write_pending()
        return NodeExecution.objects.filter(execution_id=self.execution.pk)

    def flush(self) -> None:
        if self.events:
            self.store.append_events(self.execution, self.events, self._writes)
        self.write_pending()
        events, dispatches, wakes, revokes = self.events, self.dispatches, self.wakes, self.revokes
        after = self.after_commit
        transaction.on_commit(lambda: hand_over(events, dispatches, wakes, revokes, after))
        self.events, self.dispatches, self.wakes, self.revokes, self.after_commit = [], [], [], [], []


@contextmanager
def locked(execution_id: Any, *, durable: bool = True, nodes: bool = False) -> Iterator[Unit]:
    """One transaction holding the execution row; yields a Unit flushed when the block succeeds.

    `nodes=True` reads the scheduler's view of every node in the locking statement itself on PostgreSQL (for a
    unit that will need it: a node completing), instead of in a second query when first asked.

    `durable=False` lets PostgreSQL acknowledge the commit before its WAL reaches the disk (for a claim:
    losing it in a database crash only means the node is claimed and run again, which at-least-once
    delivery allows anyway); it saves a disk flush per node.
    """
    # No savepoint when nested (a service's transaction, a parent cancelling its children): a failure here
    # must undo the whole change anyway.
    with transaction.atomic(savepoint=False):
        port = current_store()
        execution, rows = port.lock(execution_id, durable=durable, row_fields=_ROW_FIELDS if nodes else None)
        unit = Unit(execution=execution, store=port, _rows=rows)
        yield unit
        unit.flush()


def new_task_id() -> str:
    return str(uuid.uuid4())


def set_node_status(node: NodeExecution, target: str) -> None:
    transitions.check_node(node.node_id, node.status, target)
    node.status = target
