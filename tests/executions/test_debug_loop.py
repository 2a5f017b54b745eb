"""The debug loop through real runs: pins in test runs, one node and up to a node, re-runs on either version."""

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.executions.debugging import MSG_NOT_FINISHED
from apps.executions.engine.plans import MSG_NO_INPUT, MSG_NODE_NOT_IN_VERSION, MSG_NOTHING_FAILED, MSG_UNKNOWN_NODE
from apps.executions.models import ExecutionEvent, WorkflowExecution
from apps.executions.services import execution_start
from apps.executions.triggers import execution_wait
from apps.orgs.models import AuditLog
from apps.workflows.choices import TriggerKind
from apps.workflows.services import workflow_create, workflow_update
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.slow

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "first", "type": "test.echo", "config": {"value": "{{ trigger.n }}"}},
        {"id": "second", "type": "test.echo", "config": {"value": {"first": "{{ nodes.first.output.value }}"}}},
        {"id": "third", "type": "test.echo", "config": {"value": "third"}},
    ],
    "edges": [
        {"source": "start", "target": "first"},
        {"source": "first", "target": "second"},
        {"source": "second", "target": "third"},
    ],
}


def gated(path: Path) -> dict:
    """start -> first -> gate (fails while `path` exists) -> last."""
    return {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "first", "type": "test.echo", "config": {"value": "{{ trigger.n }}"}},
            {"id": "gate", "type": "test.gate", "config": {"path": str(path)}},
            {"id": "last", "type": "test.echo", "config": {"value": "last"}},
        ],
        "edges": [
            {"source": "start", "target": "first"},
            {"source": "first", "target": "gate"},
            {"source": "gate", "target": "last"},
        ],
    }


@pytest.fixture
def member(engine_worker):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


def _nodes(body: dict) -> dict:
    return {node["node_id"]: node for node in body["nodes"]}


def _events(execution_id) -> dict[str, list[tuple[str, dict]]]:
    found: dict[str, list[tuple[str, dict]]] = {}
    for event in ExecutionEvent.objects.filter(execution_id=execution_id).order_by("seq"):
        found.setdefault(event.node_id, []).append((event.type, event.data))
    return found


def _execute(client, workflow, body: dict, wait: int = 20):
    return client.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait={wait}", body, format="json")


# --- pins -------------------------------------------------------------------------------------------------


