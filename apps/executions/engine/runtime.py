"""The engine's persistent side: locking, state changes, events and dispatch.

Every change to an execution and its nodes happens inside `locked(execution_id)`: one transaction that
holds the execution row (`select_for_update`), so node completions, joins, pauses and cancels of one
execution are serialised. A `Unit` collects what the transaction produced (events, tasks to send, tasks
to revoke) and hands it over on commit, so nothing is published or enqueued for a rolled-back change.

Delivery is at least once. A node task carries the id it was dispatched with (`NodeExecution.task_id`):
it only runs while the node is `queued` under that id, and its completion only counts while the node is
still `running` under that id, so a duplicate or stale delivery does nothing.

Every change to the state of an execution or of its nodes appends an event, so `last_seq` moves with it.
On PostgreSQL the common completion relies on that (runner `_succeed_unlocked`): it records a success in one
statement only while `last_seq` is still the one its claim took, and otherwise falls back to `locked()`.
A change that appends no event must happen inside a unit that does, or while the execution is not running
or has an error (that statement checks both): a node sent back to pending in a paused execution, say.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, CharField, F, Field, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.errors import ApplicationError, InvalidTransition
from apps.nodes.expressions import config_node_references
from apps.nodes.registry import registry
from apps.workflows.graph import Graph, parse_definition
from apps.workflows.models import Workflow, WorkflowVersion

from .. import metrics
from ..choices import ExecutionStatus, NodeStatus
from ..models import ExecutionEvent, NodeExecution, WorkflowExecution
from . import event_data, transitions
from . import scheduler as sched
from .event_data import EventType
from .port import NodeWrites, Store
from .store import current as current_store

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class CompiledGraph:
    """A version's definition parsed once per process (versions are immutable)."""

    definition: dict
    graph: Graph
    order: tuple[str, ...]
    #: node id -> the nodes whose outputs it may read: its sources, or every other node when its config
    #: mentions `nodes` (an expression may read any node's output).
    reads: dict[str, tuple[str, ...]]

    def node(self, node_id: str) -> dict:
        return dict(self.graph.nodes[node_id])


def compiled_graph(version_id: Any) -> CompiledGraph:
    return _compiled_graph(str(version_id))  # one cache entry whether the id comes as a UUID or as text


@lru_cache(maxsize=512)
def _compiled_graph(version_id: str) -> CompiledGraph:
    definition = WorkflowVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    graph = parse_definition(definition)
    reads = {node_id: _reads(graph, node_id, node) for node_id, node in graph.nodes.items()}
    return CompiledGraph(definition=definition, graph=graph, order=graph.order(), reads=reads)


def _reads(graph: Graph, node_id: str, node: Mapping) -> tuple[str, ...]:
    """The nodes whose outputs a node may read: its sources and the nodes its expressions name (validation
    keeps those upstream), or every other node when an expression reads `nodes` dynamically."""
    node_class = registry.get(node["type"]) if node.get("type") in registry else None
    config = node.get("config", {})
    named = config_node_references(node_class.expression_config(config) if node_class else config)
    if named is None or (node_class is not None and node_class.reads_every_output):
        return tuple(other for other in graph.nodes if other != node_id)
    sources = {edge.source for edge in graph.inbound[node_id]}
    return tuple(sorted((sources | (named & graph.nodes.keys())) - {node_id}))


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


class _Publisher:
    """Hands committed events to `apps.executions.events.publish_committed()` on one background thread, in
    commit order.

    A worker goes on to its next node at once instead of waiting for the channel layer (a Redis round trip
    per group and event). Live events are a convenience: one lost at process exit is replayed by clients
    from the database.
    """

    #: Events per send at most (a batch is one channel-layer message per group).
    MAX_BATCH = 200
    #: Sends are at least this far apart: a worker running a node every few milliseconds sends its events a few
    #: nodes at a time (each send is a dozen Redis round trips on this process's CPU), one idle for longer sends
    #: at once. It bounds what the batching adds to a live event's latency.
    MIN_INTERVAL_SECONDS = 0.01

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, events: list[ExecutionEvent]) -> None:
        if not events:
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="concertmaster-events", daemon=True)
                self._thread.start()
        self._queue.put(events)

    def _run(self) -> None:
        from apps.executions import events as live

        sent_at = 0.0
        while True:
            # Everything committed while the previous send was in flight goes out together, in commit order.
            batch = list(self._queue.get())
            pause = sent_at + self.MIN_INTERVAL_SECONDS - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            sent_at = time.monotonic()
            try:
                live.publish_committed(batch)
            except Exception:  # publish_committed() logs its own errors; this guards the thread itself
                logger.exception("Publishing %d events failed", len(batch))


