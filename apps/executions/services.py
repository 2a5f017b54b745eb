"""Writes for executions: start one, and control it (pause, resume, cancel, retry, approve, reject).

Each service locks the execution row and changes its status through `runtime.set_execution_status`,
which raises InvalidTransition when the current status does not allow the change (two pauses: the
second one fails; a cancel after the end: fails). The engine's own changes use the same functions.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.logging import current_correlation_id, new_correlation_id
from apps.orgs.services import Actor, audit
from apps.workflows.choices import TriggerKind, WorkflowStatus
from apps.workflows.models import Workflow, WorkflowVersion
from apps.workflows.validated import definition_validate_once

from . import debugging
from .choices import ExecutionStatus, NodeStatus
from .engine import breaker, runtime
from .engine.recovery import active_count, start_queued, wake, wake_node
from .engine.runner import PARKED_BY_BREAKER
from .models import CircuitBreaker, NodeExecution, WorkflowExecution

WORKFLOW_ARCHIVED = "An archived workflow cannot run; restore it first."
WORKFLOW_HAS_NO_VERSION = "The workflow has no saved version to run."
VERSION_OF_OTHER_WORKFLOW = "The version does not belong to this workflow."
DECISION_APPROVED = "approved"
DECISION_REJECTED = "rejected"
#: Starts by a person (editor, API, admin, `run_workflow`): they run what they see, so the working copy must be
#: valid. Triggers (webhook, schedule, form) run the latest version even while an invalid draft is edited.
MANUAL_KINDS = frozenset({TriggerKind.MANUAL, TriggerKind.API})


@transaction.atomic
def execution_start(
    *,
    workflow: Workflow,
    trigger_data: Any = None,
    trigger_kind: str = TriggerKind.MANUAL,
    triggered_by: User | None = None,
    version: WorkflowVersion | None = None,
    correlation_id: str = "",
    variables: dict | None = None,
    test: bool = False,
    run: dict | None = None,
    presets: dict | None = None,
    markers: dict | None = None,
    actor: Actor = None,
) -> WorkflowExecution:
    """Start a run of the workflow's latest version (or `version`) with `trigger_data` as its input.

    `variables` override the version's variables for this run (stored on the execution as its
    `variables_override`). A manual or API start of the latest version needs a valid working definition,
    the version is validated in any case (DefinitionInvalid lists every problem). When the workflow already
    runs `max_concurrent_executions` executions, or older ones are waiting, this one stays pending and
    starts in order when a slot frees up. The first nodes are dispatched when the transaction commits.

    `test` makes it a test run: the workflow's pins stand in for their nodes. `run` ({"mode": "node" | "up_to",
    "node": id}) makes it a partial test run (see `debugging.test_plan`). `presets` and `markers` are what a
    re-run brings (`execution_rerun`). PlanError names the field at fault.

    With an `actor` (a person or key starting it) the audit row `workflow.execute` names the run; runs a trigger
    starts are recorded by the trigger's own rows (webhook inbox, form submissions, the schedule).
    """
    if workflow.status == WorkflowStatus.ARCHIVED:
        raise ApplicationError(WORKFLOW_ARCHIVED)
    if trigger_kind in MANUAL_KINDS and version is None:
        definition_validate_once(workflow.definition)
    version = version or workflow.latest_version
    if version is None:
        raise ApplicationError(WORKFLOW_HAS_NO_VERSION)
    if version.workflow_id != workflow.pk:
        raise ApplicationError(VERSION_OF_OTHER_WORKFLOW)
    # Validated once per version and process (a disabled node type is still refused: apps/workflows/validated.py).
    definition_validate_once(version.definition, version_id=version.pk)
    if test or run:
        trigger_data, presets, markers = debugging.test_plan(
            workflow=workflow, version=version, run=run, trigger_data=trigger_data
        )
    held_back = False
    if workflow.max_concurrent_executions:
        # The workflow row is the queue's lock: concurrent starts count the running executions one at a time.
        Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
        waiting = WorkflowExecution.objects.filter(
            workflow=workflow, status=ExecutionStatus.PENDING, parent__isnull=True
        ).exists()
        held_back = waiting or active_count(workflow.pk) >= workflow.max_concurrent_executions
    execution = runtime.create_execution(
        workflow=workflow,
        version=version,
        input=trigger_data,
        trigger_kind=trigger_kind,
        triggered_by=triggered_by,
        # The request's id when a request starts it (API, webhook, form, admin), else one of its own.
        correlation_id=correlation_id or current_correlation_id() or new_correlation_id(),
        variables=variables,
        presets=presets,
        markers=markers,
    )
    if not held_back:
        with runtime.locked(execution.pk) as unit:
            runtime.begin_execution(unit)
        execution = unit.execution
    data = {"workflow": str(workflow.pk)}
    audit(actor=actor, organization=workflow.organization, action="workflow.execute", target=execution, data=data)
    return execution


def _audit_control(execution: WorkflowExecution, actor: Actor, verb: str, data: dict | None = None) -> None:
    organization = execution.workflow.organization
    audit(actor=actor, organization=organization, action=f"execution.{verb}", target=execution, data=data)


@transaction.atomic
def execution_pause(
    *, execution: WorkflowExecution, user: User | None = None, actor: Actor = None
) -> WorkflowExecution:
    """Stop dispatching: running nodes finish, queued ones wait for resume."""
    with runtime.locked(execution.pk) as unit:
        runtime.pause_execution(unit, by=_username(user))
    _audit_control(unit.execution, actor, "pause")
    return unit.execution


@transaction.atomic
def execution_resume(
    *, execution: WorkflowExecution, user: User | None = None, actor: Actor = None
) -> WorkflowExecution:
    """Dispatch what became ready while paused (and what fell due: retries, delays)."""
    with runtime.locked(execution.pk) as unit:
        runtime.resume_execution(unit, by=_username(user))
    _audit_control(unit.execution, actor, "resume")
    return unit.execution


@transaction.atomic
def execution_cancel(
    *, execution: WorkflowExecution, user: User | None = None, actor: Actor = None
) -> WorkflowExecution:
    """Cancel a pending, running or paused execution: queued tasks are revoked, every unfinished node and
    child execution is marked cancelled. A node already running finishes, but its result is discarded."""
    with runtime.locked(execution.pk) as unit:
        runtime.cancel_execution(unit, by=_username(user))
    _audit_control(unit.execution, actor, "cancel")
    return unit.execution


@transaction.atomic
def execution_retry_failed(
    *, execution: WorkflowExecution, user: User | None = None, actor: Actor = None
) -> WorkflowExecution:
    """Run a failed execution again from its failed nodes only; what succeeded keeps its output."""
    with runtime.locked(execution.pk) as unit:
        runtime.retry_failed_execution(unit, by=_username(user))
    _audit_control(unit.execution, actor, "retry")
    return unit.execution


@transaction.atomic
def execution_rerun(
    *,
    execution: WorkflowExecution,
    start_from: str,
    version: str = debugging.VERSION_ORIGINAL,
    user: User | None = None,
    actor: Actor = None,
) -> WorkflowExecution:
    """A new execution re-running `execution`: from its failed nodes ("failed"), from the start with the same
    trigger data ("trigger"), or from a node id and everything downstream; on the version it ran ("original") or
    the workflow's latest one ("latest"). It links to its source. A ValidationError names the field at fault.
    With an `actor`, the audit row `execution.rerun` names the new execution, its source and the choices."""
    chosen, presets = debugging.rerun_plan(execution=execution, start_from=start_from, version=version)
    rerun = execution_start(
        workflow=execution.workflow,
        version=chosen,
        trigger_data=execution.trigger_data,
        trigger_kind=execution.trigger_kind,
        triggered_by=user,
        variables=execution.variables_override,
        presets=presets,
        markers={"source_execution": execution, "rerun_from": start_from},
    )
    audit(
        actor=actor,
        organization=execution.workflow.organization,
        action="execution.rerun",
        target=rerun,
        data={"source": str(execution.pk), "from": start_from, "version": version},
    )
    return rerun


def _username(user: User | None) -> str:
    return user.get_username() if user is not None else ""


def _identities(user: User | None) -> frozenset[str] | None:
    """Who `user` is for a node's `approvers` list; None (no check) for the system and superusers."""
    if user is None or user.is_superuser:
        return None
    return frozenset(filter(None, (user.get_username(), getattr(user, "email", ""))))


