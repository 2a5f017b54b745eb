"""Error workflows: a failed production run starts its error workflow with the run's details, once, durably."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.executions.alert_models import ErrorWorkflowRun
from apps.executions.failures import error_workflow_resend, error_workflow_start, execution_failed
from apps.executions.models import WorkflowExecution
from apps.workflows.services import workflow_update
from tests.executions.engine.helpers import chain, make_workflow, start, wait_finished, wait_for
from tests.executions.factories import WorkflowExecutionFactory
from tests.workflows.factories import WorkflowFactory

FAIL = {"id": "boom", "type": "test.fail", "config": {"message": "card declined", "retryable": False}}
ECHO = {"id": "echo", "type": "test.echo"}


def _started_for(execution):
    def started():
        return ErrorWorkflowRun.objects.filter(failed_execution=execution, execution__isnull=False).first()

    return wait_for(started, message="the error workflow to start").execution


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_starts_its_error_workflow_with_the_details(engine_worker, settings):
    settings.CONCERTMASTER_PUBLIC_URL = "https://cm.example.com/"
    failing = make_workflow(*chain(FAIL), name="Orders")
    handler = make_workflow(*chain(ECHO), organization=failing.organization, name="On error")
    workflow_update(workflow=failing, error_workflow=handler)

    execution = wait_finished(start(failing, {"order": 7}))

    assert execution.status == "failed"
    error_run = wait_finished(_started_for(execution))
    assert error_run.workflow_id == handler.pk
    assert error_run.status == "succeeded"
    assert error_run.trigger_kind == "error"
    details = error_run.trigger_data
    link = f"https://cm.example.com/executions/{execution.pk}/"
    assert details["workflow"] == {"id": str(failing.pk), "name": "Orders"}
    assert details["execution"]["id"] == str(execution.pk)
    assert details["execution"]["url"] == link == details["link"]
    assert details["failed_node"] == {"id": "boom", "type": "test.fail"}
    assert details["error"]["message"] == "card declined"
    assert details["trigger_data"] == {"order": 7}


@pytest.mark.django_db(transaction=True)
def test_the_organizations_default_serves_workflows_without_one_and_its_own_failure_starts_nothing(engine_worker):
    failing = make_workflow(*chain(FAIL), name="Orders")
    failing_handler = make_workflow(*chain(FAIL), organization=failing.organization, name="Broken handler")
    workflow_update(workflow=failing_handler, is_default_error_workflow=True)

    execution = wait_finished(start(failing, {}))
    error_run = wait_finished(_started_for(execution))

    assert error_run.workflow_id == failing_handler.pk
    assert error_run.status == "failed"
    assert ErrorWorkflowRun.objects.count() == 1, "an error workflow's failure starts no error workflow"


@pytest.mark.django_db(transaction=True)
def test_a_succeeded_run_starts_nothing(engine_worker):
    fine = make_workflow(*chain(ECHO))
    handler = make_workflow(*chain(ECHO), organization=fine.organization)
    workflow_update(workflow=fine, error_workflow=handler)

    assert wait_finished(start(fine, {})).status == "succeeded"

    assert not ErrorWorkflowRun.objects.exists()


@pytest.mark.django_db
def test_test_runs_child_runs_and_workflows_without_an_error_workflow_record_nothing():
    handler = WorkflowFactory()
    workflow = WorkflowFactory(organization=handler.organization, error_workflow=handler)
    execution_failed(WorkflowExecutionFactory(workflow=workflow, status="failed", test_run=True))
    parent = WorkflowExecutionFactory(workflow=workflow)
    execution_failed(WorkflowExecutionFactory(workflow=workflow, status="failed", parent=parent))
    execution_failed(WorkflowExecutionFactory(status="failed"))

    assert not ErrorWorkflowRun.objects.exists()


@pytest.mark.django_db
def test_a_start_the_broker_lost_is_sent_by_the_alert_pass_once():
    """The row is written with the failure; a lost task leaves it unstarted until the pass sends it again."""
    handler = WorkflowFactory()
    workflow = WorkflowFactory(organization=handler.organization, error_workflow=handler)
    failed = WorkflowExecutionFactory(workflow=workflow, status="failed", error={"node_id": "log", "message": "x"})
    run = ErrorWorkflowRun.objects.create(
        organization=workflow.organization, failed_execution=failed, error_workflow=handler
    )

    assert error_workflow_resend(now=timezone.now()) == 0, "too young: its own task may still come"
    assert error_workflow_resend(now=timezone.now() + timedelta(minutes=2)) == 1
    assert error_workflow_resend(now=timezone.now() + timedelta(minutes=2)) == 0
    assert error_workflow_start(run_id=run.pk) is None, "a repeated delivery starts nothing"

    run.refresh_from_db()
    started = WorkflowExecution.objects.get(workflow=handler)
    assert run.execution == started and run.started_at is not None
    assert started.trigger_data["execution"]["id"] == str(failed.pk)


@pytest.mark.django_db
def test_an_error_workflow_that_cannot_run_is_recorded_on_its_row():
    handler = WorkflowFactory(definition={"nodes": [], "edges": []})  # no valid version
    workflow = WorkflowFactory(organization=handler.organization, error_workflow=handler)
    failed = WorkflowExecutionFactory(workflow=workflow, status="failed")
    run = ErrorWorkflowRun.objects.create(
        organization=workflow.organization, failed_execution=failed, error_workflow=handler
    )

    assert error_workflow_start(run_id=run.pk) is None

    run.refresh_from_db()
    assert run.started_at is not None and run.execution is None and run.error
