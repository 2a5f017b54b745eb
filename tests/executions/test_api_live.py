"""The API against a real worker: `execute?wait=` returns the result; a webhook answers with webhook_response."""

import json

import pytest
from rest_framework.test import APIClient

from apps.executions import triggers
from apps.workflows.services import trigger_create, workflow_activate, workflow_create
from tests.executions.engine.conftest import engine_worker, session_worker, test_nodes  # noqa: F401
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.slow


@pytest.fixture
def organization_member(engine_worker):  # noqa: F811
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


def test_webhook_answers_with_the_webhook_response_node(organization_member, client):
    organization, _ = organization_member
    definition = {
        "nodes": [
            {"id": "in", "type": "webhook", "config": {}},
            {"id": "reply", "type": "webhook_response", "config": {"status": 201, "body": {"ok": True}}},
        ],
        "edges": [{"source": "in", "target": "reply"}],
    }
    workflow = workflow_create(organization=organization, name="hook", definition=definition)
    workflow_activate(workflow=workflow)
    hook = trigger_create(workflow=workflow, kind="webhook", config={"response_mode": "wait", "timeout_seconds": 20})
    body = b'{"amount": 3}'
    response = client.post(
        f"/hooks/{hook.webhook_token}",
        data=body,
        content_type="application/json",
        HTTP_X_CONCERTMASTER_SIGNATURE=triggers.sign(secret=hook.signing_secret, body=body),
    )
    assert response.status_code == 201
    assert response.json() == {"ok": True}
