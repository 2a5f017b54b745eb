"""The editor pages: login required, scoped to the caller's organizations, config handed to the bundle."""

import json

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from apps.workflows.models import Workflow
from apps.workflows.views import NO_WRITABLE_ORGANIZATION, STARTER_DEFINITION
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import SIMPLE_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db


def editor_config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="editor-config" type="application/json">') + len(
        '<script id="editor-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def member_of(organization, role: str):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def test_editor_requires_login(client, organization):
    workflow = WorkflowFactory(organization=organization)
    response = client.get(reverse("workflow-edit", kwargs={"pk": workflow.pk}))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse('workflow-edit', kwargs={'pk': workflow.pk})}"


def test_editor_page_carries_the_workflow_and_api_urls(client, organization, user):
    workflow = WorkflowFactory(organization=organization)
    client.force_login(user)
    response = client.get(reverse("workflow-edit", kwargs={"pk": workflow.pk}))
    assert response.status_code == 200
    assert b"editor/editor.js" in response.content
    assert b"editor/editor.css" in response.content
    config = editor_config(response)
    assert config["page"] == "editor"
    assert config["workflow"]["id"] == str(workflow.pk)
    assert config["workflow"]["definition"] == SIMPLE_DEFINITION
    assert config["workflow"]["version"] == 1
    # The editor saves with If-Match on the revision it opened, so a save made meanwhile is a 409.
    assert config["workflow"]["revision"] == workflow.revision
    assert config["user"] == {"username": user.username, "can_edit": True, "can_execute": True}
    assert config["urls"]["workflow"] == "/api/v1/workflows/{id}/"
    assert config["urls"]["editor_page"] == "/workflows/{id}/edit/"
    assert config["urls"]["execution_page"] == "/executions/{id}/"
    # The editor's import posts there, into the workflow's organization.
    assert config["urls"]["import"] == reverse("workflow-import")
    assert config["workflow"]["organization"] == str(organization.pk)
    assert config["csrf_token"]


def test_viewer_gets_a_read_only_editor(client, organization):
    workflow = WorkflowFactory(organization=organization)
    client.force_login(member_of(organization, "viewer"))
    config = editor_config(client.get(reverse("workflow-edit", kwargs={"pk": workflow.pk})))
    assert config["user"]["can_edit"] is False
    assert config["user"]["can_execute"] is False


def test_another_organizations_workflow_does_not_exist(client, other_organization, user):
    workflow = WorkflowFactory(organization=other_organization)
    client.force_login(user)
    assert client.get(reverse("workflow-edit", kwargs={"pk": workflow.pk})).status_code == 404


def test_unknown_workflow_is_404(client, user):
    client.force_login(user)
    url = reverse("workflow-edit", kwargs={"pk": "6f1c1d4e-0000-4000-8000-000000000000"})
    assert client.get(url).status_code == 404


def test_new_workflow_starts_with_a_manual_trigger_and_opens_the_editor(client, organization, user):
    client.force_login(user)
    response = client.post(reverse("workflow-new"), {"organization": organization.pk, "name": "Orders"})
    workflow = Workflow.objects.get(name="Orders")
    assert response.status_code == 302
    assert response["Location"] == reverse("workflow-edit", kwargs={"pk": workflow.pk})
    assert workflow.organization == organization
    assert workflow.created_by == user
    assert workflow.definition == STARTER_DEFINITION
    assert workflow.versions.count() == 1


def test_new_workflow_without_a_name_shows_the_error_and_creates_nothing(client, organization, user):
    client.force_login(user)
    response = client.post(reverse("workflow-new"), {"organization": organization.pk, "name": ""})
    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert not Workflow.objects.exists()


def test_new_workflow_refuses_an_organization_the_user_is_not_in(client, other_organization, user):
    client.force_login(user)
    response = client.post(reverse("workflow-new"), {"organization": other_organization.pk, "name": "Sneaky"})
    assert response.status_code == 200
    assert not Workflow.objects.exists()


def test_viewers_cannot_create_workflows(client, organization):
    client.force_login(member_of(organization, "viewer"))
    response = client.get(reverse("workflow-new"))
    assert response.status_code == 403
    assert NO_WRITABLE_ORGANIZATION.encode() in response.content
    assert client.post(reverse("workflow-new"), {"organization": organization.pk, "name": "x"}).status_code == 403
    assert not Workflow.objects.exists()


def test_admin_workflow_page_links_to_the_editor_and_run(client, organization):
    workflow = WorkflowFactory(organization=organization)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk]))
    editor = reverse("workflow-edit", kwargs={"pk": workflow.pk})
    assert response.status_code == 200
    assert f'href="{editor}" class="cm-admin-link">Open editor</a>' in response.content.decode()
    assert f'href="{editor}?run=1" class="cm-admin-link">Run</a>' in response.content.decode()


def test_admin_add_workflow_page_has_no_editor_link(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:workflows_workflow_add"))
    assert response.status_code == 200
    assert b"Open editor" not in response.content


def test_a_workflow_shared_for_viewing_opens_read_only_for_an_outsider(client, other_organization):
    workflow = WorkflowFactory(organization=other_organization)
    outsider = UserFactory()
    assign_perm("view_workflow", outsider, workflow)
    client.force_login(outsider)
    config = editor_config(client.get(reverse("workflow-edit", kwargs={"pk": workflow.pk})))
    assert config["workflow"]["id"] == str(workflow.pk)
    assert config["user"]["can_edit"] is False
    assert config["user"]["can_execute"] is False


def test_admin_workflow_list_offers_a_new_workflow_in_the_editor(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:workflows_workflow_changelist"))
    assert response.status_code == 200
    assert (
        f'href="{reverse("workflow-new")}" class="cm-admin-link">New workflow in the editor</a>'
        in response.content.decode()
    )
