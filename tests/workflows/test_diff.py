"""Version diffs: the pure comparison, and the endpoint comparing two versions of a workflow."""

import pytest
from rest_framework.test import APIClient

from apps.workflows.diff import definition_diff, json_diff
from apps.workflows.services import workflow_create, workflow_update
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

BEFORE = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "check", "type": "if_else", "config": {"condition": "{{ trigger.a }}"}, "position": {"x": 1, "y": 0}},
        {"id": "old", "type": "log", "config": {"message": "old"}},
    ],
    "edges": [{"source": "start", "target": "check"}, {"source": "check", "source_port": "true", "target": "old"}],
    "variables": {"unit": "EUR", "gone": 1},
}
AFTER = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 5, "y": 5}},
        {"id": "check", "type": "if_else", "config": {"condition": "{{ trigger.b }}"}, "position": {"x": 1, "y": 0}},
        {"id": "new", "type": "log", "config": {"message": "new"}},
    ],
    "edges": [{"source": "start", "target": "check"}, {"source": "check", "source_port": "true", "target": "new"}],
    "variables": {"unit": "USD", "limit": 5},
    "settings": {"timezone": "UTC"},
}


def test_the_diff_lists_nodes_edges_variables_and_settings():
    diff = definition_diff(BEFORE, AFTER)

    assert diff["nodes"] == {
        "added": ["new"],
        "removed": ["old"],
        "moved": ["start"],
        "changed": [
            {
                "id": "check",
                "type": "if_else",
                "changes": [
                    {"op": "replace", "path": "/config/condition", "from": "{{ trigger.a }}", "to": "{{ trigger.b }}"}
                ],
            }
        ],
    }
    assert diff["edges"] == {
        "added": [{"source": "check", "source_port": "true", "target": "new", "target_port": "main"}],
        "removed": [{"source": "check", "source_port": "true", "target": "old", "target_port": "main"}],
    }
    assert diff["variables"] == {
        "added": {"limit": 5},
        "removed": {"gone": 1},
        "changed": {"unit": {"from": "EUR", "to": "USD"}},
    }
    assert diff["settings"] == {
        "changed": [{"op": "add", "path": "/settings", "from": None, "to": {"timezone": "UTC"}}]
    }


def test_json_diff_escapes_pointers_and_compares_lists_per_index():
    assert json_diff({"a/b": [1, 2]}, {"a/b": [1, 3, 4]}) == [
        {"op": "replace", "path": "/a~1b/1", "from": 2, "to": 3},
        {"op": "add", "path": "/a~1b/2", "from": None, "to": 4},
    ]
    assert json_diff({"x": 1}, {"x": True}) == [{"op": "replace", "path": "/x", "from": 1, "to": True}]
    assert definition_diff(BEFORE, BEFORE)["nodes"]["changed"] == []


@pytest.mark.django_db
def test_the_endpoint_compares_two_versions_and_404s_for_unknown_ones():
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="viewer")
    workflow = workflow_create(organization=organization, name="diff", definition=_valid(BEFORE))
    workflow_update(workflow=workflow, definition=_valid(AFTER))
    client = APIClient()
    client.force_authenticate(user)

    response = client.get(f"/api/v1/workflows/{workflow.pk}/versions/1/diff/2/")
    missing = client.get(f"/api/v1/workflows/{workflow.pk}/versions/1/diff/9/")
    stranger = APIClient()
    stranger.force_authenticate(UserFactory())

    assert response.status_code == 200, response.json()
    assert (response.json()["from_version"], response.json()["to_version"]) == (1, 2)
    assert response.json()["nodes"]["added"] == ["new"]
    assert missing.status_code == 404
    assert stranger.get(f"/api/v1/workflows/{workflow.pk}/versions/1/diff/2/").status_code == 404


def _valid(definition: dict) -> dict:
    """The definition without what a real version cannot hold (unknown top-level keys stay: settings)."""
    return {key: value for key, value in definition.items() if key != "settings"}
