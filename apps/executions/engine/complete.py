"""Completing a node run: record its outcome once (a success, a failure to retry or to route, a wait, a breaker that
parks it) and move the execution on. A plain success after a claim without the lock is recorded by the store
without it (`Store.complete_success`) while the execution is unchanged; everything else under `locked()`."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.nodes.base import NodeResult, Suspend

from .. import metrics
from ..choices import NodeStatus
from ..models import NodeExecution
from . import breaker, event_data
from . import scheduler as sched
from .children import children_problem, start_children
from .claim import Claim
from .event_data import EventType
from .flow import advance, halt, retry_delay
from .graphs import compiled_graph
from .handover import hand_over
from .outcomes import (
    _SUSPEND_KINDS,
    ERROR_BAD_RESULT,
    ERROR_CHILD_WORKFLOW,
    MSG_BAD_SUSPEND,
    MSG_BAD_SUSPEND_DATA,
    PARKED_BY_BREAKER,
    Blocked,
    Failure,
    Gate,
    _json_data,
    _recorded,
    _recorded_text,
    _serialize,
)
from .port import Success
from .store import current as current_store
from .unit import SUSPEND_CHILDREN, SUSPEND_DELAY, Unit, locked, new_task_id, set_node_status

logger = logging.getLogger(__name__)


#: Fields every recorded outcome (success, retry, failure) writes.
_OUTCOME_FIELDS = ("status", "error", "state", "duration_ms", "lease_expires_at", "updated_at")


#: Written with an outcome when the run set them (a node completing; not a worker-lost failure).
_RUN_FIELDS = ("input", "rendered_config")


def _with_run_fields(node: NodeExecution, fields: list[str]) -> list[str]:
    deferred = node.get_deferred_fields()
    return [*fields, *(name for name in _RUN_FIELDS if name not in deferred)]


def _outcome_fields(node: NodeExecution, *extra: str) -> list[str]:
    return _with_run_fields(node, [*_OUTCOME_FIELDS, *extra])


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
    unit.save_node(node, ["status", "attempt", "wake_at", "lease_expires_at", "state", "updated_at"])
    unit.event(
        EventType.NODE_RETRYING,
        node.node_id,
        reason="circuit_open",
        wake_at=blocked.until.isoformat(),
        breaker_target=blocked.key.target,
    )
    unit.wake_later(node, (blocked.until - timezone.now()).total_seconds())


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
        unit.after_commit.append(
            lambda: metrics.observe_node(node_type=node_type, seconds=seconds, outcome=metrics.outcome_of(outcome))
        )


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
        unit.save_node(node, _outcome_fields(node, "wake_at"))
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
    unit.save_node(node, _outcome_fields(node, "ports", "output", "finished_at"))
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
        problem = children_problem(unit, data)
        if problem:
            fail(unit, node, Failure(ERROR_CHILD_WORKFLOW, problem, retryable=False))
            return
    set_node_status(node, NodeStatus.WAITING)
    node.wake_at = request.wake_at
    node.state = {"suspend": {"kind": kind, "data": data}}
    fields = ["status", "wake_at", "state", "duration_ms", "lease_expires_at", "updated_at"]
    unit.save_node(node, _with_run_fields(node, fields))
    wake_at = request.wake_at.isoformat() if request.wake_at else None
    unit.event(EventType.NODE_WAITING, node.node_id, kind=kind, wake_at=wake_at)
    if kind == SUSPEND_CHILDREN:
        start_children(unit, node)
    elif request.wake_at is not None:
        unit.wake_later(node, (request.wake_at - timezone.now()).total_seconds())