publisher = _Publisher()


def hand_over(events, dispatches, wakes, revokes, after) -> None:
    """After a commit: send the node tasks and wake-ups, revoke, run the callbacks, publish the events.

    The broker failing here (after the commit) never raises to the caller: the nodes it could not take stay
    `queued` in the database with their lease already expired, so the reaper sends them again on its next
    pass once the broker is back. Wake-ups and callbacks have database safety nets of their own (the waker reads
    `wake_at`, the children re-check, the start of queued executions runs on every recovery pass).
    """
    from . import tasks

    unsent: list[str] = []
    for execution_id, node_execution_id, node_id, task_id, version_id in dispatches:
        if unsent:  # the broker already failed for this commit: do not wait for it once per node
            unsent.append(node_execution_id)
            continue
        args = [execution_id, node_execution_id, node_id, version_id]
        try:
            # The args are ids: their plain repr is what Celery's saferepr would give, at a fraction of its cost.
            tasks.run_node.apply_async(args=args, task_id=task_id, argsrepr=repr(args), kwargsrepr="{}")
        except Exception:
            logger.warning("The broker did not take node %s of %s; the reaper will send it", node_id, execution_id)
            unsent.append(node_execution_id)
    if unsent:
        _leave_for_reaper(unsent)
    try:
        for execution_id, node_execution_id, countdown in wakes:
            tasks.wake_node.apply_async(args=[execution_id, node_execution_id], countdown=countdown)
    except Exception:
        logger.warning("The broker did not take %d wake-ups; the waker will run them when due", len(wakes))
    if revokes:
        _revoke(revokes)
    for callback in after:
        try:
            callback()
        except Exception:
            logger.warning("An after-commit step of the engine failed; recovery will redo it", exc_info=True)
    publisher.put(events)


def _leave_for_reaper(node_execution_ids: list[str]) -> None:
    """Expire the lease of queued nodes whose task the broker did not take, so the next reaper pass resends them."""
    try:
        NodeExecution.objects.filter(pk__in=node_execution_ids, status=NodeStatus.QUEUED).update(
            lease_expires_at=timezone.now()
        )
    except Exception:  # the database is down too: the lease set at queueing still runs out later
        logger.warning("Could not expire the lease of %d unsent nodes", len(node_execution_ids), exc_info=True)


def _revoke(task_ids: list[str]) -> None:
    """Ask workers to drop queued tasks. Best effort: a task that still arrives finds its node moved on."""
    from concertmaster.celery import app

    try:
        app.control.revoke(task_ids)
    except Exception:
        logger.warning("Revoking %d tasks failed; their claims will be refused", len(task_ids), exc_info=True)


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


# --- node state changes ------------------------------------------------------------------------------------


def new_task_id() -> str:
    return str(uuid.uuid4())


def set_node_status(node: NodeExecution, target: str) -> None:
    transitions.check_node(node.node_id, node.status, target)
    node.status = target


def queue_node(unit: Unit, node: NodeExecution, *, reason: str = "") -> None:
    """Queue `node` and send its task on commit; while the execution is paused it goes back to pending."""
    node.wake_at = None
    unit.remember(node)
    if unit.execution.error:  # the execution is stopping after a failure: nothing new may start
        set_node_status(node, NodeStatus.CANCELLED)
        node.finished_at = timezone.now()
        node.save(update_fields=["status", "wake_at", "state", "finished_at", "updated_at"])
        return
    if unit.execution.status != ExecutionStatus.RUNNING:
        set_node_status(node, NodeStatus.PENDING)
        node.save(update_fields=["status", "wake_at", "state", "updated_at"])
        return
    set_node_status(node, NodeStatus.QUEUED)
    node.task_id = new_task_id()
    node.lease_expires_at = timezone.now() + timedelta(seconds=settings.CONCERTMASTER_ENGINE_REDISPATCH_SECONDS)
    node.save(update_fields=["status", "task_id", "lease_expires_at", "wake_at", "state", "updated_at"])
    unit.event(EventType.NODE_QUEUED, node.node_id, **event_data.node_queued(reason=reason))
    unit.dispatch(node)