def test_a_test_run_uses_the_pins_and_a_production_run_never_does(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="pins", definition=DEFINITION)
    patched = client.patch(f"/api/v1/workflows/{workflow.pk}/", {"pins": {"first": {"value": "pinned"}}}, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["pins"] == {"first": {"value": "pinned"}}
    assert patched.json()["latest_version"] == workflow.latest_version.number  # pins make no version

    test = _execute(client, workflow, {"input": {"n": 1}, "test": True})
    plain = _execute(client, workflow, {"input": {"n": 1}})
    triggered = execution_wait(
        execution_id=execution_start(workflow=workflow, trigger_kind=TriggerKind.WEBHOOK, trigger_data={"n": 1}).pk,
        timeout=20,
    )

    assert test.status_code == 200, test.json()
    assert test.json()["test_run"] is True and test.json()["status"] == "succeeded"
    nodes = _nodes(test.json())
    assert nodes["first"]["output"] == {"value": "pinned"}
    assert nodes["first"]["started_at"] is None  # never ran
    assert nodes["second"]["output"]["value"] == {"first": "pinned"}
    assert ("node_succeeded", {"pinned": True}) in _events(test.json()["id"])["first"]
    assert _nodes(plain.json())["first"]["output"]["value"] == 1
    assert plain.json()["test_run"] is False
    assert triggered.node_executions.get(node_id="first").output["value"] == 1


def test_a_pinned_trigger_payload_is_the_test_runs_trigger_data_unless_input_is_given(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="pins", definition=DEFINITION)
    client.patch(f"/api/v1/workflows/{workflow.pk}/", {"pins": {"start": {"n": 42}}}, format="json")

    pinned = _execute(client, workflow, {"test": True}).json()
    given = _execute(client, workflow, {"test": True, "input": {"n": 1}}).json()

    assert (pinned["trigger_data"], _nodes(pinned)["first"]["output"]["value"]) == ({"n": 42}, 42)
    assert _nodes(given)["first"]["output"]["value"] == 1


def test_pins_of_another_shape_are_a_400_and_nothing_is_saved(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="pins", definition=DEFINITION)
    url = f"/api/v1/workflows/{workflow.pk}/"

    for pins in ([1, 2], "x", {"": 1}, {"x" * 101: 1}):
        response = client.patch(url, {"pins": pins}, format="json")
        assert response.status_code == 400, pins
        assert response.json()["errors"][0]["path"] == "/pins"
    workflow.refresh_from_db()
    assert workflow.pins == {}


def test_pins_travel_in_the_export_and_back_in_through_the_import(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="pins", definition=DEFINITION)
    client.patch(f"/api/v1/workflows/{workflow.pk}/", {"pins": {"start": {"n": 9}}}, format="json")

    document = client.get(f"/api/v1/workflows/{workflow.pk}/export/").json()
    imported = client.post("/api/v1/workflows/import/", {"document": document}, format="json")

    assert document["pins"] == {"start": {"n": 9}}
    assert imported.status_code == 201, imported.json()
    assert imported.json()["pins"] == {"start": {"n": 9}}


# --- partial runs -------------------------------------------------------------------------------------------


def test_up_to_a_node_runs_its_ancestors_only(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="partial", definition=DEFINITION)

    response = _execute(client, workflow, {"input": {"n": 5}, "run": {"mode": "up_to", "node": "second"}})

    body = response.json()
    assert response.status_code == 200, body
    assert (body["status"], body["test_run"], body["run_mode"], body["run_node_id"]) == (
        "succeeded",
        True,
        "up_to",
        "second",
    )
    nodes = _nodes(body)
    assert {node_id: node["status"] for node_id, node in nodes.items()} == {
        "start": "succeeded",
        "first": "succeeded",
        "second": "succeeded",
        "third": "skipped",
    }
    assert body["output"] == nodes["second"]["output"]
    assert ("node_skipped", {"reason": "outside_run"}) in _events(body["id"])["third"]


def test_one_node_runs_alone_on_its_ancestors_pins_or_last_outputs(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="partial", definition=DEFINITION)
    first_run = _execute(client, workflow, {"input": {"n": 7}}).json()
    client.patch(f"/api/v1/workflows/{workflow.pk}/", {"pins": {"start": {"n": 8}}}, format="json")

    response = _execute(client, workflow, {"run": {"mode": "node", "node": "second"}})

    body = response.json()
    assert response.status_code == 200, body
    nodes = _nodes(body)
    assert {node_id: node["status"] for node_id, node in nodes.items()} == {
        "start": "succeeded",
        "first": "succeeded",
        "second": "succeeded",
        "third": "skipped",
    }
    assert nodes["start"]["output"] == {"n": 8}  # its pin
    assert nodes["first"]["started_at"] is None  # taken over from the last run, not run
    assert nodes["second"]["output"]["value"] == {"first": 7}
    assert body["trigger_data"] == {"n": 8}  # the pinned trigger payload, before the last run's trigger data
    assert ("node_succeeded", {"copied_from": first_run["id"]}) in _events(body["id"])["first"]


def test_one_node_without_input_takes_the_last_runs_trigger_data(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="partial", definition=DEFINITION)
    _execute(client, workflow, {"input": {"n": 7}})

    body = _execute(client, workflow, {"run": {"mode": "node", "node": "first"}}).json()

    assert body["trigger_data"] == {"n": 7}
    assert _nodes(body)["first"]["output"]["value"] == 7


def test_one_node_without_any_input_is_a_400(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="partial", definition=DEFINITION)

    response = _execute(client, workflow, {"run": {"mode": "node", "node": "second"}})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/run/node", "message": MSG_NO_INPUT.format(node_id="second")}]
    assert not WorkflowExecution.objects.filter(workflow=workflow).exists()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"run": {"mode": "node", "node": "nope"}}, "/run/node"),
        ({"run": {"mode": "up_to", "node": "nope"}}, "/run/node"),
        ({"run": {"mode": "all", "node": "second"}}, "/run/mode"),
        ({"run": {"mode": "node"}}, "/run/node"),
        ({"run": {"mode": "node", "node": "second", "extra": 1}}, "/run/extra"),
        ({"run": {"mode": "node", "node": "second"}, "test": False}, "/test"),
        ({"test": "maybe"}, "/test"),
    ],
)
def test_bad_partial_runs_are_a_400_naming_the_field(member, body, path):
    organization, client = member
    workflow = workflow_create(organization=organization, name="partial", definition=DEFINITION)

    response = _execute(client, workflow, body, wait=0)

    assert response.status_code == 400, response.json()
    assert [error["path"] for error in response.json()["errors"]] == [path]
    if "nope" in str(body):
        assert response.json()["errors"][0]["message"] == MSG_UNKNOWN_NODE.format(node_id="nope")
    assert not WorkflowExecution.objects.filter(workflow=workflow).exists()


