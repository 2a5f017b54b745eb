"""The data behind test runs, partial runs and re-runs: which nodes start out settled, read from the database.

`engine/plans.py` decides from plain data; this module reads that data (pins, earlier executions) and turns a
plan's refusal into a ValidationError on the request field at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError

from apps.nodes.base import MAIN
from apps.nodes.registry import UnknownNodeType, registry
from apps.workflows.graph import parse_definition
from apps.workflows.models import Workflow, WorkflowVersion

from .choices import EXECUTION_TERMINAL, NodeStatus, RunMode
from .engine import plans
from .models import NodeExecution, WorkflowExecution

VERSION_ORIGINAL = "original"
VERSION_LATEST = "latest"
FROM_FAILED = "failed"
FROM_TRIGGER = "trigger"
#: How many of a workflow's latest executions a single-node run looks through for its ancestors' outputs.
LAST_RUN_WINDOW = 50

MSG_BAD_MODE = "Must be 'node' or 'up_to'."
MSG_NOT_FINISHED = "The execution has not finished: re-run it from the failed nodes once it has."
MSG_BAD_VERSION = "Must be 'original' or 'latest'."
MSG_NO_VERSION = "The workflow has no saved version."


@contextmanager
def _as_validation_error():
    try:
        yield
    except plans.PlanError as error:
        raise ValidationError({error.field: [error.message]}) from error


def first_port(node: Mapping) -> str:
    """The port a pinned node emits its pin on: the first output port of its type for its config."""
    try:
        ports = registry.get(node.get("type", "")).output_ports(node.get("config") or {})
    except UnknownNodeType:
        return MAIN
    return ports[0] if ports else MAIN


def test_plan(
    *, workflow: Workflow, version: WorkflowVersion, run: dict | None, trigger_data: Any
) -> tuple[Any, dict[str, plans.Preset], dict[str, Any]]:
    """(trigger data, presets, execution markers) of a test run, whole (`run` None) or partial."""
    graph = parse_definition(version.definition)
    pins = plans.pinned(graph, workflow.pins or {}, first_port)
    if not trigger_data:  # a pinned trigger payload is the run's trigger data unless the request gives its own
        trigger_data = pinned_trigger_data(graph, workflow.pins or {})
    if not run:
        return trigger_data, pins, {"test_run": True}
    mode, node_id = run.get("mode"), run.get("node", "")
    markers = {"test_run": True, "run_mode": mode, "run_node_id": node_id}
    with _as_validation_error():
        if mode == RunMode.UP_TO:
            return trigger_data, plans.up_to(graph, node_id, pins), markers
        if mode != RunMode.NODE:
            raise plans.PlanError("run/mode", MSG_BAD_MODE)
        last = last_run_outputs(
            workflow=workflow, node_ids=plans.ancestors(graph, node_id) if node_id in graph.nodes else ()
        )
        presets = plans.single_node(graph, node_id, pins, last)
    if not trigger_data:
        trigger_data = latest_trigger_data(workflow=workflow)
    return trigger_data, presets, markers


def pinned_trigger_data(graph, pins: Mapping[str, Any]) -> Any:
    """The pin of the first start node (no inbound edge) that has one, else None."""
    for node_id in graph.nodes:
        if not graph.inbound[node_id] and node_id in pins:
            return pins[node_id]
    return None


def rerun_plan(
    *, execution: WorkflowExecution, start_from: str, version: str
) -> tuple[WorkflowVersion, dict[str, plans.Preset]]:
    """The version a re-run runs and the nodes it takes over from `execution`."""
    if version == VERSION_ORIGINAL:
        chosen = execution.version
    elif version == VERSION_LATEST:
        latest = execution.workflow.latest_version
        if latest is None:
            raise ValidationError({"version": [MSG_NO_VERSION]})
        chosen = latest
    else:
        raise ValidationError({"version": [MSG_BAD_VERSION]})
    if start_from == FROM_TRIGGER:
        return chosen, {}
    graph = parse_definition(chosen.definition)
    source = source_nodes(execution=execution, types={node_id: node["type"] for node_id, node in graph.nodes.items()})
    with _as_validation_error():
        if start_from == FROM_FAILED:
            if execution.status not in EXECUTION_TERMINAL:
                raise plans.PlanError("from", MSG_NOT_FINISHED)
            return chosen, plans.rerun_failed(graph, source, str(execution.pk))
        return chosen, plans.rerun_from_node(graph, start_from, source, str(execution.pk), number=chosen.number)


def source_nodes(*, execution: WorkflowExecution, types: Mapping[str, str]) -> dict[str, plans.Finished]:
    """The nodes of `execution` that are in the chosen version with the same type, as plain data."""
    rows = NodeExecution.objects.filter(execution=execution).values_list(
        "node_id", "node_type", "status", "ports", "output"
    )
    return {
        node_id: plans.Finished(status, tuple(ports or ()), output)
        for node_id, node_type, status, ports, output in rows
        if types.get(node_id) == node_type
    }


def last_run_outputs(*, workflow: Workflow, node_ids) -> dict[str, tuple[str, plans.Finished]]:
    """For each node id, its output in the latest of the workflow's recent executions in which it succeeded."""
    if not node_ids:
        return {}
    recent = WorkflowExecution.objects.filter(workflow=workflow).order_by("-created_at").values("pk")[:LAST_RUN_WINDOW]
    rows = (
        NodeExecution.objects.filter(execution_id__in=recent, node_id__in=list(node_ids), status=NodeStatus.SUCCEEDED)
        .order_by("-finished_at")
        .values_list("node_id", "execution_id", "ports", "output")
    )
    found: dict[str, tuple[str, plans.Finished]] = {}
    for node_id, execution_id, ports, output in rows:
        if node_id not in found:
            found[node_id] = (str(execution_id), plans.Finished(NodeStatus.SUCCEEDED, tuple(ports or ()), output))
    return found


def latest_trigger_data(*, workflow: Workflow) -> Any:
    latest = (
        WorkflowExecution.objects.filter(workflow=workflow)
        .order_by("-created_at")
        .values_list("trigger_data", flat=True)
    )
    return latest.first() or {}
