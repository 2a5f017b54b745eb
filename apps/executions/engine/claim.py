"""Claiming a node for a task: queued under this task id -> running with a lease, an attempt counted, and what the
run reads (inputs, expression context) gathered. In one statement without the lock when the store can
(`Store.claim`), else under `locked()`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.nodes.base import MAIN
from apps.orgs.variables import org_expression_context

from ..choices import ExecutionStatus, NodeStatus
from ..models import NodeExecution, WorkflowExecution
from . import event_data
from . import scheduler as sched
from .event_data import EventType
from .graphs import CompiledGraph, compiled_graph
from .handover import publisher
from .port import TAKE_LOCK, Claimed
from .store import current as current_store
from .unit import Unit, locked, set_node_status


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
                unit.save_node(node, ["status", "updated_at"])
            return None
        resume = node.state.get("resume")
        set_node_status(node, NodeStatus.RUNNING)
        if resume is None:
            node.attempt += 1
        now = timezone.now()
        node.started_at = now
        node.lease_expires_at = now + timedelta(seconds=settings.CONCERTMASTER_ENGINE_LEASE_SECONDS)
        unit.save_node(node, ["status", "attempt", "started_at", "lease_expires_at", "updated_at"])
        unit.event(
            EventType.NODE_STARTED,
            node.node_id,
            **event_data.node_started(attempt=node.attempt, node_type=node.node_type),
        )
        finished = {nid: row for nid, row in rows.items() if nid != node.node_id} if rows else None
        return _build_claim(unit, node, task_id, resume, finished)


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


#: Only an expression naming `org` reads it: a node whose config never mentions it skips the query (the claim
#: stays one statement on PostgreSQL).
ORG_NAME = re.compile(r"\borg\b")


def _org_context(organization_id: Any, spec: dict) -> dict:
    """`org` of the expression context: the organization's variables when the node's config can read them."""
    if ORG_NAME.search(json.dumps(spec.get("config") or {}, default=str)):
        return org_expression_context(organization_id)
    return {"vars": {}}


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
        "org": _org_context(execution.organization_id, compiled.node(node.node_id)),
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