# --- re-runs ------------------------------------------------------------------------------------------------


def _failed_run(client, workflow) -> dict:
    body = _execute(client, workflow, {"input": {"n": 3}}).json()
    assert body["status"] == "failed", body
    return body


def test_rerun_from_the_failed_node_on_the_latest_version(member, tmp_path):
    organization, client = member
    closed = tmp_path / "closed"
    closed.write_text("")
    workflow = workflow_create(organization=organization, name="rerun", definition=gated(closed))
    failed = _failed_run(client, workflow)
    # The fix: the gate now looks at a file that does not exist.
    workflow_update(workflow=workflow, definition=gated(tmp_path / "open"))

    original = client.post(f"/api/v1/executions/{failed['id']}/rerun/?wait=20", {"from": "failed"}, format="json")
    latest = client.post(
        f"/api/v1/executions/{failed['id']}/rerun/?wait=20", {"from": "gate", "version": "latest"}, format="json"
    )

    assert original.status_code == 200, original.json()
    assert original.json()["status"] == "failed"  # the original version's gate is still closed
    assert (original.json()["version"], original.json()["source_execution"]) == (1, failed["id"])
    assert latest.status_code == 200, latest.json()
    body = latest.json()
    assert (body["status"], body["version"], body["rerun_from"], body["source_execution"]) == (
        "succeeded",
        2,
        "gate",
        failed["id"],
    )
    nodes = _nodes(body)
    assert nodes["first"]["started_at"] is None  # taken over from the failed run
    assert nodes["first"]["output"] == _nodes(failed)["first"]["output"]
    assert nodes["gate"]["output"] == {"passed": True}
    assert nodes["last"]["status"] == "succeeded"
    assert WorkflowExecution.objects.get(pk=failed["id"]).status == "failed"  # the source is left as it was


def test_rerun_from_the_trigger_runs_everything_with_the_same_data(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="rerun", definition=DEFINITION)
    source = _execute(client, workflow, {"input": {"n": 11}, "variables": {"x": 1}}).json()

    response = client.post(f"/api/v1/executions/{source['id']}/rerun/?wait=20", {"from": "trigger"}, format="json")

    body = response.json()
    assert response.status_code == 200, body
    assert body["trigger_data"] == {"n": 11} and body["variables_override"] == {"x": 1}
    audit = AuditLog.objects.get(action="execution.rerun")
    assert (audit.target_id, audit.data["source"], audit.data["from"]) == (body["id"], source["id"], "trigger")
    assert all(node["started_at"] is not None for node in body["nodes"])
    assert _nodes(body)["third"]["status"] == "succeeded"


