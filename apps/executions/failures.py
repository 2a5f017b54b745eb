"""Error workflows: a failed production run starts its workflow's error workflow (or the organization's default)
with the failed run's details as its trigger data.

Which failures count: an execution that ends `failed`. Cancelled runs were stopped on purpose and start nothing;
a node's timeout fails its node and so its run (there is no separate timed-out status). Test runs, child runs (the
parent fails too, or handled the failure) and runs of an error workflow (trigger kind `error`: no loops, so an
error workflow's own failure starts nothing) are left out.

`execution_failed` runs inside the transaction that fails the run (a `post_save` receiver on WorkflowExecution,
connected in `ExecutionsConfig.ready()`: every path to `failed` saves the row with `status` among its update
fields, whatever engine module takes it). The ErrorWorkflowRun row is written there, like an outbox, and a Celery
task starting it is queued when that transaction commits. A start the
broker never took is sent again by the alert pass (`error_workflow_resend`), and a task delivered twice finds its
row started already.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.workflows.error_trigger import ERROR_TRIGGER_KIND
from apps.workflows.models import Workflow

from .alert_models import ErrorWorkflowRun
from .choices import ExecutionStatus
from .models import NodeExecution, WorkflowExecution

logger = logging.getLogger(__name__)

#: A row not started this long after its failure is sent again (its task was lost).
RESEND_AFTER = timedelta(seconds=60)


def on_execution_saved(sender, instance: WorkflowExecution, created: bool, update_fields=None, **kwargs) -> None:
    """The receiver: a status change to `failed` (rows created as failed, by imports or tests, start nothing)."""
    if not created and update_fields and "status" in update_fields and instance.status == ExecutionStatus.FAILED:
        execution_failed(instance)


def execution_failed(execution: WorkflowExecution) -> None:
    """The engine's hook, in the transaction that marks `execution` failed: record the error workflow to start."""
    if execution.test_run or execution.parent_id or execution.trigger_kind == ERROR_TRIGGER_KIND:
        return
    error_workflow_id = _error_workflow_id(execution)
    if error_workflow_id is None:
        return
    run = ErrorWorkflowRun.objects.create(
        organization_id=execution.organization_id, failed_execution=execution, error_workflow_id=error_workflow_id
    )
    run_id = str(run.pk)
    transaction.on_commit(lambda: _send(run_id))


def _error_workflow_id(execution: WorkflowExecution) -> Any:
    """The workflow's own error workflow, else the organization's default (never the failed workflow itself)."""
    own = Workflow.objects.filter(pk=execution.workflow_id).values_list("error_workflow_id", flat=True).first()
    if own is not None:
        return own
    defaults = Workflow.objects.filter(organization_id=execution.organization_id, is_default_error_workflow=True)
    return defaults.exclude(pk=execution.workflow_id).values_list("pk", flat=True).first()


def _send(run_id: str) -> None:
    from .tasks import error_workflow_start

    try:
        error_workflow_start.delay(run_id)
    except Exception:  # after the commit: the row stays unstarted and the alert pass sends it again
        logger.warning("The broker did not take the error workflow start %s; it will be sent again", run_id)


def error_workflow_start(*, run_id: Any) -> WorkflowExecution | None:
    """Start the error workflow of one ErrorWorkflowRun row, once (a repeated call finds it started).

    A start that cannot happen (the error workflow is archived, has no valid version) is recorded on the row.
    """
    with transaction.atomic():
        run = (
            ErrorWorkflowRun.objects.select_for_update(of=("self",))
            .select_related("failed_execution__workflow", "error_workflow")
            .filter(pk=run_id, started_at__isnull=True)
            .first()
        )
        if run is None:
            return None
        from .services import execution_start

        run.started_at = timezone.now()
        try:
            run.execution = execution_start(
                workflow=run.error_workflow,
                trigger_data=failure_details(run.failed_execution),
                trigger_kind=ERROR_TRIGGER_KIND,
            )
        except (ApplicationError, ValidationError) as error:
            run.error = str(getattr(error, "message", None) or error)
        run.save(update_fields=["started_at", "execution", "error", "updated_at"])
        return run.execution


def error_workflow_resend(*, now=None, limit: int = 100) -> int:
    """Start the rows whose task was lost (not started RESEND_AFTER after the failure); returns how many."""
    cutoff = (now or timezone.now()) - RESEND_AFTER
    stale = ErrorWorkflowRun.objects.filter(started_at__isnull=True, created_at__lt=cutoff).order_by("created_at")
    run_ids = list(stale.values_list("pk", flat=True)[:limit])
    for run_id in run_ids:
        error_workflow_start(run_id=run_id)
    return len(run_ids)


def execution_link(execution_id: Any) -> str:
    """The execution's page: absolute when CONCERTMASTER_PUBLIC_URL is set, else a path on this server."""
    path = reverse("execution-page", kwargs={"pk": execution_id})
    base = settings.CONCERTMASTER_PUBLIC_URL.rstrip("/")
    return f"{base}{path}"


def failure_details(execution: WorkflowExecution) -> dict:
    """What an error workflow receives (its `trigger`): the failed workflow, run, node, error and input."""
    error = execution.error if isinstance(execution.error, dict) else {}
    node_id = error.get("node_id") or ""
    nodes = NodeExecution.objects.filter(execution_id=execution.pk, node_id=node_id)
    node_type = nodes.values_list("node_type", flat=True).first() if node_id else None
    link = execution_link(execution.pk)
    return {
        "workflow": {"id": str(execution.workflow_id), "name": execution.workflow.name},
        "execution": {
            "id": str(execution.pk),
            "url": link,
            "status": execution.status,
            "trigger_kind": execution.trigger_kind,
            "started_at": execution.started_at.isoformat() if execution.started_at else None,
            "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
        },
        "failed_node": {"id": node_id, "type": node_type} if node_id else None,
        "error": execution.error,
        "trigger_data": execution.trigger_data,
        "link": link,
    }