def _queue_many(unit: Unit, node_ids: tuple[str, ...]) -> None:
    nodes = [cast(NodeExecution, unit.node(node_id)) for node_id in node_ids]  # the unit holds every node
    now = timezone.now()
    lease = now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_REDISPATCH_SECONDS)
    for node in nodes:
        set_node_status(node, NodeStatus.QUEUED)
        node.task_id = new_task_id()
        node.lease_expires_at = lease
        node.wake_at = None
        node.updated_at = now
        unit.event(EventType.NODE_QUEUED, node.node_id, **event_data.node_queued())
        unit.dispatch(node)
    # One UPDATE in which only the task id differs per node (bulk_update would build a CASE for every field).
    if len(nodes) == 1:
        task_id: Any = nodes[0].task_id
    else:
        task_id = Case(*(When(pk=node.pk, then=Value(node.task_id)) for node in nodes), output_field=CharField())
    unit.update_nodes(
        [node.pk for node in nodes],
        status=NodeStatus.QUEUED,
        task_id=task_id,
        lease_expires_at=lease,
        wake_at=None,
        updated_at=now,
        queued_at=Coalesce(F("queued_at"), Value(now)),  # first queued: a node sent back by a pause keeps it
    )


def node_states(unit: Unit) -> dict[str, sched.NodeState]:
    return {node_id: unit.state_of(node_id) for node_id in unit.node_ids()}


def advance(unit: Unit) -> None:
    """Ask the scheduler what is next: skip dead branches, queue ready nodes, finish when nothing is left."""
    execution = unit.execution
    if execution.status not in ACTIVE_EXECUTION:
        return
    compiled = unit.graph
    step = sched.next_step(compiled.graph, compiled.order, node_states(unit))
    if step.skipped:
        now = timezone.now()
        unit.update_nodes(
            [cast(NodeExecution, unit.node(node_id)).pk for node_id in step.skipped],
            status=NodeStatus.SKIPPED,
            finished_at=now,
        )
        for node_id in step.skipped:
            node = cast(NodeExecution, unit.node(node_id))
            node.status = NodeStatus.SKIPPED
            node.finished_at = now
            unit.event(EventType.NODE_SKIPPED, node_id)
    if step.ready and execution.status == ExecutionStatus.RUNNING and not execution.error:
        _queue_many(unit, step.ready)
    if step.finished:
        finish_execution(unit, ExecutionStatus.FAILED if execution.error else ExecutionStatus.SUCCEEDED)


# --- executions -------------------------------------------------------------------------------------------


def create_execution(
    *,
    workflow: Workflow,
    version: WorkflowVersion,
    input: Any,
    trigger_kind: str,
    triggered_by: Any = None,
    parent: WorkflowExecution | None = None,
    parent_node_id: str = "",
    correlation_id: str = "",
    variables: dict | None = None,
    presets: Mapping[str, Any] | None = None,
    markers: Mapping[str, Any] | None = None,
) -> WorkflowExecution:
    """Insert a pending execution and one pending row per node (the caller starts it or leaves it queued).

    `vars` are the version's variables, updated by `variables` (the run's override, stored with it).
    `presets` (node id -> `plans.Preset`) are nodes whose row starts out settled: a pin, an output taken over,
    a node outside a partial run; `begin_execution` announces them. `markers` are further execution fields
    (test_run, run_mode, run_node_id, source_execution, rerun_from).
    """
    definition = version.definition
    presets = presets or {}
    execution = WorkflowExecution(
        organization_id=workflow.organization_id,
        workflow=workflow,
        version=version,
        status=ExecutionStatus.PENDING,
        trigger_kind=trigger_kind,
        trigger_data=input if input is not None else {},
        context={"vars": {**definition.get("variables", {}), **(variables or {})}},
        variables_override=variables,
        parent=parent,
        parent_node_id=parent_node_id,
        triggered_by=triggered_by,
        correlation_id=correlation_id,
        **(markers or {}),
    )
    # The related rows are the instances just passed in and the id is new: checking each foreign key, the id's
    # uniqueness and the status constraint (the database enforces it) again would cost five round trips.
    execution.full_clean(
        exclude=["organization", "workflow", "version", "parent", "triggered_by", "source_execution"],
        validate_unique=False,
        validate_constraints=False,
    )
    execution.save()
    now = timezone.now()
    rows = []
    for node in definition.get("nodes", ()):
        row = NodeExecution(
            organization_id=workflow.organization_id, execution=execution, node_id=node["id"], node_type=node["type"]
        )
        preset = presets.get(node["id"])
        if preset is not None:
            row.status, row.ports, row.output = preset.status, list(preset.ports), preset.output
            row.state, row.finished_at = {PRESET_STATE: preset.note}, now
        rows.append(row)
    NodeExecution.objects.bulk_create(rows)
    return execution


