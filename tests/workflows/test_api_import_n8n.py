"""`POST /api/v1/workflows/import/` with n8n workflow JSON: one workflow or several, through the n8n translator."""

import pytest

from apps.workflows.models import Workflow
from apps.workflows.services import N8N_REFUSED
from tests.integrations import n8n_workflows

pytestmark = pytest.mark.django_db

URL = "/api/v1/workflows/import/"


@pytest.fixture
def member(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def test_one_n8n_workflow_becomes_a_draft_with_its_report(member, organization):
    document = {**n8n_workflows.greeting_branch(), "id": "n1"}
    response = member.post(URL, {"document": document}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Greeting branch" and body["status"] == "draft" and body["is_valid"] is True
    assert body["n8n_report"]["summary"] == {"translated": 4, "translated_with_changes": 1, "not_translatable": 0}
    assert Workflow.objects.get(pk=body["id"]).organization == organization


def test_several_n8n_workflows_import_together_and_refusals_are_reported(member):
    sub = {
        "id": "sub1",
        "name": "Sub",
        "nodes": [n8n_workflows.node("In", "executeWorkflowTrigger", {}, 1), n8n_workflows.node("N", "noOp", {})],
        "connections": {"In": {"main": [[n8n_workflows.link("N")]]}},
    }
    caller = {
        "id": "c1",
        "name": "Caller",
        "nodes": [
            n8n_workflows.node("Start", "manualTrigger", {}),
            n8n_workflows.node("Call", "executeWorkflow", {"source": "database", "workflowId": "sub1"}, 1.1),
        ],
        "connections": {"Start": {"main": [[n8n_workflows.link("Call")]]}},
    }
    no_trigger = {"id": "x", "name": "Broken", "nodes": [n8n_workflows.node("N", "noOp", {})], "connections": {}}
    response = member.post(URL, {"document": [caller, no_trigger, sub]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    imported = {w["name"]: w for w in body["workflows"]}
    assert set(imported) == {"Sub", "Caller"}
    call = next(n for n in imported["Caller"]["definition"]["nodes"] if n["id"] == "call")
    assert call["config"] == {"workflow_id": imported["Sub"]["id"]}
    assert [r["name"] for r in body["refused"]] == ["Broken"]


def test_one_untranslatable_n8n_workflow_is_a_400_naming_the_document(member):
    document = {"name": "Broken", "nodes": [n8n_workflows.node("N", "noOp", {})], "connections": {}}
    response = member.post(URL, {"document": document}, format="json")
    assert response.status_code == 400
    assert "document" in str(response.json())
    assert "could not be imported" in N8N_REFUSED
    assert not Workflow.objects.filter(name="Broken").exists()


def test_a_list_that_is_not_n8n_workflows_is_refused(member):
    response = member.post(URL, {"document": [{"a": 1}]}, format="json")
    assert response.status_code == 400
    assert "must hold n8n workflows" in str(response.json())