def test_rerun_from_a_node_takes_over_what_is_upstream(member):
    organization, client = member
    workflow = workflow_create(organization=organization, name="rerun", definition=DEFINITION)
    source = _execute(client, workflow, {"input": {"n": 4}}).json()

    body = client.post(f"/api/v1/executions/{source['id']}/rerun/?wait=20", {"from": "second"}, format="json").json()

    nodes = _nodes(body)
    assert [nodes[node_id]["started_at"] is None for node_id in ("start", "first", "second", "third")] == [
        True,
        True,
        False,
        False,
    ]
    assert nodes["second"]["output"]["value"] == {"first": 4}


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"from": "nope"}, "/from"),
        ({"from": "failed"}, "/from"),
        ({"from": "trigger", "version": "newest"}, "/version"),
        ({}, "/from"),
        ({"from": "trigger", "extra": True}, "/extra"),
    ],
)
def test_bad_reruns_are_a_400_naming_the_field(member, body, path):
    organization, client = member
    workflow = workflow_create(organization=organization, name="rerun", definition=DEFINITION)
    source = _execute(client, workflow, {"input": {"n": 1}}).json()

    response = client.post(f"/api/v1/executions/{source['id']}/rerun/", body, format="json")

    assert response.status_code == 400, response.json()
    assert [error["path"] for error in response.json()["errors"]] == [path]
    messages = {
        "nope": MSG_NODE_NOT_IN_VERSION.format(node_id="nope", number=1),
        "failed": MSG_NOTHING_FAILED,
    }
    if body.get("from") in messages:
        assert response.json()["errors"][0]["message"] == messages[body["from"]]
    assert WorkflowExecution.objects.filter(workflow=workflow).count() == 1


def test_a_node_only_in_the_latest_version_cannot_be_rerun_on_the_original(member, tmp_path):
    organization, client = member
    workflow = workflow_create(organization=organization, name="rerun", definition=DEFINITION)
    source = _execute(client, workflow, {"input": {"n": 1}}).json()
    added = {
        **DEFINITION,
        "nodes": [*DEFINITION["nodes"], {"id": "fourth", "type": "test.echo", "config": {"value": 4}}],
        "edges": [*DEFINITION["edges"], {"source": "third", "target": "fourth"}],
    }
    workflow_update(workflow=workflow, definition=added)
    url = f"/api/v1/executions/{source['id']}/rerun/?wait=20"

    refused = client.post(url, {"from": "fourth"}, format="json")
    accepted = client.post(url, {"from": "fourth", "version": "latest"}, format="json")

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"path": "/from", "message": MSG_NODE_NOT_IN_VERSION.format(node_id="fourth", number=1)}
    ]
    assert accepted.status_code == 200, accepted.json()
    nodes = _nodes(accepted.json())
    assert nodes["fourth"]["output"]["value"] == 4 and nodes["third"]["started_at"] is None


def test_rerun_from_failed_waits_for_the_end_of_the_execution(member, tmp_path):
    organization, client = member
    slow = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "slow", "type": "test.slow", "config": {"seconds": 5}},
        ],
        "edges": [{"source": "start", "target": "slow"}],
    }
    workflow = workflow_create(organization=organization, name="rerun", definition=slow)
    running = _execute(client, workflow, {}, wait=0).json()

    response = client.post(f"/api/v1/executions/{running['id']}/rerun/", {"from": "failed"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/from", "message": MSG_NOT_FINISHED}]
    client.post(f"/api/v1/executions/{running['id']}/cancel/")


def test_rerun_needs_the_execute_permission(member, member_factory):
    organization, client = member
    workflow = workflow_create(organization=organization, name="rerun", definition=DEFINITION)
    source = _execute(client, workflow, {"input": {"n": 1}}).json()
    viewer = APIClient()
    viewer.force_authenticate(member_factory(organization, role="viewer"))
    stranger = APIClient()
    stranger.force_authenticate(member_factory(OrganizationFactory(), role="admin"))

    assert (
        viewer.post(f"/api/v1/executions/{source['id']}/rerun/", {"from": "trigger"}, format="json").status_code == 403
    )
    assert (
        stranger.post(f"/api/v1/executions/{source['id']}/rerun/", {"from": "trigger"}, format="json").status_code
        == 404
    )
    assert WorkflowExecution.objects.filter(workflow=workflow).count() == 1
