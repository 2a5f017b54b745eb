"""Contract fixes found by fuzzing: bodies and query parameters behave as the OpenAPI document says."""

from pathlib import Path

import pytest
import yaml
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.core.api.filters import EMPTY_FILTER
from apps.core.api.pagination import INVALID_PAGE_SIZE
from apps.orgs.models import AuditLog, Organization
from apps.orgs.services import api_key_create
from tests.workflows.factories import SIMPLE_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def owner_client(api_client, organization, member_factory):
    api_client.force_authenticate(member_factory(organization, "owner"))
    return api_client


def bearer(organization, scopes):
    _, raw = api_key_create(organization=organization, name="k", scopes=scopes)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


# --- organizations ---


def test_an_organization_is_created_with_its_settings(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.post(
        "/api/v1/organizations/", {"name": "Acme", "slug": "acme", "settings": {"tz": "UTC"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["settings"] == {"tz": "UTC"}
    assert Organization.objects.get(slug="acme").settings == {"tz": "UTC"}


# --- audit log ---


def test_an_audit_row_written_by_an_api_key_names_the_key_and_no_user(organization, owner_client):
    response = APIClient().post(
        "/api/v1/workflows/",
        {"name": "By key", "definition": SIMPLE_DEFINITION},
        format="json",
        **bearer(organization, ["write"]),
    )
    assert response.status_code == 201, response.json()
    key_prefix = AuditLog.objects.get(action="workflow.create").data["api_key"]
    rows = owner_client.get("/api/v1/audit-log/").json()["results"]
    row = next(row for row in rows if row["action"] == "workflow.create")
    assert row["actor"] is None
    assert row["api_key"] == key_prefix


def test_the_schema_says_the_audit_actor_and_api_key_may_be_null():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    properties = schema["components"]["schemas"]["AuditLog"]["properties"]
    assert properties["actor"].get("nullable") is True or "allOf" in properties["actor"]
    if "allOf" in properties["actor"]:
        assert properties["actor"]["nullable"] is True
    assert properties["api_key"]["nullable"] is True


# --- query parameters ---


@pytest.mark.parametrize("value", ["null", "true", "-1", "0", "", "1.5", "abc"])
def test_a_bad_page_size_is_400(owner_client, value):
    response = owner_client.get(f"/api/v1/workflows/?page_size={value}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == [{"path": "/page_size", "message": INVALID_PAGE_SIZE.format(maximum=200)}]


def test_a_good_page_size_pages_and_a_large_one_is_capped(owner_client, organization):
    for _ in range(3):
        WorkflowFactory(organization=organization)
    assert len(owner_client.get("/api/v1/workflows/?page_size=2").json()["results"]) == 2
    assert owner_client.get("/api/v1/workflows/?page_size=5000").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/executions/?workflow=",
        "/api/v1/triggers/?workflow=",
        "/api/v1/workflows/?status=",
        "/api/v1/executions/?status=",
    ],
)
def test_an_empty_filter_is_400(owner_client, url):
    response = owner_client.get(url)
    assert response.status_code == 400, response.content
    name = url.split("?")[1].rstrip("=")
    assert response.json()["errors"] == [{"path": f"/{name}", "message": EMPTY_FILTER}]


def test_filters_with_values_and_other_parameters_still_work(owner_client, organization):
    workflow = WorkflowFactory(organization=organization)
    assert owner_client.get(f"/api/v1/executions/?workflow={workflow.pk}").status_code == 200
    assert owner_client.get("/api/v1/executions/?cursor=").status_code == 200


# --- the OpenAPI document ---


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def test_request_bodies_refuse_unknown_properties_in_the_schema(schema):
    components = schema["components"]["schemas"]
    for name in ("WorkflowRequest", "PatchedWorkflowRequest", "ExecuteInputRequest", "OrganizationRequest"):
        assert components[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in components["Workflow"]  # responses may grow


def test_every_nullable_request_field_takes_null(owner_client, organization):
    response = owner_client.post(
        "/api/v1/workflows/",
        {"name": "n", "definition": SIMPLE_DEFINITION, "max_concurrent_executions": None},
        format="json",
    )
    assert response.status_code == 201, response.json()
    workflow = response.json()["id"]
    response = owner_client.patch(f"/api/v1/workflows/{workflow}/", {"max_concurrent_executions": None}, format="json")
    assert response.status_code == 200, response.json()
    response = owner_client.post(
        "/api/v1/api-keys/",
        {"organization": str(organization.pk), "name": "k", "scopes": ["read"], "expires_at": None},
        format="json",
    )
    assert response.status_code == 201, response.json()
    response = owner_client.patch(f"/api/v1/workflows/{workflow}/", {"error_workflow": None}, format="json")
    assert response.status_code == 200, response.json()
    rule = {"name": "r", "kind": "production_failure", "channel": "email", "target": "ops@example.com"}
    response = owner_client.post(
        "/api/v1/alert-rules/", {**rule, "workflow": None, "threshold_percent": None}, format="json"
    )
    assert response.status_code == 201, response.json()
    response = owner_client.patch(
        f"/api/v1/alert-rules/{response.json()['id']}/", {"workflow": None, "threshold_percent": None}, format="json"
    )
    assert response.status_code == 200, response.json()


def test_the_committed_schema_lists_the_nullable_request_fields_tested_here():
    document = yaml.safe_load(Path("docs/openapi.yaml").read_text())
    components = document["components"]["schemas"]
    nullable = {
        (name, field)
        for name, component in components.items()
        if name.endswith("Request")
        for field, spec in component.get("properties", {}).items()
        if spec.get("nullable")
    }
    assert nullable <= {
        ("ApiKeyRequest", "expires_at"),
        ("WorkflowRequest", "max_concurrent_executions"),
        ("PatchedWorkflowRequest", "max_concurrent_executions"),
        ("ExecuteInputRequest", "input"),
        ("ExecuteInputRequest", "variables"),
        ("SpecExecuteInputRequest", "input_data"),
        ("SpecExecuteInputRequest", "variables"),
        ("ConfigValidateRequest", "config"),
        ("WorkflowRequest", "error_workflow"),
        ("PatchedWorkflowRequest", "error_workflow"),
        ("AlertRuleRequest", "workflow"),
        ("AlertRuleRequest", "threshold_percent"),
        ("PatchedAlertRuleRequest", "workflow"),
        ("PatchedAlertRuleRequest", "threshold_percent"),
    }


def test_execute_takes_null_input_and_variables(owner_client, organization):
    from apps.executions.models import WorkflowExecution
    from apps.workflows.services import workflow_activate

    workflow = WorkflowFactory(organization=organization)
    workflow_activate(workflow=workflow)
    body = {"input": None, "variables": None}
    response = owner_client.post(f"/api/v1/workflows/{workflow.pk}/execute/", body, format="json")
    assert response.status_code in (200, 202), response.json()
    assert WorkflowExecution.objects.get().trigger_data == {}


def test_object_only_json_fields_are_documented_as_objects(schema):
    components = schema["components"]["schemas"]
    assert components["WorkflowRequest"]["properties"]["definition"]["type"] == "object"
    assert components["TriggerRequest"]["properties"]["config"]["type"] == "object"
    assert components["OrganizationRequest"]["properties"]["settings"]["type"] == "object"
    response_settings = components["Organization"]["properties"]["settings"]
    assert response_settings["type"] == "object"


def test_validating_a_null_node_config_reports_it_against_the_schema(owner_client):
    response = owner_client.post("/api/v1/node-types/log/validate/", {"config": None}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["valid"] is False
