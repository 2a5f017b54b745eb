"""An expression nested too deeply for Jinja's parser is a problem at its field's pointer when a workflow is saved
or validated, not a server error."""

import pytest

from apps.nodes.expressions import INVALID_SYNTAX, NESTED_TOO_DEEPLY

pytestmark = pytest.mark.django_db

DEEP = "{{ " + "(" * 70 + "1" + ")" * 70 + " }}"


def _definition(value: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "calc", "type": "set", "config": {"values": {"x": value}}},
        ],
        "edges": [{"source": "start", "target": "calc"}],
    }


@pytest.mark.parametrize("depth", [70, 1000])
def test_saving_a_deeply_nested_expression_reports_it_at_its_pointer(api_client, user, organization, depth):
    api_client.force_authenticate(user)
    value = "{{ " + "(" * depth + "1" + ")" * depth + " }}"
    body = {"organization": str(organization.pk), "name": "deep", "definition": _definition(value)}
    response = api_client.post("/api/v1/workflows/", body, format="json")
    assert response.status_code in (201, 400), response.content
    text = response.content.decode()
    assert INVALID_SYNTAX.format(reason=NESTED_TOO_DEEPLY) in text
    assert "/nodes/1/config/values/x" in text
