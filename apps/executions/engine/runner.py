"""One node run: claim the node, render its config, run it under its timeout while renewing the lease,
record the outcome and move the execution on (see runtime.py for the locking rules)."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connections, transaction
from django.utils import timezone
from structlog.contextvars import bound_contextvars

from apps.nodes import credential_kinds
from apps.nodes.base import MAIN, Node, NodeContext, NodeError, NodeResult, Suspend, idempotency_key
from apps.nodes.datastore import DjangoNodeServices
from apps.nodes.expressions import PAST_DEADLINE, ExpressionError, expression_budget, has_expression, render
from apps.nodes.http import ALLOW_PRIVATE_SETTING
from apps.nodes.registry import UnknownNodeType, registry
from apps.orgs.variables import org_expression_context, org_secrets_apply
from apps.workflows.models import Credential

from .. import metrics
from ..choices import ExecutionStatus, NodeStatus
from ..execution_data import execution_custom_data_set
from ..logs import NodeLog
from ..models import NodeExecution, WorkflowExecution
from . import breaker, event_data, presence
from . import scheduler as sched
from .connections import through_outage
from .event_data import EventType
from .port import TAKE_LOCK, Claimed, Success
from .runtime import (
    SUSPEND_APPROVAL,
    SUSPEND_CHILDREN,
    SUSPEND_DELAY,
    CompiledGraph,
    Unit,
    advance,
    compiled_graph,
    halt,
    hand_over,
    locked,
    new_task_id,
    publisher,
    retry_delay,
    set_node_status,
)
from .store import current as current_store

logger = logging.getLogger(__name__)

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
#: Fields every recorded outcome (success, retry, failure) writes.
_OUTCOME_FIELDS = ("status", "error", "state", "duration_ms", "lease_expires_at", "updated_at")
#: Written with an outcome when the run set them (a node completing; not a worker-lost failure).
_RUN_FIELDS = ("input", "rendered_config")


def _with_run_fields(node: NodeExecution, fields: list[str]) -> list[str]:
    deferred = node.get_deferred_fields()
    return [*fields, *(name for name in _RUN_FIELDS if name not in deferred)]


def _outcome_fields(node: NodeExecution, *extra: str) -> list[str]:
    return _with_run_fields(node, [*_OUTCOME_FIELDS, *extra])


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


@dataclass(frozen=True)
class Claim:
    """Everything a claimed node needs to run, read while the execution was locked."""

    execution_id: str
    node_execution_id: str
    task_id: str
    organization_id: str
    node_id: str
    node_type: str
    attempt: int
    spec: dict
    inputs: dict
    expression_context: dict
    resume: dict | None
    #: When the node was first queued in this run (None for rows older than the column).
    queued_at: datetime | None = None
    #: The execution's correlation id, bound to the run's logs.
    correlation_id: str = ""
    workflow_id: str = ""
    #: From a one-statement claim (PostgreSQL): the version, the sequence number the claim took and every
    #: node's (status, ports) as of it, with which a success may be recorded without the lock.
    version_id: str = ""
    seen_seq: int | None = None
    states: dict[str, tuple[str, list]] | None = None


def run_node(
    execution_id: str, node_execution_id: str, task_id: str, *, node_id: str = "", version_id: str = ""
) -> None:
    """The body of the node task: claim, run, complete. Every step is a no-op for a stale delivery."""
    with bound_contextvars(execution_id=str(execution_id), node_id=node_id or None):
        claim = claim_node(execution_id, node_execution_id, task_id, node_id=node_id, version_id=version_id)
        if claim is None:
            return
        with bound_contextvars(node_id=claim.node_id, correlation_id=claim.correlation_id or None):
            started = time.monotonic()
            outcome, config, gate = execute(claim)
            if outcome is ABANDONED:
                return
            seconds = time.monotonic() - started
            # A database outage while the node ran: its outcome is recorded once the database is back (while the
            # lease would hold), instead of being lost with the task and the node run again.
            through_outage(
                lambda: complete_node(claim, outcome, seconds, config=config, gate=gate),
                seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS,
                what="record a node's outcome",
            )


def claim_node(
    execution_id: str, node_execution_id: str, task_id: str, *, node_id: str = "", version_id: str = ""
) -> Claim | None:
    """Take the node for this task (queued under this task id -> running, with a lease) and read its inputs.

    With `node_id` (sent with the task), the node and the outputs it reads come back in one query; with the
    version too, a store that can (PostgreSQL's) takes it in one statement without the lock (`Store.claim`).
    """
    if node_id and version_id:
        claim = _claim_in_one_statement(execution_id, node_execution_id, task_id, node_id, version_id)
        if claim is not _SLOW_PATH:
            return cast("Claim | None", claim)
    # The circuit breaker is asked once the config is rendered (its key may name a host): see `execute`.
    with locked(execution_id, durable=False) as unit:
        rows = _claim_rows(unit, node_id) if node_id else {}
        node = (
            rows.get(node_id) or NodeExecution.objects.filter(pk=node_execution_id, execution_id=execution_id).first()  # type: ignore[misc]  # str id
        )
        if node is None or str(node.pk) != str(node_execution_id):
            return None
        if node.status != NodeStatus.QUEUED or node.task_id != task_id:
            return None
        if version_id and str(unit.execution.version_id) != str(version_id):  # not this execution's message
            return None
        if unit.execution.status != ExecutionStatus.RUNNING or unit.execution.error:
            if unit.execution.status == ExecutionStatus.PAUSED:
                set_node_status(node, NodeStatus.PENDING)
                node.save(update_fields=["status", "updated_at"])
            return None
        resume = node.state.get("resume")
        set_node_status(node, NodeStatus.RUNNING)
        if resume is None:
            node.attempt += 1
        now = timezone.now()
        node.started_at = now
        node.lease_expires_at = now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS)
        node.save(update_fields=["status", "attempt", "started_at", "lease_expires_at", "updated_at"])
        unit.event(
            EventType.NODE_STARTED,
            node.node_id,
            **event_data.node_started(attempt=node.attempt, node_type=node.node_type),
        )
        finished = {nid: row for nid, row in rows.items() if nid != node.node_id} if rows else None
        return _build_claim(unit, node, task_id, resume, finished)


#: The key of a node's state naming the breaker target that parked it (dropped when the node next runs).
PARKED_BY_BREAKER = "breaker_target"

#: The store cannot take this node without the lock (it has no such claim, or the node is not in the version's
#: graph): the locked path decides.
_SLOW_PATH = object()


def _claim_in_one_statement(
    execution_id: str, node_execution_id: str, task_id: str, node_id: str, version_id: str
) -> Claim | object | None:
    def sources() -> list[str] | None:
        compiled = compiled_graph(version_id)
        return list(compiled.reads[node_id]) if node_id in compiled.graph.nodes else None

    now = timezone.now()
    claimed = current_store().claim(
        execution_id=execution_id,
        version_id=version_id,
        node_execution_id=node_execution_id,
        node_id=node_id,
        task_id=task_id,
        sources=sources,
        now=now,
        lease=now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS),
    )
    if claimed is TAKE_LOCK:
        return _SLOW_PATH
    if claimed is None:
        return None
    claimed = cast(Claimed, claimed)
    events = [claimed.event]
    transaction.on_commit(lambda: publisher.put(events))
    node = claimed.node
    resume = node.state.get("resume")
    claim = _claim_from(claimed.execution, node, compiled_graph(version_id), task_id, resume, claimed.finished)
    return replace(claim, version_id=version_id, seen_seq=claimed.execution.last_seq, states=claimed.states)


def _claim_rows(unit: Unit, node_id: str) -> dict[str, NodeExecution]:
    """The node to claim and the finished nodes whose outputs it may read, by node id (one query)."""
    compiled = unit.graph
    if node_id not in compiled.graph.nodes:
        return {}
    rows = NodeExecution.objects.filter(execution_id=unit.execution.pk, node_id__in={node_id, *compiled.reads[node_id]})
    return {row.node_id: row for row in rows}


def _park_for_breaker(unit: Unit, node: NodeExecution, blocked: Blocked, *, spent: bool) -> None:
    """Put a node taken for a run back as `retrying` until its breaker lets it through; the attempt its claim
    counted (`spent`: not a resumed run) is given back, and what it resumes with is kept. The state names the
    breaker's target, so that resetting the breaker wakes the node (`circuit_breaker_reset`)."""
    set_node_status(node, NodeStatus.RETRYING)
    if spent:
        node.attempt -= 1
    node.wake_at = blocked.until
    node.lease_expires_at = None
    node.state = {**node.state, PARKED_BY_BREAKER: blocked.key.target}
    node.save(update_fields=["status", "attempt", "wake_at", "lease_expires_at", "state", "updated_at"])
    unit.event(
        EventType.NODE_RETRYING,
        node.node_id,
        reason="circuit_open",
        wake_at=blocked.until.isoformat(),
        breaker_target=blocked.key.target,
    )
    unit.wake_later(node, (blocked.until - timezone.now()).total_seconds())


def _build_claim(
    unit: Unit,
    node: NodeExecution,
    task_id: str,
    resume: dict | None,
    rows: dict[str, NodeExecution] | None,
) -> Claim:
    execution = unit.execution
    compiled = unit.graph
    if rows is None:
        reads = NodeExecution.objects.filter(execution_id=execution.pk, node_id__in=compiled.reads[node.node_id])
        rows = {row.node_id: row for row in reads}
    done = (NodeStatus.SUCCEEDED, NodeStatus.FAILED)
    finished = {nid: (row.ports, row.output) for nid, row in rows.items() if row.status in done}
    return _claim_from(execution, node, compiled, task_id, resume, finished)


def _claim_from(
    execution: WorkflowExecution,
    node: NodeExecution,
    compiled: CompiledGraph,
    task_id: str,
    resume: dict | None,
    finished: dict[str, tuple[list, Any]],
) -> Claim:
    """The Claim of a node just taken, from its execution and the (ports, output) of its finished sources."""
    graph = compiled.graph
    if graph.inbound[node.node_id]:
        inputs = sched.node_inputs(graph, node.node_id, finished)
    else:
        inputs = {MAIN: execution.trigger_data}
    expression_context = {
        "trigger": execution.trigger_data,
        "nodes": {nid: {"output": output} for nid, (ports, output) in finished.items() if ports},
        "vars": execution.context.get("vars", {}),
        "org": org_expression_context(execution.organization_id),
        "execution": {
            "id": str(execution.pk),
            "workflow_id": str(execution.workflow_id),
            "started_at": execution.started_at.isoformat() if execution.started_at else None,
            "trigger_kind": execution.trigger_kind,
            "attempt": node.attempt,
        },
    }
    return Claim(
        execution_id=str(execution.pk),
        node_execution_id=str(node.pk),
        task_id=task_id,
        organization_id=str(execution.organization_id),
        node_id=node.node_id,
        node_type=node.node_type,
        attempt=node.attempt,
        spec=compiled.node(node.node_id),
        inputs=inputs,
        expression_context=expression_context,
        resume=resume,
        queued_at=node.queued_at,
        correlation_id=execution.correlation_id,
        workflow_id=str(execution.workflow_id),
    )


# --- running -------------------------------------------------------------------------------------------------


def execute(claim: Claim) -> tuple[Any, dict | None, Gate | None]:
    """Run the claimed node; returns (a NodeResult, a Suspend, a Failure, Blocked or ABANDONED; the rendered
    config, None when it could not be rendered; the circuit breaker the run went through, None when it failed
    before asking).

    The node's timeout covers everything the run does: its config is rendered in the node thread, under the
    timeout and with the lease renewed, and its expressions (the config's and the node's per-item ones) share
    one operation budget (CONCERTMASTER_EXPRESSION_MAX_OPERATIONS) that also stops at the timeout.
    """
    try:
        node_class = registry.get(claim.node_type)
    except UnknownNodeType as exc:
        return Failure(ERROR_UNKNOWN_TYPE, str(exc), retryable=False), None, None
    timeout = float(claim.spec.get("timeout_seconds") or settings.CONCERTMASTER_NODE_DEFAULT_TIMEOUT_SECONDS)
    deadline = time.monotonic() + timeout
    raw_config = claim.spec.get("config", {})
    # Credentials named without expressions are read here, on this thread's connection; others once rendered.
    literal = not any(has_expression(raw_config.get(name)) for name in node_class.credential_fields)
    found = _credentials(claim.organization_id, node_class.credential_fields, raw_config) if literal else None
    learnt: dict[str, Any] = {}

    given_up = threading.Event()  # set once the task stops waiting: a node's subprocess must not outlive it

    def job() -> Any:
        operations = settings.CONCERTMASTER_EXPRESSION_MAX_OPERATIONS
        with expression_budget(operations=operations, deadline=deadline):
            return _prepare_and_run(claim, node_class, found, learnt, timeout, (deadline, given_up.is_set))

    def renew() -> bool:
        try:
            return _renew_lease(claim)
        except (OperationalError, InterfaceError):  # a database outage: the run goes on, the lease decides
            logger.warning("Could not renew the lease of node %s (database unreachable)", claim.node_id)
            return True

    try:
        outcome = _run_timed(job, name=f"node-{claim.node_id}", timeout=timeout, deadline=deadline, renew=renew)
    finally:
        given_up.set()
    return outcome, learnt.get("config"), learnt.get("gate")


class _EngineError(Exception):
    """An error of the engine's own steps run in the node thread (breaker, credentials): raised again in the task."""


def _prepare_and_run(
    claim: Claim, node_class: type[Node], found: dict | Failure | None, learnt: dict, timeout: float, stop: tuple
) -> NodeResult | Suspend | Failure | Blocked:
    """In the node thread: render the config, find the credentials, pass the breaker, run the node."""
    try:
        written = claim.spec.get("config", {})
        config = render(node_class.expression_config(written), claim.expression_context, pointer="/config")
        config.update({key: written[key] for key in node_class.verbatim_fields if key in written})
    except ExpressionError as exc:
        if exc.reason == PAST_DEADLINE:
            return Failure(ERROR_TIMEOUT, MSG_TIMEOUT.format(seconds=timeout))
        return Failure(ERROR_EXPRESSION, exc.message, retryable=False, data={"pointer": exc.pointer})
    learnt["config"] = config
    try:
        if found is None:
            found = _credentials(claim.organization_id, node_class.credential_fields, config)
        if isinstance(found, Failure):
            return found
        key = breaker.key_for(claim.organization_id, claim.node_type, _breaker_target(node_class, config, found))
        blocked_until, dirty = breaker.admission(key)
    except Exception as exc:
        raise _EngineError() from exc
    if blocked_until is not None:
        return Blocked(until=blocked_until, key=key)
    learnt["gate"] = Gate(key=key, dirty=dirty)
    node_log = NodeLog(
        execution_id=claim.execution_id,
        organization_id=claim.organization_id,
        workflow_id=claim.workflow_id,
        node_id=claim.node_id,
    )
    ctx = NodeContext(
        node_id=claim.node_id,
        execution_id=claim.execution_id,
        organization_id=claim.organization_id,
        config=config,
        inputs=claim.inputs,
        credentials={
            name: credential_kinds.node_data(credential.kind, credential.data, internal=credential.allow_private)
            for name, credential in found.items()
        },
        attempt=claim.attempt,
        resume=claim.resume,
        services=DjangoNodeServices(claim.organization_id),
        logger=node_log.logger(f"concertmaster.node.{claim.node_type}"),
        log_sink=node_log.log,
        custom_data_sink=partial(execution_custom_data_set, execution_id=claim.execution_id),
        settings={ALLOW_PRIVATE_SETTING: settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP},
        idempotency_key=idempotency_key(claim.execution_id, claim.node_id),  # every attempt: the same key
        expression_context=claim.expression_context,
        deadline=stop[0],
        stopped=stop[1],
    )
    return _checked(node_class().run(ctx))


def _credentials(organization_id: str, fields: tuple[str, ...], config: dict) -> dict[str, Credential] | Failure:
    names = [config[name] for name in fields if isinstance(config.get(name), str) and config.get(name)]
    if not names:
        return {}
    found = {c.name: c for c in Credential.objects.filter(organization_id=organization_id, name__in=names)}
    for name in names:
        if name not in found:
            return Failure(ERROR_CREDENTIAL, MSG_CREDENTIAL_MISSING.format(name=name), retryable=False)
    unresolved = org_secrets_apply(organization_id=organization_id, credentials=found.values())
    if unresolved:
        return Failure(ERROR_CREDENTIAL, unresolved, retryable=False)
    return found


def _breaker_target(node_class: type[Node], config: dict, credentials: dict[str, Credential]) -> str | None:
    """The node type's own target (a host), else the credentials it uses, else None (the type as a whole)."""
    try:
        target = node_class.breaker_target(config)
    except Exception:  # a third-party hook must not stop the run: its nodes share one breaker instead
        logger.warning("%s.breaker_target failed; keyed by type", node_class.__name__, exc_info=True)
        target = None
    if target is None and credentials:
        target = "credential:" + ",".join(sorted(str(credential.pk) for credential in credentials.values()))
    return target


def _renew_lease(claim: Claim) -> bool:
    """Extend the lease; False when the node is no longer this task's (cancelled, or re-queued)."""
    expires = timezone.now() + timedelta(seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS)
    return bool(
        NodeExecution.objects.filter(
            pk=claim.node_execution_id, status=NodeStatus.RUNNING, task_id=claim.task_id
        ).update(lease_expires_at=expires)
    )


class _NodeThread:
    """A thread that runs nodes one at a time for one worker thread, kept from one node to the next (starting a
    thread per node cost more than a no-op node). A run that is given up on (timed out, abandoned) keeps its
    thread, which is then dropped: the next run starts a new one."""

    _local = threading.local()

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._serve, name="node", daemon=True)
        self._thread.start()

    @classmethod
    def take(cls) -> _NodeThread:
        """This worker thread's idle node thread, or a new one (also in a forked child, where threads are gone)."""
        idle = getattr(cls._local, "idle", None)
        cls._local.idle = None
        if idle is not None and idle._pid == os.getpid() and idle._thread.is_alive():
            return idle
        return cls()

    def give_back(self) -> None:
        self._local.idle = self

    def submit(self, name: str, context: contextvars.Context, job) -> threading.Event:
        done = threading.Event()
        self._jobs.put((name, context, job, done))
        return done

    def _serve(self) -> None:
        while True:
            name, context, job, done = self._jobs.get()
            threading.current_thread().name = name
            try:
                context.run(job)
            finally:
                done.set()


