"""Executions over the API: list filters, detail with nodes, events since a sequence, control verbs, execute."""

import pytest
from guardian.shortcuts import assign_perm

from apps.executions.models import WorkflowExecution
from apps.executions.services import execution_start
from apps.orgs.models import AuditLog
from tests.executions.factories import ExecutionEventFactory, NodeExecutionFactory, WorkflowExecutionFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_role(api_client, organization, member_factory):
    def login(role):
        user = member_factory(organization, role)
        api_client.force_authenticate(user)
        return user

    return login


@pytest.fixture
def workflow(organization):
    return WorkflowFactory(organization=organization)


def test_list_filters_by_status_workflow_trigger_and_dates(as_role, api_client, workflow, organization):
    as_role("viewer")
    other = WorkflowFactory(organization=organization)
    done = WorkflowExecutionFactory(workflow=workflow, status="succeeded", trigger_kind="webhook")
    WorkflowExecutionFactory(workflow=workflow, status="failed")
    WorkflowExecutionFactory(workflow=other, status="succeeded")

    def ids(**params):
        return {e["id"] for e in api_client.get("/api/v1/executions/", params).json()["results"]}

    assert len(ids()) == 3
    assert len(ids(status="succeeded")) == 2
    assert ids(status="succeeded", workflow=str(workflow.pk)) == {str(done.pk)}
    assert ids(trigger="webhook") == {str(done.pk)}
    assert ids(created_after="2999-01-01T00:00:00Z") == set()
    assert len(ids(created_before="2999-01-01T00:00:00Z")) == 3
    nested = api_client.get(f"/api/v1/workflows/{workflow.pk}/executions/").json()["results"]
    assert len(nested) == 2


def test_detail_has_every_node_execution(as_role, api_client, workflow):
    as_role("viewer")
    execution = WorkflowExecutionFactory(workflow=workflow)
    NodeExecutionFactory(execution=execution, node_id="start", status="succeeded", attempt=1, output={"x": 1})
    NodeExecutionFactory(execution=execution, node_id="log", status="failed", error={"message": "boom"})
    body = api_client.get(f"/api/v1/executions/{execution.pk}/").json()
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert nodes["start"]["output"] == {"x": 1}
    assert nodes["start"]["attempt"] == 1
    assert nodes["log"]["error"] == {"message": "boom"}
    assert {"started_at", "finished_at", "duration_ms", "input"} <= set(nodes["log"])


def test_events_since_a_sequence(as_role, api_client, workflow):
    as_role("viewer")
    execution = WorkflowExecutionFactory(workflow=workflow)
    for seq in (1, 2, 3):
        ExecutionEventFactory(execution=execution, seq=seq)
    response = api_client.get(f"/api/v1/executions/{execution.pk}/events/", {"since": 1})
    assert [e["seq"] for e in response.json()] == [2, 3]
    assert api_client.get(f"/api/v1/executions/{execution.pk}/events/", {"since": -1}).status_code == 400
    assert api_client.get(f"/api/v1/executions/{execution.pk}/events/", {"since": "x"}).status_code == 400


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 200), ("admin", 200), ("owner", 200)])
def test_cancel_needs_execute_permission(as_role, api_client, workflow, role, expected):
    as_role(role)
    execution = WorkflowExecutionFactory(workflow=workflow, status="running")
    response = api_client.post(f"/api/v1/executions/{execution.pk}/cancel/")
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["status"] == "cancelled"
        assert AuditLog.objects.filter(action="execution.cancel", target_id=str(execution.pk)).exists()


def test_invalid_transition_is_409(as_role, api_client, workflow):
    as_role("member")
    execution = WorkflowExecutionFactory(workflow=workflow, status="succeeded")
    response = api_client.post(f"/api/v1/executions/{execution.pk}/pause/")
    assert response.status_code == 409
    assert response.json()["type"] == "invalid_transition"


def test_pause_then_resume(as_role, api_client, workflow):
    as_role("member")
    execution = execution_start(workflow=workflow)
    assert api_client.post(f"/api/v1/executions/{execution.pk}/pause/").json()["status"] == "paused"
    assert api_client.post(f"/api/v1/executions/{execution.pk}/pause/").status_code == 409
    assert api_client.post(f"/api/v1/executions/{execution.pk}/resume/").json()["status"] == "running"


def test_approve_needs_a_node_id(as_role, api_client, workflow):
    as_role("member")
    execution = WorkflowExecutionFactory(workflow=workflow, status="running")
    response = api_client.post(f"/api/v1/executions/{execution.pk}/approve/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/node_id"
    response = api_client.post(f"/api/v1/executions/{execution.pk}/reject/", {"node_id": "nope"}, format="json")
    assert 400 <= response.status_code < 500


def test_execute_starts_an_execution_and_answers_202(as_role, api_client, workflow):
    user = as_role("member")
    response = api_client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {"input": {"n": 1}}, format="json")
    assert response.status_code == 202
    execution = WorkflowExecution.objects.get(pk=response.json()["id"])
    assert execution.trigger_data == {"n": 1}
    assert execution.triggered_by == user
    assert execution.trigger_kind == "manual"
    assert AuditLog.objects.filter(action="workflow.execute").exists()


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 202)])
def test_execute_needs_execute_permission(as_role, api_client, workflow, role, expected):
    as_role(role)
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {}, format="json").status_code == expected


def test_shared_execute_permission_lets_a_viewer_run_and_retry(as_role, api_client, workflow):
    viewer = as_role("viewer")
    assign_perm("execute_workflow", viewer, workflow)
    assert api_client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {}, format="json").status_code == 202
    failed = WorkflowExecutionFactory(workflow=workflow, status="failed")
    assert api_client.post(f"/api/v1/executions/{failed.pk}/retry/").status_code != 403


def test_execute_bad_input(as_role, api_client, workflow):
    as_role("member")
    url = f"/api/v1/workflows/{workflow.pk}/execute/"
    assert api_client.post(url + "?wait=-1", {}, format="json").status_code == 400
    assert api_client.post(url + "?wait=abc", {}, format="json").status_code == 400
    assert api_client.post(url, {"inputs": {}}, format="json").status_code == 400
    assert api_client.post(url, [1, 2], format="json").status_code == 400


def test_api_key_executes_as_api_trigger(api_client, organization, workflow):
    from apps.orgs.services import api_key_create

    _, raw = api_key_create(organization=organization, name="ci")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {}, format="json")
    assert response.status_code == 202
    assert response.json()["trigger_kind"] == "api"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("8603-08-09T12:33:55-16:31", 200), ("9999-12-31T23:59:59-12:00", 400), ("not-a-date", 400)],
)
def test_date_filters_compare_in_utc_and_refuse_the_unrepresentable(as_role, api_client, value, expected):
    """An offset PostgreSQL would refuse is converted to UTC; a date past year 9999 in UTC is a 400."""
    as_role("viewer")
    assert api_client.get("/api/v1/executions/", {"created_before": value}).status_code == expected
