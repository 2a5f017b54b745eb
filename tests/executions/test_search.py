"""Execution search: by a JSON path in trigger data, node output and custom data, by failed node, error text and
duration; custom data from ctx.set_custom_data and the set_execution_data node; saved filters per person."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.executions.api.filters import MSG_NEEDED
from apps.executions.execution_data import MSG_BAD_KEY, MSG_BAD_VALUE, MSG_TOO_MANY_KEYS, execution_custom_data_set
from apps.executions.models import SavedExecutionFilter, WorkflowExecution
from apps.executions.saved_filters import MSG_UNKNOWN_PARAMETER
from apps.executions.search import MSG_BAD_PATH
from apps.nodes.base import NodeError
from apps.workflows.services import workflow_create
from tests.executions.factories import NodeExecutionFactory, WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

URL = "/api/v1/executions/"


@pytest.fixture
def member(db):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, user, client


@pytest.fixture
def executions(member):
    organization, _, _ = member
    workflow = WorkflowFactory(organization=organization)
    now = timezone.now()

    def make(name, **fields):
        execution = WorkflowExecutionFactory(workflow=workflow, correlation_id=name, **fields)
        return execution

    ada = make(
        "ada",
        trigger_data={"body": {"customer": "ada@example.com", "amount": 120, "tags": ["vip"]}},
        custom_data={"order": "A-1", "priority": 2},
        status="failed",
        error={"message": "The gate is closed", "node_id": "gate"},
        started_at=now - timedelta(seconds=5),
        finished_at=now,
    )
    bob = make(
        "bob",
        trigger_data={"body": {"customer": "bob@example.com", "amount": "120"}},
        custom_data={"order": "B-2"},
        status="succeeded",
        started_at=now - timedelta(milliseconds=200),
        finished_at=now,
    )
    NodeExecutionFactory(execution=ada, node_id="gate", status="failed", output=None)
    NodeExecutionFactory(execution=ada, node_id="lookup", status="succeeded", output={"status": "gold", "n": 1})
    NodeExecutionFactory(execution=bob, node_id="gate", status="succeeded", output={"passed": True})
    NodeExecutionFactory(execution=bob, node_id="lookup", status="succeeded", output={"status": "silver", "n": 2})
    return ada, bob


def _names(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return sorted(item["correlation_id"] for item in response.json()["results"])


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"trigger_path": "/body/customer", "trigger_value": "ada@example.com"}, ["ada"]),
        ({"trigger_path": "/body/amount", "trigger_value": "120"}, ["ada"]),  # the number, as JSON
        ({"trigger_path": "/body/amount", "trigger_value": '"120"'}, ["bob"]),  # the string
        ({"trigger_path": "/body/customer", "trigger_value": "EXAMPLE", "trigger_op": "contains"}, ["ada", "bob"]),
        ({"trigger_path": "/body/nothing", "trigger_value": "x"}, []),
        ({"output_node": "lookup", "output_path": "/status", "output_value": "gold"}, ["ada"]),
        ({"output_node": "lookup", "output_path": "/status", "output_value": "ilv", "output_op": "contains"}, ["bob"]),
        ({"output_node": "gate", "output_path": "/status", "output_value": "gold"}, []),
        ({"custom_key": "order", "custom_value": "B-2"}, ["bob"]),
        ({"custom_key": "priority", "custom_value": "2"}, ["ada"]),
        ({"custom_key": "order", "custom_value": "-", "custom_op": "contains"}, ["ada", "bob"]),
        ({"failed_node": "gate"}, ["ada"]),
        ({"failed_node": "lookup"}, []),
        ({"error_contains": "GATE IS"}, ["ada"]),
        ({"duration_min_ms": "1000"}, ["ada"]),
        ({"duration_max_ms": "1000"}, ["bob"]),
        ({"failed_node": "gate", "custom_key": "order", "custom_value": "A-1", "duration_min_ms": "10"}, ["ada"]),
    ],
)
def test_search_by_data(member, executions, query, found):
    _, _, client = member
    assert _names(client.get(URL, query)) == found


@pytest.mark.parametrize(
    ("query", "path", "message"),
    [
        ({"trigger_path": "body", "trigger_value": "x"}, "/trigger_path", MSG_BAD_PATH),
        ({"trigger_path": "/body//x", "trigger_value": "x"}, "/trigger_path", MSG_BAD_PATH),
        ({"trigger_path": "/body"}, "/trigger_value", MSG_NEEDED.format(names="trigger_path, trigger_value")),
        (
            {"output_path": "/x", "output_value": "1"},
            "/output_node",
            MSG_NEEDED.format(names="output_node, output_path, output_value"),
        ),
        ({"custom_key": "order"}, "/custom_value", MSG_NEEDED.format(names="custom_key, custom_value")),
        ({"trigger_path": "/a", "trigger_value": "1", "trigger_op": "like"}, "/trigger_op", None),
        ({"duration_min_ms": "-1"}, "/duration_min_ms", None),
    ],
)
def test_bad_searches_are_a_400_naming_the_parameter(member, executions, query, path, message):
    _, _, client = member
    response = client.get(URL, query)
    assert response.status_code == 400, response.json()
    assert [error["path"] for error in response.json()["errors"]] == [path]
    if message:
        assert response.json()["errors"][0]["message"] == message


def test_another_organizations_executions_are_not_found_by_data(member, executions):
    stranger = UserFactory()
    MembershipFactory(user=stranger, organization=OrganizationFactory(), role="owner")
    client = APIClient()
    client.force_authenticate(stranger)
    assert _names(client.get(URL, {"custom_key": "order", "custom_value": "A-1"})) == []


# --- custom data ----------------------------------------------------------------------------------------------


def test_custom_data_merges_keys_and_null_removes_one(member, executions):
    ada, _ = executions
    execution_custom_data_set("region", "eu", execution_id=str(ada.pk))
    execution_custom_data_set("priority", None, execution_id=str(ada.pk))
    assert WorkflowExecution.objects.get(pk=ada.pk).custom_data == {"order": "A-1", "region": "eu"}


@pytest.mark.parametrize(("key", "value"), [("", 1), ("k" * 51, 1), ("k", "v" * 256), ("k", {"a": 1}), ("k", [1])])
def test_bad_custom_data_is_a_node_error(member, executions, key, value):
    ada, _ = executions
    with pytest.raises(NodeError) as error:
        execution_custom_data_set(key, value, execution_id=str(ada.pk))
    assert error.value.retryable is False
    assert error.value.message in (MSG_BAD_KEY, MSG_BAD_VALUE)


def test_custom_data_is_bounded_in_keys(member, executions):
    ada, _ = executions
    for index in range(18):
        execution_custom_data_set(f"k{index}", index, execution_id=str(ada.pk))
    with pytest.raises(NodeError, match=MSG_TOO_MANY_KEYS):
        execution_custom_data_set("one_more", 1, execution_id=str(ada.pk))


@pytest.mark.slow
def test_the_set_execution_data_node_attaches_searchable_data(engine_worker):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "tag", "type": "set_execution_data", "config": {"data": {"customer": "{{ trigger.email }}"}}},
        ],
        "edges": [{"source": "start", "target": "tag"}],
    }
    workflow = workflow_create(organization=organization, name="tags", definition=definition)

    body = client.post(
        f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {"email": "c@x.io"}}, format="json"
    )

    assert body.json()["custom_data"] == {"customer": "c@x.io"}, body.json()
    found = client.get(URL, {"custom_key": "customer", "custom_value": "c@x.io"}).json()["results"]
    assert [item["id"] for item in found] == [body.json()["id"]]


# --- saved filters --------------------------------------------------------------------------------------------


def test_a_saved_filter_is_applied_with_saved_and_explicit_parameters_win(member, executions):
    _, _, client = member
    created = client.post(
        "/api/v1/execution-filters/",
        {"name": "failed at the gate", "query": {"failed_node": "gate", "status": "failed"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    saved_id = created.json()["id"]

    assert _names(client.get(URL, {"saved": saved_id})) == ["ada"]
    assert _names(client.get(URL, {"saved": saved_id, "failed_node": "lookup"})) == []
    assert [item["name"] for item in client.get("/api/v1/execution-filters/").json()["results"]] == [
        "failed at the gate"
    ]


def test_saved_filters_are_their_persons_own(member, executions):
    organization, user, client = member
    saved = SavedExecutionFilter.objects.create(organization=organization, user=user, name="mine", query={})
    colleague = UserFactory()
    MembershipFactory(user=colleague, organization=organization, role="admin")
    other = APIClient()
    other.force_authenticate(colleague)

    assert other.get(f"/api/v1/execution-filters/{saved.pk}/").status_code == 404
    assert other.get(URL, {"saved": str(saved.pk)}).status_code == 404
    assert other.delete(f"/api/v1/execution-filters/{saved.pk}/").status_code == 404
    assert client.delete(f"/api/v1/execution-filters/{saved.pk}/").status_code == 204


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "x", "query": {"colour": "red"}}, "/query/colour"),
        ({"name": "x", "query": {"saved": "a"}}, "/query/saved"),
        ({"name": "x", "query": {"status": "sideways"}}, "/query/status"),
        ({"name": "x", "query": ["status"]}, "/query"),
        ({"query": {}}, "/name"),
    ],
)
def test_bad_saved_filters_are_a_400_naming_the_field(member, body, path):
    _, _, client = member
    response = client.post("/api/v1/execution-filters/", body, format="json")
    assert response.status_code == 400, response.json()
    assert [error["path"] for error in response.json()["errors"]] == [path]
    if path == "/query/colour":
        assert response.json()["errors"][0]["message"] == MSG_UNKNOWN_PARAMETER
    assert not SavedExecutionFilter.objects.exists()
