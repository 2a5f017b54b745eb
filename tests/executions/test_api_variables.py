"""Variables through real runs: one versioned source, a run's explicit override, and drafts that do not run."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from apps.executions.api.serializers import VARIABLES_NOT_OBJECT
from apps.executions.management.commands.run_workflow import NOT_STARTED
from apps.executions.models import WorkflowExecution
from apps.executions.services import execution_start
from apps.executions.triggers import execution_wait
from apps.workflows.choices import TriggerKind
from apps.workflows.services import workflow_create, workflow_update
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.slow

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "first", "type": "test.echo", "config": {"value": "{{ trigger.n }}"}},
        {
            "id": "second",
            "type": "test.echo",
            # reads a node two hops up (not a source of its own) and the variables
            "config": {
                "value": {"n": "{{ nodes.start.output.n }}", "limit": "{{ vars.limit }}", "unit": "{{ vars.unit }}"}
            },
        },
    ],
    "edges": [{"source": "start", "target": "first"}, {"source": "first", "target": "second"}],
    "variables": {"limit": 100, "unit": "EUR"},
}


@pytest.fixture
def member(engine_worker):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


def _second(body: dict) -> dict:
    return {node["node_id"]: node for node in body["nodes"]}["second"]["output"]["value"]


def test_a_run_overrides_variables_and_stores_the_override(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="vars", definition=DEFINITION)
    url = f"/api/v1/workflows/{workflow.pk}/execute/?wait=20"

    plain = client.post(url, {"input": {"n": 1}}, format="json")
    override = client.post(url, {"input": {"n": 2}, "variables": {"limit": 5}}, format="json")

    assert (plain.status_code, override.status_code) == (200, 200), (plain.json(), override.json())
    assert _second(plain.json()) == {"n": 1, "limit": 100, "unit": "EUR"}
    assert plain.json()["variables_override"] is None
    assert _second(override.json()) == {"n": 2, "limit": 5, "unit": "EUR"}
    assert override.json()["variables_override"] == {"limit": 5}
    detail = client.get(f"/api/v1/executions/{override.json()['id']}/").json()
    assert detail["variables_override"] == {"limit": 5}


def test_an_edit_of_the_definitions_variables_is_what_the_next_run_sees(member):
    """The defect: a top-level `variables` field overrode the definition's, so the editor's change was ignored."""
    organization, client = member
    workflow = workflow_create(organization=organization, name="vars", definition=DEFINITION)
    changed = {**DEFINITION, "variables": {"limit": 7, "unit": "USD"}}
    assert client.patch(f"/api/v1/workflows/{workflow.pk}/", {"definition": changed}, format="json").status_code == 200

    response = client.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {"n": 3}}, format="json")

    assert response.json()["version"] == 2
    assert _second(response.json()) == {"n": 3, "limit": 7, "unit": "USD"}


@pytest.mark.parametrize("variables", [[1, 2], "limit=5", 5])
def test_variables_that_are_not_an_object_are_a_400_naming_them(member, variables):
    organization, client = member
    workflow = workflow_create(organization=organization, name="vars", definition=DEFINITION)

    response = client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {"variables": variables}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/variables", "message": VARIABLES_NOT_OBJECT}]
    assert not WorkflowExecution.objects.filter(workflow=workflow).exists()


def test_triggers_keep_running_the_latest_version_while_an_invalid_draft_is_edited(member):
    organization, _ = member
    workflow = workflow_create(organization=organization, name="vars", definition=DEFINITION)
    draft = {**DEFINITION, "edges": []}
    workflow_update(workflow=workflow, definition=draft)

    execution = execution_start(workflow=workflow, trigger_kind=TriggerKind.WEBHOOK, trigger_data={"n": 4})
    execution = execution_wait(execution_id=execution.pk, timeout=20)

    assert (execution.status, execution.version.number) == ("succeeded", 1)
    with pytest.raises(CommandError) as excinfo:  # a person's run needs the working copy to be valid
        call_command("run_workflow", str(workflow.pk))
    assert str(excinfo.value).startswith(NOT_STARTED.split("{")[0])


@pytest.mark.django_db
def test_the_execution_admin_shows_the_override(admin_client, test_nodes):
    organization = OrganizationFactory()
    workflow = workflow_create(organization=organization, name="vars", definition=DEFINITION)
    execution = execution_start(workflow=workflow, trigger_data={"n": 1}, variables={"limit": 9})

    page = admin_client.get(reverse("admin:executions_workflowexecution_change", args=[execution.pk]))

    assert page.status_code == 200
    assert "Variables override" in page.content.decode()
    assert "&quot;limit&quot;: 9" in page.content.decode()
    assert WorkflowExecution.objects.get(pk=execution.pk).context["vars"] == {"limit": 9, "unit": "EUR"}


@pytest.mark.django_db
def test_the_admin_run_action_refuses_an_invalid_draft(client, organization):
    from tests.executions.test_admin_actions import act, client_as_admin, texts

    # Without the test node types registered, test.echo is an unknown type: the workflow is a draft.
    workflow = workflow_create(organization=organization, name="draft", definition=DEFINITION)

    response = act(
        client_as_admin(client, organization), "admin:workflows_workflow_changelist", "run_workflows_now", workflow
    )

    assert not WorkflowExecution.objects.exists()
    [text] = texts(response)
    assert text.startswith(f"Not started: {workflow.name} (/nodes/1/type: ")
