"""A delivery replayed from the webhook inbox runs to success on a real worker."""

import pytest
from rest_framework.test import APIClient

from apps.executions import triggers
from apps.executions.models import WebhookDelivery
from apps.workflows.services import trigger_create, workflow_activate, workflow_create
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.slow
DEFINITION = {
    "nodes": [
        {"id": "in", "type": "webhook", "config": {"require_signature": True}},
        {"id": "greet", "type": "set", "config": {"values": {"amount": "{{ trigger.body.amount }}"}}},
    ],
    "edges": [{"source": "in", "target": "greet"}],
}


def test_replaying_a_refused_delivery_runs_the_workflow_to_success(engine_worker, client):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    workflow = workflow_create(organization=organization, name="hook", definition=DEFINITION)
    workflow_activate(workflow=workflow)
    hook = trigger_create(workflow=workflow, kind="webhook")
    body = b'{"amount": 7}'
    refused = client.post(
        f"/hooks/{hook.webhook_token}",
        data=body,
        content_type="application/json",
        HTTP_X_CONCERTMASTER_SIGNATURE=triggers.sign(secret="whsec_not_it", body=body),
    )
    assert refused.status_code == 401
    delivery = WebhookDelivery.objects.get()
    api = APIClient()
    api.force_authenticate(user)
    response = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert response.status_code == 202, response.json()
    execution = triggers.execution_wait(execution_id=response.json()["id"], timeout=20)
    assert execution.status == "succeeded"
    greet = execution.node_executions.get(node_id="greet")
    assert "7" in str(greet.output)
