"""Expression preview: rendered in the engine's sandbox over pins and last-run data, with completions."""

import pytest
from rest_framework.test import APIClient

from apps.executions.expression_preview import MSG_UNKNOWN_NODE
from apps.workflows.services import workflow_create, workflow_update
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "lookup", "type": "log", "config": {"message": "x"}},
        {"id": "notify", "type": "log", "config": {"message": "{{ nodes.lookup.output.message }}"}},
        {"id": "side", "type": "log", "config": {"message": "side"}},
    ],
    "edges": [
        {"source": "start", "target": "lookup"},
        {"source": "lookup", "target": "notify"},
        {"source": "start", "target": "side"},
    ],
    "variables": {"limit": 5},
}


@pytest.fixture
def setup():
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="viewer")
    workflow = workflow_create(organization=organization, name="preview", definition=DEFINITION)
    execution = WorkflowExecutionFactory(workflow=workflow, version=workflow.latest_version, trigger_data={"a": 1})
    NodeExecutionFactory(
        execution=execution, node_id="lookup", status="succeeded", ports=["main"], output={"message": "gold"}
    )
    client = APIClient()
    client.force_authenticate(user)
    return workflow, client


def _preview(client, workflow, body):
    return client.post(f"/api/v1/workflows/{workflow.pk}/expressions/preview/", body, format="json")


def test_a_preview_renders_over_the_last_run_and_lists_completions(setup):
    workflow, client = setup

    response = _preview(
        client,
        workflow,
        {"expression": "{{ nodes.lookup.output.message | upper }} {{ trigger.a + vars.limit }}", "node": "notify"},
    )

    body = response.json()
    assert response.status_code == 200, body
    assert (body["value"], body["error"]) == ("GOLD 6", None)
    assert body["sources"] == {"trigger": "last_run", "nodes": {"lookup": "last_run"}}
    assert {"trigger", "trigger.a", "nodes.lookup.output", "nodes.lookup.output.message", "vars.limit"} <= set(
        body["completions"]
    )
    assert not any(path.startswith("nodes.side") for path in body["completions"])  # not upstream of notify


def test_pins_win_over_the_last_run_and_a_pinned_trigger_is_the_trigger(setup):
    workflow, client = setup
    workflow_update(workflow=workflow, pins={"lookup": {"message": "pinned"}, "start": {"a": 10}})

    body = _preview(client, workflow, {"expression": "{{ nodes.lookup.output.message }}-{{ trigger.a }}"}).json()

    assert body["value"] == "pinned-10"
    assert body["sources"]["trigger"] == "pin" and body["sources"]["nodes"]["lookup"] == "pin"


def test_a_config_object_renders_whole(setup):
    workflow, client = setup

    body = _preview(client, workflow, {"expression": {"n": "{{ trigger.a }}", "list": ["{{ vars.limit * 2 }}"]}}).json()

    assert body["value"] == {"n": 1, "list": [10]}


def test_a_failing_expression_answers_the_error_the_run_would_hit(setup):
    workflow, client = setup

    body = _preview(client, workflow, {"expression": "{{ nodes.nothing.output }}"}).json()

    assert body["value"] is None
    assert "nothing" in body["error"]


@pytest.mark.parametrize(
    ("body", "path"),
    [({}, "/expression"), ({"expression": None}, "/expression"), ({"expression": "x", "node": "nope"}, "/node")],
)
def test_bad_previews_are_a_400_naming_the_field(setup, body, path):
    workflow, client = setup
    response = _preview(client, workflow, body)
    assert response.status_code == 400, response.json()
    assert [error["path"] for error in response.json()["errors"]] == [path]
    if path == "/node":
        assert response.json()["errors"][0]["message"] == MSG_UNKNOWN_NODE.format(node_id="nope")


def test_another_organizations_workflow_is_a_404(setup):
    workflow, _ = setup
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())
    assert _preview(stranger, workflow, {"expression": "{{ 1 }}"}).status_code == 404
