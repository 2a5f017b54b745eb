"""The stuck-run views of the admin (the `stuck` filter of the execution and node lists) and the fixes beside them:
re-queue, wake, start held-back runs, cancel, re-run from the trigger; scoped per organization, audited."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from apps.executions import services
from apps.executions.models import NodeExecution, WorkflowExecution
from apps.orgs.models import AuditLog
from tests.executions.engine.helpers import chain
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db

EXECUTIONS = "admin:executions_workflowexecution_changelist"
NODES = "admin:executions_nodeexecution_changelist"
LONG_AGO = timedelta(hours=3)


def staff(client, organization, role: str = "admin"):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role=role)
    client.force_login(user)
    return client


def listed(client, view: str, stuck: str) -> set:
    response = client.get(reverse(view), {"stuck": stuck})
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


def act(client, view: str, action: str, *rows):
    return client.post(
        reverse(view), {"action": action, "_selected_action": [str(row.pk) for row in rows]}, follow=True
    )


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def make_workflow(organization, **fields):
    nodes, edges = chain({"id": "log", "type": "log", "config": {"message": "hi"}})
    definition = {"nodes": nodes, "edges": [{"source": s, "target": t} for s, t in edges]}
    return WorkflowFactory(organization=organization, definition=definition, **fields)


def started(organization, **fields) -> WorkflowExecution:
    """A running execution (no worker: the test's transaction never commits, nothing is sent)."""
    return services.execution_start(workflow=make_workflow(organization, **fields))


def set_node(execution, node_id: str = "log", **values) -> NodeExecution:
    NodeExecution.objects.filter(execution=execution, node_id=node_id).update(**values)
    return NodeExecution.objects.get(execution=execution, node_id=node_id)


def test_running_too_long_lists_the_staff_members_organization_only(client, organization, other_organization):
    mine, theirs, fresh = started(organization), started(other_organization), started(organization)
    WorkflowExecution.objects.filter(pk__in=[mine.pk, theirs.pk]).update(started_at=timezone.now() - LONG_AGO)
    client = staff(client, organization)
    assert listed(client, EXECUTIONS, "running_too_long") == {mine.pk}
    assert fresh.pk in listed(client, EXECUTIONS, "")


def test_a_lease_expired_node_is_listed_and_requeued_with_a_new_task(client, organization, other_organization):
    execution = started(organization)
    node = set_node(execution, status="running", task_id="old-task", lease_expires_at=timezone.now() - LONG_AGO)
    set_node(started(other_organization), status="running", lease_expires_at=timezone.now() - LONG_AGO)
    client = staff(client, organization)
    assert listed(client, NODES, "lease_expired") == {node.pk}
    response = act(client, NODES, "requeue_nodes", node)
    node.refresh_from_db()
    assert (node.status, node.task_id != "old-task") == ("queued", True)
    assert texts(response) == ["Re-queued 1 node(s)."]
    row = AuditLog.objects.get(action="execution.requeue_node")
    assert row.data["node_id"] == "log" and row.data["status"] == "running" and row.data["via"] == "admin"
    assert listed(client, NODES, "lease_expired") == set()


def test_a_queued_node_that_never_started_is_sent_again(client, organization):
    execution = started(organization)
    node = set_node(execution, status="queued", task_id="lost-task")
    NodeExecution.objects.filter(pk=node.pk).update(updated_at=timezone.now() - LONG_AGO)
    client = staff(client, organization)
    assert listed(client, NODES, "never_started") == {node.pk}
    act(client, NODES, "requeue_nodes", node)
    node.refresh_from_db()
    assert node.status == "queued" and node.task_id != "lost-task"
    assert listed(client, NODES, "never_started") == set()


def test_a_delay_past_its_wake_up_time_is_woken(client, organization):
    execution = started(organization)
    node = set_node(
        execution, status="waiting", state={"suspend": {"kind": "delay"}}, wake_at=timezone.now() - LONG_AGO
    )
    client = staff(client, organization)
    assert listed(client, NODES, "wake_overdue") == {node.pk}
    act(client, NODES, "requeue_nodes", node)
    node.refresh_from_db()
    assert node.status == "queued" and "woke_at" in node.state["resume"]


def test_an_approval_without_a_wake_up_time_is_refused_with_the_reason(client, organization):
    execution = started(organization)
    node = set_node(execution, status="waiting", state={"suspend": {"kind": "approval"}})
    response = act(staff(client, organization), NODES, "requeue_nodes", node)
    assert node.__class__.objects.get(pk=node.pk).status == "waiting"
    expected = services.NODE_WAITS_FOR_DECISION.format(node_id="log")
    assert texts(response) == ["Re-queued 0 node(s).", f"Not re-queued: log of {str(execution.pk)[:8]} ({expected})"]


def test_requeue_stuck_nodes_of_an_execution(client, organization):
    execution = started(organization)
    WorkflowExecution.objects.filter(pk=execution.pk).update(started_at=timezone.now() - LONG_AGO)
    node = set_node(execution, status="running", task_id="old", lease_expires_at=timezone.now() - LONG_AGO)
    act(staff(client, organization), EXECUTIONS, "requeue_stuck_nodes", execution)
    node.refresh_from_db()
    assert node.status == "queued" and node.task_id != "old"


def test_held_back_executions_are_listed_and_started_when_a_slot_frees(client, organization):
    workflow = make_workflow(organization, max_concurrent_executions=1)
    first = services.execution_start(workflow=workflow)
    second = services.execution_start(workflow=workflow)
    assert second.status == "pending"
    client = staff(client, organization)
    assert listed(client, EXECUTIONS, "held_back") == {second.pk}
    response = act(client, EXECUTIONS, "start_held_back", second)
    assert texts(response) == ["Started 0 held-back execution(s) that fit a free slot."]
    services.execution_cancel(execution=first)
    act(client, EXECUTIONS, "start_held_back", second)
    assert WorkflowExecution.objects.get(pk=second.pk).status == "running"
    assert AuditLog.objects.filter(action="workflow.start_held", data__started=1).count() == 1


def test_cancel_from_the_node_list_cancels_the_execution(client, organization):
    execution = started(organization)
    node = set_node(execution, status="running", lease_expires_at=timezone.now() - LONG_AGO)
    response = act(staff(client, organization), NODES, "cancel_node_executions", node)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "cancelled"
    assert texts(response) == ["Cancelled 1 execution(s)."]


def test_rerun_from_the_trigger_starts_a_new_execution(client, organization):
    execution = started(organization)
    act(staff(client, organization), EXECUTIONS, "rerun_from_trigger", execution)
    rerun = WorkflowExecution.objects.get(source_execution=execution)
    assert rerun.rerun_from == "trigger" and rerun.status == "running"


def test_viewers_cannot_requeue(client, organization):
    execution = started(organization)
    node = set_node(execution, status="running", task_id="old", lease_expires_at=timezone.now() - LONG_AGO)
    client = staff(client, organization, role="viewer")
    assert listed(client, NODES, "lease_expired") == {node.pk}  # they see it
    assert b"requeue_nodes" not in client.get(reverse(NODES)).content
    act(client, NODES, "requeue_nodes", node)
    assert NodeExecution.objects.get(pk=node.pk).task_id == "old"


def test_another_organizations_node_cannot_be_requeued(client, organization, other_organization):
    theirs = set_node(started(other_organization), status="running", task_id="old")
    act(staff(client, organization), NODES, "requeue_nodes", theirs)
    assert NodeExecution.objects.get(pk=theirs.pk).task_id == "old"
    assert not AuditLog.objects.filter(action="execution.requeue_node").exists()