def run_with_timeout(run, ctx: NodeContext, *, timeout: float, renew) -> Any:
    """Run `run(ctx)` in a node thread; wait at most `timeout` seconds, calling `renew()` every third of a lease.

    A thread past its timeout cannot be killed safely in Python: it is left to finish in the background and
    its result is ignored (nodes doing I/O should also pass their own timeouts to their clients).
    """
    return _run_timed(lambda: _checked(run(ctx)), name=f"node-{ctx.node_id}", timeout=timeout, renew=renew)


def _checked(result: Any) -> NodeResult | Suspend | Failure:
    if not isinstance(result, NodeResult | Suspend):
        return Failure(ERROR_BAD_RESULT, MSG_BAD_RESULT.format(kind=type(result).__name__), retryable=False)
    return result


def _run_timed(job, *, name: str, timeout: float, renew, deadline: float | None = None) -> Any:
    """Run `job()` in a node thread until `deadline` (`timeout` seconds from now by default), renewing the lease;
    its result, a Failure for an exception or the timeout, or ABANDONED when the lease was lost."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = job()
        except BaseException as exc:  # the node's failure is data for the engine, whatever it is
            box["error"] = exc
        finally:
            connections.close_all()

    # The node's own logs carry the run's bound context (execution, node, correlation id).
    node_thread = _NodeThread.take()
    done = node_thread.submit(name, contextvars.copy_context(), target)
    renew_every = presence.renew_seconds()
    deadline = time.monotonic() + timeout if deadline is None else deadline
    while True:
        remaining = deadline - time.monotonic()
        if done.wait(max(min(renew_every, remaining), 0)):
            break
        if time.monotonic() >= deadline:
            return Failure(ERROR_TIMEOUT, MSG_TIMEOUT.format(seconds=timeout))
        if not renew():
            return ABANDONED
    node_thread.give_back()
    error = box.get("error")
    if isinstance(error, _EngineError):
        raise cast(BaseException, error.__cause__)  # an _EngineError always wraps its cause
    if error is not None:
        return _failure_from_exception(error)
    return box.get("result")


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


def _failure_from_exception(exc: BaseException) -> Failure:
    if isinstance(exc, NodeError):
        data = _json_data(exc.data)
        if data is None:
            data = {"unserializable": repr(exc.data)[:1000]}
        return Failure(ERROR_NODE, str(exc.message), retryable=exc.retryable, data=data)
    logger.warning("Node raised an unexpected exception", exc_info=exc)
    return Failure(ERROR_EXCEPTION, f"{type(exc).__name__}: {exc}")


# --- completing ------------------------------------------------------------------------------------------------


def complete_node(
    claim: Claim, outcome: Any, seconds: float, *, config: dict | None = None, gate: Gate | None = None
) -> None:
    """Record the outcome once, with the execution locked, and ask the scheduler what is next.

    The run's input (by port) and rendered config are stored with the outcome, for the API, admin and editor.
    `gate` is the circuit breaker the run went through: the outcome is recorded in it (None: in none).
    """
    if isinstance(outcome, NodeResult):
        outcome = _serialize(outcome)
    if (
        claim.states is not None
        and isinstance(outcome, dict)
        and _succeed_unlocked(claim, outcome, seconds, config, gate)
    ):
        return
    with locked(claim.execution_id, nodes=True) as unit:
        node = unit.node(claim.node_id)
        if node is None or node.status != NodeStatus.RUNNING or node.task_id != claim.task_id:
            # A duplicate delivery, or the node was cancelled or re-queued meanwhile: the outcome is dropped.
            logger.info("Discarding the outcome of node %s (task %s): no longer its run", claim.node_id, claim.task_id)
            return
        if isinstance(outcome, Blocked):
            _park_for_breaker(unit, node, outcome, spent=claim.resume is None)
            return
        node.duration_ms = int(seconds * 1000)
        node.queued_at = claim.queued_at  # read by the claim: for the timing in the events, not written
        node.lease_expires_at = None
        node.input = _recorded(claim.inputs)
        node.rendered_config = _recorded(config) if config is not None else None
        if isinstance(outcome, Suspend):
            suspend(unit, node, outcome)
        elif isinstance(outcome, Failure):
            fail(unit, node, outcome, breaker_key=gate.key if gate else None)
        else:
            succeed(unit, node, outcome, breaker_key=gate.key if gate and gate.dirty else None)
        advance(unit)
        node_type = node.node_type
        unit.after_commit.append(lambda: metrics.observe_node(node_type=node_type, seconds=seconds))


def _succeed_unlocked(claim: Claim, outputs: dict, seconds: float, config: dict | None, gate: Gate | None) -> bool:
    """The common step of a run, after a claim without the lock: a success whose successors are simply queued
    (none skipped, the execution not ending) is recorded by the store if the execution is unchanged since the
    claim (`Store.complete_success`). False when that does not apply or the check fails: the caller records
    the outcome under the lock, which reads everything again."""
    assert claim.states is not None and claim.seen_seq is not None  # the caller checked: set together by the claim
    compiled = compiled_graph(claim.version_id)
    ports, output = sched.pack_outputs(outputs)
    states = {nid: sched.NodeState(status, frozenset(p or ())) for nid, (status, p) in claim.states.items()}
    states[claim.node_id] = sched.NodeState(NodeStatus.SUCCEEDED, frozenset(ports))
    step = sched.next_step(compiled.graph, compiled.order, states)
    if step.skipped or step.finished:
        return False
    now = timezone.now()
    next_tasks = {node_id: new_task_id() for node_id in step.ready}
    completed = current_store().complete_success(
        Success(
            execution_id=claim.execution_id,
            organization_id=claim.organization_id,
            workflow_id=claim.workflow_id,
            seen_seq=claim.seen_seq,
            node_execution_id=claim.node_execution_id,
            node_id=claim.node_id,
            task_id=claim.task_id,
            ports=ports,
            output=output,
            duration_ms=int(seconds * 1000),
            queued_at=claim.queued_at,
            input=_recorded_text(claim.inputs),
            rendered_config=_recorded_text(config) if config is not None else None,
            next_tasks=next_tasks,
            now=now,
            lease=now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_REDISPATCH_SECONDS),
        )
    )
    if completed is None:
        return False
    events, queued = completed.events, completed.queued
    if len(queued) != len(next_tasks):  # cannot happen while every change appends an event
        logger.error("Queued %s of %s after node %s", sorted(queued), sorted(next_tasks), claim.node_id)
    dispatches = [  # in the scheduler's order, as the locked path sends them
        (claim.execution_id, str(queued[node_id]), node_id, task_id, claim.version_id)
        for node_id, task_id in next_tasks.items()
        if node_id in queued
    ]
    after = [lambda: metrics.observe_node(node_type=claim.node_type, seconds=seconds)]
    if gate is not None and gate.dirty:
        after.append(lambda: breaker.record_success(gate.key))
    transaction.on_commit(lambda: hand_over(events, dispatches, [], [], after))
    return True


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


def _node_timing(node: NodeExecution) -> dict:
    """`_timing` of a node row, with what it holds (a row read for the scheduler holds no times: None)."""
    deferred = node.get_deferred_fields()
    queued_at = None if "queued_at" in deferred else node.queued_at
    duration_ms = None if "duration_ms" in deferred else node.duration_ms
    return event_data.timing(queued_at, node.finished_at, duration_ms)


def succeed(unit: Unit, node: NodeExecution, outputs: dict, *, breaker_key: breaker.Key | None = None) -> None:
    """Record a success; `breaker_key`: a breaker holding failures, which the success clears."""
    ports, output = sched.pack_outputs(outputs)
    set_node_status(node, NodeStatus.SUCCEEDED)
    node.ports = ports
    node.output = output
    node.error = None
    node.finished_at = timezone.now()
    node.state = {}
    unit.save_node(node, _outcome_fields(node, "ports", "output", "finished_at"))
    unit.event(EventType.NODE_SUCCEEDED, node.node_id, **event_data.node_succeeded(ports=ports, **_node_timing(node)))
    if breaker_key is not None:
        unit.after_commit.append(lambda: breaker.record_success(breaker_key))


def fail(unit: Unit, node: NodeExecution, failure: Failure, *, breaker_key: breaker.Key | None = None) -> None:
    """A failed attempt: retry it later, or fail the node and apply its on_error. A retryable failure counts in
    the circuit breaker `breaker_key` (the one the run went through)."""
    error = failure.as_error(node.attempt)
    unit.after_commit.append(lambda: metrics.count_error(error_type=failure.type))
    if failure.retryable and breaker_key is not None:
        unit.after_commit.append(lambda: breaker.record_failure(breaker_key, failure.message))
    spec = unit.graph.node(node.node_id)
    retry = spec.get("retry") or {}
    now = timezone.now()
    node.error = error
    node.state = {key: value for key, value in node.state.items() if key not in ("resume", PARKED_BY_BREAKER)}
    if failure.retryable and node.attempt < int(retry.get("max_attempts", 1)):
        delay = retry_delay(retry, node.attempt)
        set_node_status(node, NodeStatus.RETRYING)
        node.wake_at = now + timedelta(seconds=delay)
        node.save(update_fields=_outcome_fields(node, "wake_at"))
        delay_seconds = round(delay, 3)
        unit.event(
            EventType.NODE_RETRYING, node.node_id, attempt=node.attempt, delay_seconds=delay_seconds, error=error
        )
        unit.wake_later(node, delay)
        return
    ports = sched.failure_ports(unit.graph.graph, node.node_id)
    set_node_status(node, NodeStatus.FAILED)
    node.finished_at = now
    node.ports = sorted(ports) if ports else []
    node.output = {"error": error} if ports else None
    node.save(update_fields=_outcome_fields(node, "ports", "output", "finished_at"))
    unit.event(EventType.NODE_FAILED, node.node_id, error=error, handled=ports is not None, **_node_timing(node))
    if ports is None:
        halt(unit, {"node_id": node.node_id, **error})


def suspend(unit: Unit, node: NodeExecution, request: Suspend) -> None:
    """Park the node as `waiting` without holding a worker; beat (or a short countdown) wakes it."""
    kind = request.kind
    if kind not in _SUSPEND_KINDS or (kind == SUSPEND_DELAY and not request.wake_at):
        fail(unit, node, Failure(ERROR_BAD_RESULT, MSG_BAD_SUSPEND.format(kind=kind), retryable=False))
        return
    data = _json_data(request.data)
    if not isinstance(data, dict):
        fail(unit, node, Failure(ERROR_BAD_RESULT, MSG_BAD_SUSPEND_DATA, retryable=False))
        return
    if kind == SUSPEND_CHILDREN:
        from .children import children_problem

        problem = children_problem(unit, data)
        if problem:
            fail(unit, node, Failure(ERROR_CHILD_WORKFLOW, problem, retryable=False))
            return
    set_node_status(node, NodeStatus.WAITING)
    node.wake_at = request.wake_at
    node.state = {"suspend": {"kind": kind, "data": data}}
    fields = ["status", "wake_at", "state", "duration_ms", "lease_expires_at", "updated_at"]
    node.save(update_fields=_with_run_fields(node, fields))
    wake_at = request.wake_at.isoformat() if request.wake_at else None
    unit.event(EventType.NODE_WAITING, node.node_id, kind=kind, wake_at=wake_at)
    if kind == SUSPEND_CHILDREN:
        from .children import start_children

        start_children(unit, node)
    elif request.wake_at is not None:
        unit.wake_later(node, (request.wake_at - timezone.now()).total_seconds())
