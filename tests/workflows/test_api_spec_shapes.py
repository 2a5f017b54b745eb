"""The specification's `POST /workflows` with a `triggers` array: created with the workflow, all or nothing."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.orgs.models import AuditLog
from apps.workflows.api.serializers import TRIGGERS_ONLY_ON_CREATE
from apps.workflows.models import Trigger, Workflow
from tests.workflows.factories import SIMPLE_DEFINITION, WEBHOOK_DEFINITION

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(api_client, organization, member_factory):
    def login(role):
        user = member_factory(organization, role)
        api_client.force_authenticate(user)
        return user

    return login


def test_a_workflow_is_created_with_its_triggers_and_their_audit_rows(as_role, api_client):
    as_role("admin")
    body = {
        "name": "hooked",
        "definition": WEBHOOK_DEFINITION,
        "triggers": [{"kind": "webhook", "name": "incoming"}],
    }
    response = api_client.post("/api/v1/workflows/", body, format="json")

    assert response.status_code == 201, response.json()
    answer = response.json()
    [trigger] = Trigger.objects.filter(workflow_id=answer["id"])
    assert (trigger.kind, trigger.name, trigger.is_active) == ("webhook", "incoming", True)
    assert [item["id"] for item in answer["triggers"]] == [str(trigger.pk)]
    assert answer["triggers"][0]["signing_secret"] == trigger.signing_secret != ""
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"workflow.create", "trigger.create"} <= actions


def test_without_triggers_the_answer_is_ours(as_role, api_client):
    as_role("member")
    response = api_client.post("/api/v1/workflows/", {"name": "n", "definition": SIMPLE_DEFINITION}, format="json")
    assert response.status_code == 201, response.json()
    assert "triggers" not in response.json()


@pytest.mark.parametrize(
    ("trigger", "path"),
    [
        ({"kind": "form"}, "/triggers/0/kind"),  # a form does not fit a webhook start node
        ({"kind": "no-such-kind"}, "/triggers/0/kind"),
        ({"kind": "webhook", "config": [1]}, "/triggers/0/config"),
        ({"kind": "webhook", "colour": "red"}, "/triggers/0/colour"),
        ({"name": "no kind"}, "/triggers/0/kind"),
    ],
)
def test_a_bad_trigger_refuses_everything_naming_the_field(as_role, api_client, trigger, path):
    as_role("admin")
    body = {"name": "hooked", "definition": WEBHOOK_DEFINITION, "triggers": [trigger]}
    response = api_client.post("/api/v1/workflows/", body, format="json")

    assert response.status_code == 400, response.json()
    assert path in [error["path"] for error in response.json()["errors"]], response.json()
    assert not Workflow.objects.exists()
    assert not Trigger.objects.exists()
    assert not AuditLog.objects.filter(action="workflow.create").exists()


def test_triggers_must_be_a_list(as_role, api_client):
    as_role("admin")
    body = {"name": "n", "definition": WEBHOOK_DEFINITION, "triggers": {"kind": "webhook"}}
    response = api_client.post("/api/v1/workflows/", body, format="json")
    assert response.status_code == 400
    assert [error["path"] for error in response.json()["errors"]] == ["/triggers"]
    assert not Workflow.objects.exists()


def test_a_member_may_create_a_workflow_but_not_its_triggers(as_role, api_client):
    as_role("member")
    body = {"name": "n", "definition": WEBHOOK_DEFINITION, "triggers": [{"kind": "webhook"}]}
    response = api_client.post("/api/v1/workflows/", body, format="json")
    assert response.status_code == 403
    assert not Workflow.objects.exists()


def test_triggers_are_refused_on_update(as_role, api_client):
    as_role("admin")
    created = api_client.post("/api/v1/workflows/", {"name": "n", "definition": WEBHOOK_DEFINITION}, format="json")
    url = f"/api/v1/workflows/{created.json()['id']}/"
    response = api_client.patch(url, {"triggers": [{"kind": "webhook"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/triggers", "message": TRIGGERS_ONLY_ON_CREATE}]
    assert not Trigger.objects.exists()


def test_the_openapi_document_describes_the_triggers_array():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"]["/api/v1/workflows/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/WorkflowRequest"}
    components = schema["components"]["schemas"]
    triggers = components["WorkflowRequest"]["properties"]["triggers"]
    assert triggers["type"] == "array"
    assert triggers["items"] == {"$ref": "#/components/schemas/WorkflowTriggerInputRequest"}
    assert set(components["WorkflowTriggerInputRequest"]["properties"]) == {
        "kind",
        "name",
        "config",
        "is_active",
        "signing_secret",
    }
