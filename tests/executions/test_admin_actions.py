"""Operator actions in the admin: run now, pause, resume, cancel, retry failed, approve and reject."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.executions import services
from apps.executions.models import NodeExecution, WorkflowExecution
from apps.orgs.models import AuditLog
from apps.workflows.models import Workflow
from tests.executions.engine.helpers import chain
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:executions_workflowexecution_changelist"


def member_client(client, organization, role: str):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role=role)
    client.force_login(user)
    return client


def act(client, view: str, action: str, *rows):
    return client.post(
        reverse(view), {"action": action, "_selected_action": [str(row.pk) for row in rows]}, follow=True
    )


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def workflow(organization):
    nodes, edges = chain({"id": "log", "type": "log", "config": {"message": "hi"}})
    return WorkflowFactory(
        organization=organization, definition={"nodes": nodes, "edges": [{"source": s, "target": t} for s, t in edges]}
    )


def test_run_now_starts_each_selected_workflow_and_audits_it(client, organization, workflow):
    client = member_client(client, organization, "member")
    response = act(client, "admin:workflows_workflow_changelist", "run_workflows_now", workflow)
    execution = WorkflowExecution.objects.get(workflow=workflow)
    assert execution.status == "running"
    assert execution.trigger_kind == "manual"
    assert execution.triggered_by == response.wsgi_request.user
    assert texts(response)[0].startswith("Started 1 execution(s)")
    assert AuditLog.objects.filter(action="workflow.execute", organization=organization).count() == 1


def test_run_now_reports_a_workflow_that_cannot_run(client, organization, workflow):
    Workflow.objects.filter(pk=workflow.pk).update(status="archived")
    response = act(
        client_as_admin(client, organization), "admin:workflows_workflow_changelist", "run_workflows_now", workflow
    )
    assert not WorkflowExecution.objects.exists()
    assert texts(response) == [f"Not started: {workflow.name} ({services.WORKFLOW_ARCHIVED})"]


def client_as_admin(client, organization):
    return member_client(client, organization, "admin")


def test_pause_resume_and_cancel_through_the_admin(client, organization, workflow):
    client = client_as_admin(client, organization)
    execution = services.execution_start(workflow=workflow)
    act(client, CHANGELIST, "pause_executions", execution)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "paused"
    act(client, CHANGELIST, "resume_executions", execution)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "running"
    response = act(client, CHANGELIST, "cancel_executions", execution)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "cancelled"
    assert texts(response) == ["Cancelled: 1 execution(s)."]
    assert set(AuditLog.objects.values_list("action", flat=True)) == {
        "execution.pause",
        "execution.resume",
        "execution.cancel",
    }


def test_a_refused_transition_is_reported_with_its_reason(client, organization, workflow):
    client = client_as_admin(client, organization)
    execution = services.execution_start(workflow=workflow)
    services.execution_cancel(execution=execution)
    response = act(client, CHANGELIST, "pause_executions", execution)
    assert texts(response) == [
        "Paused: 0 execution(s).",
        f"Paused skipped 1: {str(execution.pk)[:8]} (An execution cannot go from cancelled to paused.)",
    ]


def test_retry_failed_through_the_admin(client, organization, workflow):
    client = client_as_admin(client, organization)
    execution = services.execution_start(workflow=workflow)
    WorkflowExecution.objects.filter(pk=execution.pk).update(status="failed", error={"node_id": "log"})
    NodeExecution.objects.filter(execution=execution, node_id="log").update(status="failed")
    act(client, CHANGELIST, "retry_failed_executions", execution)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "running"
    assert NodeExecution.objects.get(execution=execution, node_id="log").status == "pending"


def test_approve_and_reject_decide_every_waiting_approval(client, organization, workflow):
    client = client_as_admin(client, organization)
    first, second = services.execution_start(workflow=workflow), services.execution_start(workflow=workflow)
    for execution in (first, second):
        NodeExecution.objects.filter(execution=execution, node_id="log").update(
            status="waiting", state={"suspend": {"kind": "approval", "data": {"approvers": []}}}
        )
    act(client, CHANGELIST, "approve_executions", first)
    act(client, CHANGELIST, "reject_executions", second)
    approved = NodeExecution.objects.get(execution=first, node_id="log")
    assert approved.status == "queued"
    assert approved.state["resume"]["decision"] == "approved"
    assert NodeExecution.objects.get(execution=second, node_id="log").state["resume"]["decision"] == "rejected"
    response = act(client, CHANGELIST, "approve_executions", first)
    assert "no node is waiting for an approval" in texts(response)[1]


def test_viewers_are_not_offered_the_run_actions(client, organization, workflow):
    client = member_client(client, organization, "viewer")
    execution = services.execution_start(workflow=workflow)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert b"pause_executions" not in response.content
    act(client, CHANGELIST, "cancel_executions", execution)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "running"
