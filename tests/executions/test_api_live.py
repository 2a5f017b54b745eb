"""The API against a real worker: `execute?wait=` returns the result; a webhook answers with webhook_response."""

import itertools
import json

import pytest
from rest_framework.test import APIClient

from apps.executions import triggers, views
from apps.workflows.models import FormSubmission
from apps.workflows.services import trigger_create, workflow_activate, workflow_create
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.slow


@pytest.fixture
def organization_member(engine_worker):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


def test_execute_with_wait_returns_the_result(organization_member):
    organization, client = organization_member
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "greet", "type": "set", "config": {"values": {"greeting": "hi {{ trigger.name }}"}}},
        ],
        "edges": [{"source": "start", "target": "greet"}],
    }
    workflow = workflow_create(organization=organization, name="greet", definition=definition)
    response = client.post(
        f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {"name": "Ada"}}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "succeeded"
    nodes = {node["node_id"]: node for node in body["nodes"]}
    assert nodes["greet"]["status"] == "succeeded"
    assert "hi Ada" in json.dumps(nodes["greet"]["output"])


def _published(organization, definition: dict, kind: str):
    workflow = workflow_create(organization=organization, name=kind, definition=definition)
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind=kind)


def _hook_definition(*then: dict, **config) -> dict:
    nodes = [{"id": "in", "type": "webhook", "config": {"response_mode": "response_node", **config}}, *then]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


def _call(client, hook, body: bytes = b'{"amount": 3}', *, signed: bool = True):
    headers = {"HTTP_X_CONCERTMASTER_SIGNATURE": triggers.sign(secret=hook.signing_secret, body=body)} if signed else {}
    return client.post(f"/hooks/{hook.webhook_token}", data=body, content_type="application/json", **headers)


def test_webhook_answers_with_the_webhook_response_node(organization_member, client):
    """The webhook node's require_signature and response_mode decide: unsigned is 401, signed gets the response."""
    organization, _ = organization_member
    reply = {"id": "reply", "type": "webhook_response", "config": {"status": 201, "body": {"ok": True}}}
    hook = _published(
        organization, _hook_definition(reply, require_signature=True, response_timeout_seconds=20), "webhook"
    )
    unsigned = _call(client, hook, signed=False)
    assert unsigned.status_code == 401
    assert unsigned.json()["detail"] == triggers.SIGNATURE_MISSING
    response = _call(client, hook)
    assert response.status_code == 201
    assert response.json() == {"ok": True}


def test_a_synchronous_webhook_whose_run_fails_answers_502_naming_the_node(organization_member, client):
    organization, _ = organization_member
    boom = {"id": "charge", "type": "test.fail", "config": {"message": "card declined", "retryable": False}}
    reply = {"id": "reply", "type": "webhook_response", "config": {"status": 200, "body": {"ok": True}}}
    hook = _published(organization, _hook_definition(boom, reply, response_timeout_seconds=20), "webhook")
    response = _call(client, hook, signed=False)
    assert response.status_code == 502, response.json()
    body = response.json()
    assert body["status"] == "failed" and body["type"] == "execution_failed"
    assert (body["node"], body["error"]) == ("charge", "card declined")
    assert body["detail"] == views.RUN_FAILED.format(node="charge", error="card declined")


def test_a_synchronous_webhook_that_runs_out_of_time_answers_504(organization_member, client):
    organization, _ = organization_member
    slow = {"id": "slow", "type": "test.slow", "config": {"seconds": 2}}
    hook = _published(organization, _hook_definition(slow, response_timeout_seconds=0.2), "webhook")
    response = _call(client, hook, signed=False)
    assert response.status_code == 504
    assert response.json()["type"] == "timeout"
    assert response.json()["status"] in ("pending", "running")
    triggers.execution_wait(execution_id=response.json()["execution_id"], timeout=10)


def test_a_published_form_runs_with_the_submitted_values(organization_member, client):
    """GET the page, POST a submission: the run succeeds, the form node outputs the values, later nodes read them."""
    organization, _ = organization_member
    fields = {
        "type": "object",
        "required": ["name", "email"],
        "properties": {"name": {"type": "string", "minLength": 2}, "email": {"type": "string", "format": "email"}},
    }
    definition = {
        "nodes": [
            {"id": "start", "type": "form", "config": {"title": "Join", "fields": fields, "submit_label": "Join"}},
            {"id": "greet", "type": "set", "config": {"values": {"greeting": "hi {{ trigger.name }}"}}},
        ],
        "edges": [{"source": "start", "target": "greet"}],
    }
    form = _published(organization, definition, "form")
    page = client.get(f"/forms/{form.webhook_token}")
    assert page.status_code == 200
    assert '<button type="submit">Join</button>' in page.content.decode()
    refused = client.post(f"/forms/{form.webhook_token}", {"name": "A", "email": "ada@example.com"})
    assert refused.status_code == 400
    assert "Please enter at least 2 characters." in refused.content.decode()
    assert 'value="ada@example.com"' in refused.content.decode()
    response = client.post(f"/forms/{form.webhook_token}", {"name": "Ada", "email": "ada@example.com"})
    assert response.status_code == 200
    submission = FormSubmission.objects.get(execution_id__isnull=False)
    execution = triggers.execution_wait(execution_id=submission.execution_id, timeout=20)
    assert execution.status == "succeeded", execution.error
    nodes = {node.node_id: node for node in execution.node_executions.all()}
    assert nodes["start"].output == {"name": "Ada", "email": "ada@example.com"}
    assert "hi Ada" in json.dumps(nodes["greet"].output)