def begin_execution(unit: Unit) -> None:
    """pending -> running: record the start and dispatch the trigger nodes."""
    execution = unit.execution
    transitions.check_execution(execution.status, ExecutionStatus.RUNNING)
    execution.status = ExecutionStatus.RUNNING
    execution.started_at = timezone.now()
    execution.save(update_fields=["status", "started_at", "updated_at"])
    unit.event(EventType.EXECUTION_STARTED, workflow_id=str(execution.workflow_id), version=str(execution.version_id))
    _announce_presets(unit)
    advance(unit)


#: The key of a node's state that says its row started out settled, and why (the data of its event).
PRESET_STATE = "preset"
_PRESET_EVENTS: dict[str, str] = {
    NodeStatus.SUCCEEDED: EventType.NODE_SUCCEEDED,
    NodeStatus.FAILED: EventType.NODE_FAILED,
    NodeStatus.SKIPPED: EventType.NODE_SKIPPED,
}


def _announce_presets(unit: Unit) -> None:
    """One event per node that started out settled (`create_execution`'s presets), in definition order."""
    for node_id in unit.node_ids():
        status = unit.state_of(node_id).status
        if status == NodeStatus.PENDING:
            continue
        note = (cast(NodeExecution, unit.node(node_id)).state or {}).get(PRESET_STATE)
        if note is not None:
            unit.event(_PRESET_EVENTS[status], node_id, **note)


def finish_execution(unit: Unit, status: str) -> None:
    """running/paused -> succeeded/failed: store the output, notify a parent, free a concurrency slot."""
    execution = unit.execution
    transitions.check_execution(execution.status, status)
    execution.status = status
    execution.finished_at = timezone.now()
    fields = ["status", "finished_at", "updated_at"]
    if status == ExecutionStatus.SUCCEEDED:
        execution.output = _execution_output(unit)
        fields.append("output")
    execution.save(update_fields=fields)
    kind = EventType.EXECUTION_SUCCEEDED if status == ExecutionStatus.SUCCEEDED else EventType.EXECUTION_FAILED
    unit.event(kind, **({"error": execution.error} if execution.error else {}))
    if status == ExecutionStatus.FAILED:  # the error workflow's start, recorded in this transaction
        from ..failures import execution_failed

        execution_failed(execution)
    after_finish(unit)


def after_finish(unit: Unit) -> None:
    """What every terminal execution triggers on commit: metrics, its parent's wake-up, the next queued run."""
    from . import tasks

    execution = unit.execution
    finished_at = cast(datetime, execution.finished_at)  # set by every path to a terminal status
    seconds = (finished_at - execution.started_at).total_seconds() if execution.started_at else None
    status = execution.status
    unit.after_commit.append(lambda: metrics.observe_execution_finished(status=status, seconds=seconds))
    if execution.parent_id:
        parent_id, node_id = str(execution.parent_id), execution.parent_node_id
        unit.after_commit.append(lambda: tasks.children_changed.delay(parent_id, node_id))
    limited = Workflow.objects.filter(pk=execution.workflow_id, max_concurrent_executions__gt=0)
    if execution.parent_id is None and limited.exists():
        workflow_id = str(execution.workflow_id)
        unit.after_commit.append(lambda: tasks.start_queued.delay(workflow_id))


