"""The specification's execute shape beside ours: `input_data`/`variables`/`async_mode` in, `execution_id`/`status`/
`result` out, at `/workflows/{id}/execute` with and without the trailing slash; our shape unchanged on both paths."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from apps.executions.api.spec_shapes import INPUT_DATA_NOT_OBJECT
from apps.executions.models import WorkflowExecution
from apps.executions.triggers import execution_wait
from apps.workflows.services import workflow_create
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "echo", "type": "test.echo", "config": {"value": {"n": "{{ trigger.n }}", "limit": "{{ vars.limit }}"}}},
    ],
    "edges": [{"source": "start", "target": "echo"}],
    "variables": {"limit": 100},
}


def _member():
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


@pytest.fixture
def member(engine_worker):
    return _member()


@pytest.fixture
def member_without_worker(db):
    return _member()


def _paths(workflow):
    return [f"/api/v1/workflows/{workflow.pk}/execute", f"/api/v1/workflows/{workflow.pk}/execute/"]


@pytest.mark.slow
@pytest.mark.parametrize("slash", [False, True])
def test_the_specifications_shape_waits_for_the_result_and_stores_the_overrides(member, slash):
    organization, client = member
    workflow = workflow_create(organization=organization, name="spec", definition=DEFINITION)
    url = _paths(workflow)[slash]

    response = client.post(url, {"input_data": {"n": 4}, "variables": {"limit": 5}}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"execution_id", "status", "result", "error"}
    assert body["status"] == "succeeded"
    assert body["error"] is None
    execution = WorkflowExecution.objects.get(pk=body["execution_id"])
    assert execution.trigger_data == {"n": 4}
    assert execution.variables_override == {"limit": 5}
    assert body["result"] == execution.output
    assert execution.node_executions.get(node_id="echo").output["value"] == {"n": 4, "limit": 5}


@pytest.mark.slow
def test_async_mode_answers_at_once_with_the_queued_execution(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="spec", definition=DEFINITION)

    response = client.post(_paths(workflow)[0], {"input_data": {"n": 1}, "async_mode": True}, format="json")

    assert response.status_code in (200, 202), response.json()
    body = response.json()
    assert set(body) == {"execution_id", "status", "result", "error"}
    if response.status_code == 202:
        assert body["status"] in ("pending", "running")
        assert body["result"] is None
    finished = execution_wait(execution_id=body["execution_id"], timeout=20)
    assert finished.status == "succeeded"
    assert finished.variables_override is None


@pytest.mark.slow
def test_our_shape_still_answers_the_detail_on_both_paths(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="ours", definition=DEFINITION)
    for url in _paths(workflow):
        response = client.post(f"{url}?wait=20", {"input": {"n": 2}, "variables": {"limit": 3}}, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["variables_override"] == {"limit": 3}
        assert "nodes" in response.json() and "execution_id" not in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"input_data": [1, 2]}, "input_data", INPUT_DATA_NOT_OBJECT),
        ({"input_data": "text"}, "input_data", INPUT_DATA_NOT_OBJECT),
        ({"input_data": {}, "variables": [1]}, "variables", None),
        ({"async_mode": "perhaps"}, "async_mode", None),
        ({"input_data": {}, "input": {}}, "input", None),
        ({"async_mode": False, "test": True}, "test", None),
    ],
)
def test_bad_specification_bodies_are_400_naming_the_field_and_start_nothing(
    member_without_worker, body, field, message
):
    organization, client = member_without_worker
    workflow = workflow_create(organization=organization, name="bad", definition=DEFINITION)
    for url in _paths(workflow):
        response = client.post(url, body, format="json")
        assert response.status_code == 400, response.json()
        errors = response.json()["errors"]
        assert [error["path"] for error in errors] == [f"/{field}"], errors
        if message:
            assert errors[0]["message"] == message
    assert not WorkflowExecution.objects.exists()


def test_the_openapi_document_lists_both_paths_and_both_shapes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in ("/api/v1/workflows/{id}/execute", "/api/v1/workflows/{id}/execute/"):
        operation = schema["paths"][path]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ExecuteRequest"
        }
    components = schema["components"]["schemas"]
    request_shapes = {one["$ref"].rsplit("/", 1)[1] for one in components["ExecuteRequest"]["oneOf"]}
    assert request_shapes == {"ExecuteInputRequest", "SpecExecuteInputRequest"}
    result_shapes = {one["$ref"].rsplit("/", 1)[1] for one in components["ExecuteResult"]["oneOf"]}
    assert result_shapes == {"ExecutionDetail", "SpecExecuteOutput"}
    assert set(components["SpecExecuteInputRequest"]["properties"]) == {"input_data", "variables", "async_mode"}
    assert set(components["SpecExecuteOutput"]["properties"]) == {"execution_id", "status", "result", "error"}
