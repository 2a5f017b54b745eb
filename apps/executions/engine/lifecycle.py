"""An execution's start: its rows inserted (`create_execution`), then begun (`begin_execution`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.utils import timezone

from apps.workflows.models import Workflow, WorkflowVersion

from ..choices import ExecutionStatus, NodeStatus
from ..models import NodeExecution, WorkflowExecution
from . import transitions
from .event_data import EventType
from .flow import advance
from .unit import Unit


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