def _execution_output(unit: Unit) -> Any:
    graph = unit.graph.graph
    if unit.execution.run_node_id:  # a partial run: what its node produced
        return unit.nodes().filter(node_id=unit.execution.run_node_id).values_list("output", flat=True).first()
    leaves = [node_id for node_id in graph.nodes if not graph.outbound[node_id]]
    rows = (
        unit.nodes().filter(node_id__in=leaves, status=NodeStatus.SUCCEEDED).values_list("node_id", "ports", "output")
    )
    return sched.leaf_output(graph, {node_id: (ports, output) for node_id, ports, output in rows})


def halt(unit: Unit, error: dict) -> None:
    """A failure stops the execution: keep the first error, cancel everything not yet running.

    Running nodes finish (a thread cannot be stopped safely); the execution fails once they have.
    """
    execution = unit.execution
    if not execution.error:
        execution.error = error
        execution.save(update_fields=["error", "updated_at"])
    cancel_open_nodes(unit, include_running=False)


def cancel_open_nodes(unit: Unit, *, include_running: bool) -> list[str]:
    """Mark unfinished nodes cancelled, revoke their tasks and cancel their child executions."""
    statuses = [NodeStatus.PENDING, NodeStatus.QUEUED, NodeStatus.RETRYING, NodeStatus.WAITING]
    if include_running:
        statuses.append(NodeStatus.RUNNING)
    nodes = list(unit.nodes().filter(status__in=statuses))
    now = timezone.now()
    for node in nodes:
        if node.task_id and node.status in (NodeStatus.QUEUED, NodeStatus.RUNNING):
            unit.revokes.append(node.task_id)
        if node.state.get("suspend", {}).get("kind") == SUSPEND_CHILDREN:
            from .children import cancel_children

            cancel_children(node)
        set_node_status(node, NodeStatus.CANCELLED)
        node.finished_at = now
        node.lease_expires_at = None
        node.wake_at = None
        node.updated_at = now
    NodeExecution.objects.bulk_update(nodes, ["status", "finished_at", "lease_expires_at", "wake_at", "updated_at"])
    unit.forget_nodes()
    return [node.node_id for node in nodes]


