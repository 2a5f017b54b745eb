"""The home page at `/`: a signed-in member's workflows and recent executions, scoped like the API."""

import pytest
from django.urls import reverse
from django.utils.html import escape
from guardian.shortcuts import assign_perm

from apps.executions.pages import HOME_EXECUTION_LIMIT, HOME_WORKFLOW_LIMIT, MORE_WORKFLOWS, NO_ORGANIZATION
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(client, user):
    client.force_login(user)
    return user


def test_home_lists_the_members_workflows_with_editor_links(client, organization, member):
    workflow = WorkflowFactory(organization=organization, name="Ship orders")

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Ship orders" in html
    assert reverse("workflow-edit", kwargs={"pk": workflow.pk}) in html
    assert organization.name in html


def test_home_does_not_list_another_organizations_workflow(client, organization, other_organization, member):
    WorkflowFactory(organization=organization, name="Ours")
    theirs = WorkflowFactory(organization=other_organization, name="Secret plans of another organization")

    html = client.get("/").content.decode()

    assert "Ours" in html
    assert "Secret plans of another organization" not in html
    assert str(theirs.pk) not in html


def test_home_lists_a_workflow_shared_through_guardian(client, other_organization, member):
    shared = WorkflowFactory(organization=other_organization, name="Shared with me")
    assign_perm("view_workflow", member, shared)

    html = client.get("/").content.decode()

    assert "Shared with me" in html
    assert reverse("workflow-edit", kwargs={"pk": shared.pk}) in html


def test_home_lists_recent_executions_of_visible_workflows_only(client, organization, other_organization, member):
    ours = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization, name="Ours"), status="failed")
    theirs = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=other_organization))

    html = client.get("/").content.decode()

    assert reverse("execution-page", kwargs={"pk": ours.pk}) in html
    assert "cm-badge--failed" in html
    assert reverse("execution-page", kwargs={"pk": theirs.pk}) not in html


def test_home_links_new_workflow_and_api_docs_but_the_admin_only_for_staff(client, member):
    html = client.get("/").content.decode()

    assert reverse("workflow-new") in html
    assert reverse("swagger-ui") in html
    assert reverse("admin:index") not in html


def test_home_links_the_admin_for_staff(client, organization):
    staff = UserFactory(is_staff=True)
    MembershipFactory(user=staff, organization=organization, role="owner")
    client.force_login(staff)

    assert reverse("admin:index") in client.get("/").content.decode()


def test_a_viewer_is_not_offered_new_workflow(client, organization):
    viewer = UserFactory()
    MembershipFactory(user=viewer, organization=organization, role="viewer")
    WorkflowFactory(organization=organization, name="Read only")
    client.force_login(viewer)

    html = client.get("/").content.decode()

    assert "Read only" in html
    assert reverse("workflow-new") not in html


def test_a_user_without_organization_is_told_what_to_do(client):
    client.force_login(UserFactory())

    response = client.get("/")

    assert response.status_code == 200
    assert escape(NO_ORGANIZATION) in response.content.decode()


def test_home_lists_at_most_its_limits(client, organization, member, monkeypatch):
    monkeypatch.setattr("apps.executions.pages.HOME_WORKFLOW_LIMIT", 2)
    monkeypatch.setattr("apps.executions.pages.HOME_EXECUTION_LIMIT", 1)
    for _ in range(3):
        WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))

    response = client.get("/")

    assert len(response.context["workflows"]) == 2
    assert len(response.context["executions"]) == 1
    assert MORE_WORKFLOWS.format(limit=2) in response.content.decode()
    assert HOME_WORKFLOW_LIMIT >= 20 and HOME_EXECUTION_LIMIT >= 10


def test_home_query_count_does_not_grow_with_rows(
    client, organization, other_organization, member, django_assert_max_num_queries
):
    """The same few queries for 2 or 20 workflows and executions (session, user, access, the two lists...)."""
    shared = WorkflowFactory(organization=other_organization)
    assign_perm("execute_workflow", member, shared)
    for _ in range(2):
        WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    with django_assert_max_num_queries(10) as few:
        client.get("/")
    for _ in range(18):
        WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/")

    assert len(response.context["workflows"]) == 21