@transaction.atomic
def execution_approve(
    *,
    execution: WorkflowExecution,
    node_id: str,
    user: User | None = None,
    comment: str = "",
    actor: Actor = None,
) -> NodeExecution:
    """Approve a wait_for_approval node: it continues on its `approved` port."""
    with runtime.locked(execution.pk) as unit:
        node = runtime.resolve_approval(
            unit,
            node_id=node_id,
            decision=DECISION_APPROVED,
            by=_username(user),
            comment=comment,
            identities=_identities(user),
        )
    _audit_control(execution, actor, "approve", {"node_id": node_id, "comment": comment})
    return node


@transaction.atomic
def execution_reject(
    *,
    execution: WorkflowExecution,
    node_id: str,
    user: User | None = None,
    comment: str = "",
    actor: Actor = None,
) -> NodeExecution:
    """Reject a wait_for_approval node: it continues on its `rejected` port."""
    with runtime.locked(execution.pk) as unit:
        node = runtime.resolve_approval(
            unit,
            node_id=node_id,
            decision=DECISION_REJECTED,
            by=_username(user),
            comment=comment,
            identities=_identities(user),
        )
    _audit_control(execution, actor, "reject", {"node_id": node_id, "comment": comment})
    return node


def circuit_breaker_reset(*, circuit_breaker: CircuitBreaker, actor: Actor = None) -> int:
    """Close a circuit breaker by hand: its state in the cache (what the engine reads) and its row; then wake the
    nodes it parked, which would otherwise wait for the end of the cool-down. Returns how many were woken."""
    audit(
        actor=actor,
        organization=circuit_breaker.organization,
        action="circuit_breaker.reset",
        target=circuit_breaker,
        data={"node_type": circuit_breaker.node_type, "target": circuit_breaker.target},
    )
    breaker.reset(breaker.key_for(circuit_breaker.organization_id, circuit_breaker.node_type, circuit_breaker.target))
    circuit_breaker.refresh_from_db()
    parked = NodeExecution.objects.filter(
        organization_id=circuit_breaker.organization_id,
        node_type=circuit_breaker.node_type,
        status=NodeStatus.RETRYING,
        wake_at__isnull=False,
        **{f"state__{PARKED_BY_BREAKER}": circuit_breaker.target},
    )
    # Woken as if their wake-up time had come: one that was parked again meanwhile (a later time) stays parked.
    return sum(
        wake_node(execution_id, pk, now=wake_at)
        for execution_id, pk, wake_at in parked.values_list("execution_id", "pk", "wake_at")
    )


