"""Drafts, problems and concurrent edits over the workflow API (issue 12, items 3, 4 and 8b)."""

import copy

import pytest

from apps.executions.models import WorkflowExecution
from apps.workflows import graph
from apps.workflows.api.views import IF_MATCH_INVALID, REVISION_MISMATCH
from apps.workflows.models import Workflow
from apps.workflows.services import EXPORT_FORMAT, WORKFLOW_STALE, workflow_update
from tests.workflows.factories import SIMPLE_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(api_client, organization, member_factory):
    user = member_factory(organization, "member")
    api_client.force_authenticate(user)
    return user


@pytest.fixture
def workflow(organization):
    return WorkflowFactory(organization=organization)


def _definition(**changes) -> dict:
    return {**copy.deepcopy(SIMPLE_DEFINITION), **changes}


def _broken() -> dict:
    """A half-built graph: the log node is not connected yet, and reads a node that does not exist."""
    definition = _definition(edges=[])
    definition["nodes"][1]["config"] = {"message": "{{ nodes.nope.output.status }}"}
    return definition


def _detail(workflow) -> str:
    return f"/api/v1/workflows/{workflow.pk}/"


# --- drafts ------------------------------------------------------------------------------------------------


def test_an_invalid_definition_is_saved_as_a_draft_with_its_problems(member, api_client):
    response = api_client.post("/api/v1/workflows/", {"name": "Half built", "definition": _broken()}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["is_valid"] is False
    assert {(p["path"], p["code"]) for p in body["problems"]} == {
        ("/nodes/1", graph.UNREACHABLE_NODE),
        ("/nodes/1/config/message", graph.UNKNOWN_NODE_REFERENCE),
    }
    assert all(set(p) == {"path", "message", "code"} for p in body["problems"])
    assert body["latest_version"] is None  # a draft is not a version
    assert Workflow.objects.get(pk=body["id"]).definition == _broken()


def test_a_draft_patch_keeps_the_latest_version_and_a_valid_one_makes_a_version(member, api_client, workflow):
    response = api_client.patch(_detail(workflow), {"definition": _broken()}, format="json")

    assert response.status_code == 200, response.json()
    assert (response.json()["is_valid"], response.json()["latest_version"]) == (False, 1)
    assert workflow.versions.count() == 1
    fixed = _definition()
    fixed["nodes"][1]["config"] = {"message": "{{ nodes.start.output }}"}

    response = api_client.patch(_detail(workflow), {"definition": fixed}, format="json")

    assert (response.json()["is_valid"], response.json()["problems"], response.json()["latest_version"]) == (
        True,
        [],
        2,
    )
    assert workflow.versions.get(number=2).definition == fixed


def test_what_is_not_a_definition_is_still_refused(member, api_client, workflow):
    for definition, path in (
        ({"nodes": "x", "edges": []}, "/definition/nodes"),
        ({"nodes": [{"type": "log"}], "edges": []}, "/definition/nodes/0/id"),
        ({"nodes": [], "edges": [], "variables": [1]}, "/definition/variables"),
        ({"nodes": [{"id": "a", "type": "manual", "config": "x"}], "edges": []}, "/definition/nodes/0/config"),
    ):
        response = api_client.patch(_detail(workflow), {"definition": definition}, format="json")
        assert response.status_code == 400, definition
        assert [e["path"] for e in response.json()["errors"]] == [path]
        assert [p["path"] for p in response.json()["problems"]] == [path.removeprefix("/definition")]
    workflow.refresh_from_db()
    assert (workflow.definition, workflow.revision) == (SIMPLE_DEFINITION, 1)


def test_an_invalid_draft_cannot_be_activated_or_run(member, api_client, workflow):
    api_client.patch(_detail(workflow), {"definition": _broken()}, format="json")

    for action in ("activate", "execute"):
        response = api_client.post(f"{_detail(workflow)}{action}/", {}, format="json")
        assert response.status_code == 400, action
        assert "/nodes/1/config/message" in [p["path"] for p in response.json()["problems"]]
        assert "/definition/nodes/1" in [e["path"] for e in response.json()["errors"]]
    workflow.refresh_from_db()
    assert workflow.status == "draft"
    assert not WorkflowExecution.objects.filter(workflow=workflow).exists()


def test_get_shows_the_problems_of_the_working_copy(member, api_client, workflow):
    workflow_update(workflow=workflow, definition=_definition(edges=[]))

    body = api_client.get(_detail(workflow)).json()

    assert body["is_valid"] is False
    assert body["problems"] == [
        {"path": "/nodes/1", "message": graph.MSG_UNREACHABLE.format(id="log"), "code": graph.UNREACHABLE_NODE}
    ]


# --- revisions, If-Match, 409 ------------------------------------------------------------------------------


def test_get_returns_the_revision_and_its_etag(member, api_client, workflow):
    response = api_client.get(_detail(workflow))

    assert response.json()["revision"] == 1
    assert response["ETag"] == '"1"'


def test_every_save_bumps_the_revision_valid_or_not(member, api_client, workflow):
    first = api_client.patch(_detail(workflow), {"name": "Renamed"}, format="json", HTTP_IF_MATCH='"1"')
    second = api_client.patch(_detail(workflow), {"definition": _broken()}, format="json", HTTP_IF_MATCH='"2"')

    assert (first.status_code, first.json()["revision"], first["ETag"]) == (200, 2, '"2"')
    assert (second.status_code, second.json()["revision"], second["ETag"]) == (200, 3, '"3"')


def test_a_save_based_on_an_old_revision_is_a_409(member, api_client, workflow):
    workflow_update(workflow=workflow, name="Saved by someone else")  # revision 2

    for kwargs in ({"HTTP_IF_MATCH": '"1"'}, {"HTTP_IF_MATCH": 'W/"1"'}, {}):
        body = {"name": "Mine"} if kwargs else {"name": "Mine", "revision": 1}
        response = api_client.patch(_detail(workflow), body, format="json", **kwargs)
        assert response.status_code == 409
        assert response.json() == {
            "type": "conflict",
            "detail": WORKFLOW_STALE.format(expected=1, current=2),
            "errors": [],
            "current_revision": 2,
        }
    response = api_client.put(
        _detail(workflow), {"name": "Mine", "definition": _definition()}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 409
    workflow.refresh_from_db()
    assert (workflow.name, workflow.revision) == ("Saved by someone else", 2)


def test_without_a_revision_the_save_is_accepted(member, api_client, workflow):
    workflow_update(workflow=workflow, name="Saved by someone else")

    response = api_client.patch(_detail(workflow), {"name": "Mine"}, format="json")

    assert (response.status_code, response.json()["revision"]) == (200, 3)


def test_a_malformed_if_match_or_a_disagreeing_revision_is_a_400(member, api_client, workflow):
    response = api_client.patch(_detail(workflow), {"name": "x"}, format="json", HTTP_IF_MATCH="yesterday")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/If-Match", "message": IF_MATCH_INVALID}]

    response = api_client.patch(_detail(workflow), {"name": "x", "revision": 2}, format="json", HTTP_IF_MATCH='"1"')
    assert response.json()["errors"] == [{"path": "/revision", "message": REVISION_MISMATCH}]


# --- variables live in the definition -----------------------------------------------------------------------


def test_the_api_has_no_top_level_variables(member, api_client, workflow):
    body = api_client.get(_detail(workflow)).json()
    assert "variables" not in body

    response = api_client.patch(_detail(workflow), {"variables": {"x": 1}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/variables"


def test_an_old_export_with_top_level_variables_is_imported_into_the_definition(member, api_client, organization):
    document = {
        "format": EXPORT_FORMAT,
        "name": "Old export",
        "definition": _definition(variables={"threshold": 100, "kept": True}),
        "variables": {"threshold": 5},
        "triggers": [],
    }

    response = api_client.post("/api/v1/workflows/import/", {"document": document}, format="json")

    assert response.status_code == 201, response.json()
    workflow = Workflow.objects.get(pk=response.json()["id"])
    assert workflow.definition["variables"] == {"threshold": 5, "kept": True}
    assert workflow.latest_version.definition["variables"] == {"threshold": 5, "kept": True}
    export = api_client.get(f"{_detail(workflow)}export/").json()
    assert "variables" not in export
    assert export["definition"]["variables"] == {"threshold": 5, "kept": True}
