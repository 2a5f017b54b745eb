"""The debug loop in the execution admin: the re-run actions, the re-run link and the log of an execution."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.executions.logs import execution_log_write
from apps.executions.models import NodeExecution, WorkflowExecution
from apps.executions.services import execution_start
from apps.orgs.models import AuditLog
from apps.workflows.services import workflow_create, workflow_update
from tests.orgs.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "note", "type": "log", "config": {"message": "hi"}},
    ],
    "edges": [{"source": "start", "target": "note"}],
}


@pytest.fixture
def staff(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="member")
    client.force_login(user)
    return client


@pytest.fixture
def failed(organization):
    """A finished execution whose `note` failed (set by hand: no worker runs here)."""
    workflow = workflow_create(organization=organization, name="admin rerun", definition=DEFINITION)
    execution = execution_start(workflow=workflow, trigger_data={"n": 1})
    NodeExecution.objects.filter(execution=execution, node_id="start").update(
        status="succeeded", ports=["main"], output={"n": 1}
    )
    NodeExecution.objects.filter(execution=execution, node_id="note").update(status="failed", error={"message": "x"})
    WorkflowExecution.objects.filter(pk=execution.pk).update(status="failed", finished_at=timezone.now())
    return execution


def act(client, action: str, *rows):
    changelist = reverse("admin:executions_workflowexecution_changelist")
    return client.post(changelist, {"action": action, "_selected_action": [str(r.pk) for r in rows]}, follow=True)


def test_rerun_from_failed_starts_a_linked_execution_on_the_same_version(staff, failed):
    response = act(staff, "rerun_from_failed", failed)

    rerun = WorkflowExecution.objects.get(source_execution=failed)
    assert (rerun.rerun_from, rerun.version_id) == ("failed", failed.version_id)
    assert rerun.node_executions.get(node_id="start").status == "succeeded"  # taken over
    assert rerun.node_executions.get(node_id="note").status != "failed"
    assert str(rerun.pk)[:8] in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert AuditLog.objects.filter(action="execution.rerun").count() == 1


def test_rerun_on_the_latest_version(staff, failed):
    changed = {**DEFINITION, "nodes": [DEFINITION["nodes"][0], {**DEFINITION["nodes"][1], "config": {"message": "ok"}}]}
    workflow_update(workflow=failed.workflow, definition=changed)

    act(staff, "rerun_on_latest_version", failed)

    assert WorkflowExecution.objects.get(source_execution=failed).version.number == 2


def test_an_execution_without_failures_is_reported_not_rerun(staff, failed):
    WorkflowExecution.objects.filter(pk=failed.pk).update(status="succeeded")
    NodeExecution.objects.filter(execution=failed).update(status="succeeded", ports=["main"])

    response = act(staff, "rerun_from_failed", failed)

    assert not WorkflowExecution.objects.filter(source_execution=failed).exists()
    assert any("Not re-run" in str(m) for m in get_messages(response.wsgi_request))


def test_a_viewer_has_no_rerun_action(client, organization, failed):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="viewer")
    client.force_login(user)

    act(client, "rerun_from_failed", failed)

    assert not WorkflowExecution.objects.filter(source_execution=failed).exists()


def test_the_execution_page_shows_its_log_and_source(staff, failed):
    execution_log_write(
        execution_id=str(failed.pk),
        organization_id=str(failed.organization_id),
        workflow_id=str(failed.workflow_id),
        node_id="note",
        level="warning",
        message="look here",
    )
    act(staff, "rerun_from_failed", failed)
    rerun = WorkflowExecution.objects.get(source_execution=failed)

    source_page = staff.get(reverse("admin:executions_workflowexecution_change", args=[failed.pk])).content.decode()
    rerun_page = staff.get(reverse("admin:executions_workflowexecution_change", args=[rerun.pk])).content.decode()

    assert "look here" in source_page
    assert str(failed.pk)[:8] in rerun_page and "(from failed)" in rerun_page


def test_the_rerun_page_offers_every_node_and_reruns_from_the_chosen_one_on_the_latest_version(staff, failed):
    workflow_update(workflow=failed.workflow, definition={**DEFINITION, "variables": {"v": 2}})
    page_url = reverse("admin:executions_workflowexecution_rerun", args=[failed.pk])
    change = staff.get(reverse("admin:executions_workflowexecution_change", args=[failed.pk]))
    assert page_url in change.content.decode()

    page = staff.get(page_url).content.decode()
    assert all(f'value="{value}"' in page for value in ("failed", "trigger", "start", "note", "latest"))

    response = staff.post(page_url, {"from": "note", "version": "latest"})

    rerun = WorkflowExecution.objects.get(source_execution=failed)
    assert response.status_code == 302 and str(rerun.pk) in response["Location"]
    assert rerun.rerun_from == "note" and rerun.version_id != failed.version_id
    assert AuditLog.objects.filter(action="execution.rerun").count() == 1


def test_the_rerun_page_refuses_an_unknown_node_and_starts_nothing(staff, failed):
    response = staff.post(
        reverse("admin:executions_workflowexecution_rerun", args=[failed.pk]), {"from": "nope", "version": "original"}
    )

    assert response.status_code == 400 and "nope" in response.content.decode()
    assert not WorkflowExecution.objects.filter(source_execution=failed).exists()


def test_a_viewer_cannot_rerun_from_the_admin_page(client, organization, failed):
    viewer = UserFactory(is_staff=True)
    MembershipFactory(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)

    response = client.post(
        reverse("admin:executions_workflowexecution_rerun", args=[failed.pk]), {"from": "failed", "version": "original"}
    )

    assert response.status_code == 404
    assert not WorkflowExecution.objects.filter(source_execution=failed).exists()