# --- the ops console's fixes for stuck runs (apps/executions/stuck.py lists them) ---------------------------------

NODE_NOT_STUCK = "The node '{node_id}' is {status}: only a queued, running, waiting or retrying node is re-queued."
NODE_WAITS_FOR_DECISION = (
    "The node '{node_id}' waits with no wake-up time (an approval or child executions): approve, reject or cancel."
)
EXECUTION_NOT_RUNNING = "The execution is {status}: its nodes are re-queued only while it runs."
REASON_OPERATOR = "operator"


@transaction.atomic
def node_requeue(*, node_execution: NodeExecution, actor: Actor = None) -> NodeExecution:
    """Move a stuck node on by hand, as the recovery pass does when beat runs: a queued or running node gets a new
    attempt under a new task id (a late message or completion of the old one is refused by its claim); a waiting
    or retrying node past its wake-up time is woken (a delay resumes, an approval times out, a retry starts).
    Audited as `execution.requeue_node`."""
    with runtime.locked(node_execution.execution_id) as unit:
        node = NodeExecution.objects.get(pk=node_execution.pk)  # read again under the execution's lock
        before = node.status
        if unit.execution.status != ExecutionStatus.RUNNING:
            raise ApplicationError(EXECUTION_NOT_RUNNING.format(status=unit.execution.status))
        if node.status in (NodeStatus.WAITING, NodeStatus.RETRYING):
            if node.wake_at is None:
                raise ApplicationError(NODE_WAITS_FOR_DECISION.format(node_id=node.node_id))
            wake(unit, node, max(timezone.now(), node.wake_at))
        elif node.status in (NodeStatus.QUEUED, NodeStatus.RUNNING):
            runtime.queue_node(unit, node, reason=REASON_OPERATOR)
        else:
            raise ApplicationError(NODE_NOT_STUCK.format(node_id=node.node_id, status=node.status))
        runtime.advance(unit)
    data = {"node_id": node.node_id, "status": before}
    _audit_control(unit.execution, actor, "requeue_node", data)
    return node


def workflow_start_held(*, workflow: Workflow, actor: Actor = None) -> int:
    """Start the workflow's executions held back by `max_concurrent_executions` that fit its free slots now (what
    the recovery pass does every few seconds); returns how many started. Audited as `workflow.start_held`."""
    started = start_queued(workflow.pk)
    audit(
        actor=actor,
        organization=workflow.organization,
        action="workflow.start_held",
        target=workflow,
        data={"started": started},
    )
    return started