def retry_delay(retry: dict, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: exponential, capped, with "equal jitter".

    Equal jitter (half fixed, half random) spreads simultaneous retries without ever retrying at once;
    Celery's helper takes whole seconds only and its full jitter may pick zero.
    """
    base = float(retry.get("backoff_seconds", 1.0))
    factor = float(retry.get("backoff_factor", 2.0))
    cap = float(retry.get("max_delay_seconds", 300.0))
    delay = min(cap, base * factor ** max(attempt - 1, 0))
    if retry.get("jitter", True):
        delay = random.uniform(delay / 2, delay)
    return delay


def node_due_wake(node: NodeExecution, now: datetime) -> bool:
    return node.wake_at is not None and node.wake_at <= now


# --- control (called by services and by the engine itself) ------------------------------------------------

_RESET_FIELDS = [
    "status",
    "attempt",
    "error",
    "output",
    "ports",
    "state",
    "task_id",
    "wake_at",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_ms",
]
MSG_NOT_WAITING_FOR_APPROVAL = "The node '{node_id}' is not waiting for an approval."
MSG_UNKNOWN_NODE = "The execution has no node '{node_id}'."
MSG_NOTHING_TO_RETRY = "The execution has no failed node to retry."
MSG_NOT_AN_APPROVER = "You are not one of the approvers of the node '{node_id}'."


def set_execution_status(execution: WorkflowExecution, target: str) -> None:
    transitions.check_execution(execution.status, target)
    execution.status = target


def cancel_execution(unit: Unit, *, by: str = "") -> None:
    """Cancel: revoke queued and running tasks, mark every unfinished node (and child execution) cancelled."""
    execution = unit.execution
    set_execution_status(execution, ExecutionStatus.CANCELLED)
    cancelled = cancel_open_nodes(unit, include_running=True)
    execution.finished_at = timezone.now()
    execution.save(update_fields=["status", "finished_at", "updated_at"])
    unit.event(EventType.EXECUTION_CANCELLED, cancelled_nodes=cancelled, by=by)
    after_finish(unit)


def pause_execution(unit: Unit, *, by: str = "") -> None:
    """Pause: running nodes finish, queued ones go back to pending (their tasks revoked), nothing new starts."""
    execution = unit.execution
    set_execution_status(execution, ExecutionStatus.PAUSED)
    execution.save(update_fields=["status", "updated_at"])
    queued = list(unit.nodes().filter(status=NodeStatus.QUEUED))
    for node in queued:
        unit.revokes.append(node.task_id)
        set_node_status(node, NodeStatus.PENDING)
        node.lease_expires_at = None
    NodeExecution.objects.bulk_update(queued, ["status", "lease_expires_at"])
    unit.forget_nodes()
    unit.event(EventType.EXECUTION_PAUSED, requeued_nodes=[node.node_id for node in queued], by=by)


def resume_execution(unit: Unit, *, by: str = "") -> None:
    """Resume: wake what fell due while paused, then dispatch whatever is ready."""
    execution = unit.execution
    set_execution_status(execution, ExecutionStatus.RUNNING)
    execution.save(update_fields=["status", "updated_at"])
    unit.event(EventType.EXECUTION_RESUMED, by=by)
    from .recovery import wake

    now = timezone.now()
    parked = unit.nodes().filter(status__in=(NodeStatus.RETRYING, NodeStatus.WAITING))
    for node in parked:
        # Children may have finished while paused, and starting the next ones was held back.
        if node_due_wake(node, now) or node.state.get("suspend", {}).get("kind") == SUSPEND_CHILDREN:
            wake(unit, node, now)
    advance(unit)


def retry_failed_execution(unit: Unit, *, by: str = "") -> list[str]:
    """failed -> running again: reset the failed nodes that stopped it and the nodes cancelled with them."""
    execution = unit.execution
    nodes = list(unit.nodes().filter(status__in=(NodeStatus.FAILED, NodeStatus.CANCELLED)))
    # A failure routed to an error port or continued past was handled: only stopping failures re-run.
    nodes = [node for node in nodes if node.status == NodeStatus.CANCELLED or not node.ports]
    if not nodes:
        raise InvalidTransition(MSG_NOTHING_TO_RETRY)
    set_execution_status(execution, ExecutionStatus.RUNNING)
    execution.error = None
    execution.finished_at = None
    execution.save(update_fields=["status", "error", "finished_at", "updated_at"])
    for node in nodes:
        set_node_status(node, NodeStatus.PENDING)
        node.attempt = 0
        node.error = None
        node.output = None
        node.ports = []
        node.state = {}
        node.task_id = ""
        node.wake_at = None
        node.queued_at = None
        node.started_at = None
        node.finished_at = None
        node.duration_ms = None
    NodeExecution.objects.bulk_update(nodes, _RESET_FIELDS)
    unit.forget_nodes()
    reset = sorted(node.node_id for node in nodes)
    unit.event(EventType.EXECUTION_STARTED, retry=True, reset_nodes=reset, by=by)
    advance(unit)
    return reset


def resolve_approval(
    unit: Unit, *, node_id: str, decision: str, by: str, comment: str, identities: frozenset[str] | None = None
) -> NodeExecution:
    """Record an approver's decision on a waiting approval node and run it again with that decision.

    `identities` (username, email) must meet the node's `approvers` list when it has one; None skips the
    check (the engine or a superuser deciding).
    """
    node = unit.nodes().filter(node_id=node_id).first()
    if node is None:
        raise InvalidTransition(MSG_UNKNOWN_NODE.format(node_id=node_id))
    suspended = node.state.get("suspend", {})
    if node.status != NodeStatus.WAITING or suspended.get("kind") != SUSPEND_APPROVAL:
        raise InvalidTransition(MSG_NOT_WAITING_FOR_APPROVAL.format(node_id=node_id))
    if unit.execution.status not in ACTIVE_EXECUTION:
        raise InvalidTransition(
            transitions.MSG_EXECUTION_TRANSITION.format(source=unit.execution.status, target="approval")
        )
    approvers = suspended.get("data", {}).get("approvers") or []
    if approvers and identities is not None and not identities & set(approvers):
        raise ApplicationError(MSG_NOT_AN_APPROVER.format(node_id=node_id))
    node.state = {**node.state, "resume": {"decision": decision, "by": by, "comment": comment}}
    queue_node(unit, node, reason=decision)
    return node
