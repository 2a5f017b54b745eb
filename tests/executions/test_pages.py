"""The live execution page: login required, visible exactly when its workflow is, pinned definition inside."""

import json

import pytest
from django.urls import reverse

from apps.workflows.services import workflow_update
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import SIMPLE_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db


def page_config(response) -> dict:
    html = response.content.decode()
    marker = '<script id="editor-config" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_execution_page_requires_login(client, organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    response = client.get(reverse("execution-page", kwargs={"pk": execution.pk}))
    assert response.status_code == 302


def test_execution_page_shows_the_pinned_version_not_the_working_copy(client, organization, user):
    workflow = WorkflowFactory(organization=organization)
    execution = WorkflowExecutionFactory(workflow=workflow)
    changed = {
        **SIMPLE_DEFINITION,
        "nodes": [*SIMPLE_DEFINITION["nodes"], {"id": "more", "type": "log", "config": {"message": "x"}}],
    }
    workflow_update(
        workflow=workflow, definition={**changed, "edges": [*changed["edges"], {"source": "log", "target": "more"}]}
    )
    client.force_login(user)
    response = client.get(reverse("execution-page", kwargs={"pk": execution.pk}))
    assert response.status_code == 200
    config = page_config(response)
    assert config["page"] == "execution"
    assert config["execution"]["id"] == str(execution.pk)
    assert config["execution"]["version"] == 1
    assert config["execution"]["definition"] == SIMPLE_DEFINITION
    assert config["user"]["can_execute"] is True
    assert config["user"]["can_edit"] is False


def test_another_organizations_execution_does_not_exist(client, other_organization, user):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=other_organization))
    client.force_login(user)
    assert client.get(reverse("execution-page", kwargs={"pk": execution.pk})).status_code == 404


def test_unknown_execution_is_404(client, user):
    client.force_login(user)
    url = reverse("execution-page", kwargs={"pk": "6f1c1d4e-0000-4000-8000-000000000000"})
    assert client.get(url).status_code == 404


def test_admin_execution_page_links_to_the_live_view(client, organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:executions_workflowexecution_change", args=[execution.pk]))
    live = reverse("execution-page", kwargs={"pk": execution.pk})
    assert response.status_code == 200
    assert f'href="{live}" class="cm-admin-link">View live</a>' in response.content.decode()


def test_viewers_watch_but_cannot_control(client, organization):
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    viewer = UserFactory()
    MembershipFactory(user=viewer, organization=organization, role="viewer")
    client.force_login(viewer)
    config = page_config(client.get(reverse("execution-page", kwargs={"pk": execution.pk})))
    assert config["user"] == {"username": viewer.username, "can_edit": False, "can_execute": False}
