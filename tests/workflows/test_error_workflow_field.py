"""A workflow's error workflow and the organization's default one: set through the API, checked, audited."""

import pytest

from apps.orgs.models import AuditLog
from apps.workflows.models import ERROR_WORKFLOW_ITSELF, ERROR_WORKFLOW_OTHER_ORGANIZATION, Workflow
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(api_client, organization, member_factory):
    user = member_factory(organization, "admin")
    api_client.force_authenticate(user)
    return user


def _patch(api_client, workflow, body):
    return api_client.patch(f"/api/v1/workflows/{workflow.pk}/", body, format="json")


def test_error_workflow_of_the_same_organization_is_set_and_audited(admin, api_client, organization):
    workflow, handler = WorkflowFactory(organization=organization), WorkflowFactory(organization=organization)

    response = _patch(api_client, workflow, {"error_workflow": str(handler.pk)})

    assert response.status_code == 200, response.json()
    assert response.json()["error_workflow"] == str(handler.pk)
    workflow.refresh_from_db()
    assert workflow.error_workflow_id == handler.pk
    row = AuditLog.objects.filter(action="workflow.update").latest("created_at")
    assert "error_workflow" in row.data["fields"]


def test_error_workflow_of_another_organization_is_a_400_naming_the_field(admin, api_client, organization):
    workflow = WorkflowFactory(organization=organization)
    foreign = WorkflowFactory()

    response = _patch(api_client, workflow, {"error_workflow": str(foreign.pk)})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/error_workflow", "message": ERROR_WORKFLOW_OTHER_ORGANIZATION}]
    workflow.refresh_from_db()
    assert workflow.error_workflow_id is None


def test_an_unknown_error_workflow_reads_like_another_organizations(admin, api_client, organization):
    workflow = WorkflowFactory(organization=organization)
    response = _patch(api_client, workflow, {"error_workflow": "00000000-0000-4000-8000-000000000000"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == ERROR_WORKFLOW_OTHER_ORGANIZATION


def test_a_workflow_cannot_be_its_own_error_workflow(admin, api_client, organization):
    workflow = WorkflowFactory(organization=organization)

    response = _patch(api_client, workflow, {"error_workflow": str(workflow.pk)})

    assert response.status_code == 400
    assert response.json()["errors"][0] == {"path": "/error_workflow", "message": ERROR_WORKFLOW_ITSELF}


def test_error_workflow_is_cleared_with_null(admin, api_client, organization):
    handler = WorkflowFactory(organization=organization)
    workflow = WorkflowFactory(organization=organization, error_workflow=handler)

    response = _patch(api_client, workflow, {"error_workflow": None})

    assert response.status_code == 200, response.json()
    workflow.refresh_from_db()
    assert workflow.error_workflow_id is None


def test_the_default_error_workflow_is_one_per_organization(admin, api_client, organization):
    first, second = WorkflowFactory(organization=organization), WorkflowFactory(organization=organization)
    elsewhere = WorkflowFactory(is_default_error_workflow=True)

    assert _patch(api_client, first, {"is_default_error_workflow": True}).status_code == 200
    assert _patch(api_client, second, {"is_default_error_workflow": True}).status_code == 200

    defaults = Workflow.objects.filter(is_default_error_workflow=True)
    assert set(defaults.values_list("pk", flat=True)) == {second.pk, elsewhere.pk}


def test_create_with_an_error_workflow_of_another_organization_writes_nothing(admin, api_client, organization):
    from tests.workflows.factories import SIMPLE_DEFINITION

    foreign = WorkflowFactory()
    body = {"name": "New", "definition": SIMPLE_DEFINITION, "error_workflow": str(foreign.pk)}

    response = api_client.post("/api/v1/workflows/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/error_workflow"
    assert not Workflow.objects.filter(name="New").exists()
