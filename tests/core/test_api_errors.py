"""The one error shape, and bad input answered with a clear 4xx."""

import json
import uuid

import pytest
from django.test import override_settings

from apps.core.api.exceptions import BODY_TOO_LARGE, VALIDATION_FAILED, flatten_errors
from apps.core.api.serializers import UNKNOWN_FIELD

pytestmark = pytest.mark.django_db


def _shape(body: dict) -> None:
    assert set(body) == {"type", "detail", "errors"}
    assert all(set(item) == {"path", "message"} for item in body["errors"])


@pytest.fixture
def client(api_client, user):
    api_client.force_authenticate(user)
    return api_client


def test_malformed_json_is_a_400_parse_error(client):
    response = client.post("/api/v1/workflows/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    _shape(response.json())
    assert response.json()["type"] == "parse_error"


def test_wrong_content_type_is_a_415(client):
    response = client.post("/api/v1/workflows/", data="<xml/>", content_type="application/xml")
    assert response.status_code == 415
    _shape(response.json())
    assert response.json()["type"] == "unsupported_media_type"


@override_settings(CONCERTMASTER_API_MAX_BODY_BYTES=100)
def test_oversized_body_is_a_413(client):
    body = json.dumps({"name": "x" * 200, "definition": {}})
    response = client.post("/api/v1/workflows/", data=body, content_type="application/json")
    assert response.status_code == 413
    _shape(response.json())
    assert response.json()["detail"] == BODY_TOO_LARGE.format(limit=100)


def test_unknown_fields_are_refused_by_name(client, organization):
    body = {"name": "w", "definition": {"nodes": [], "edges": []}, "colour": "red"}
    response = client.post("/api/v1/workflows/", data=body, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert body["detail"] == VALIDATION_FAILED
    assert {"path": "/colour", "message": UNKNOWN_FIELD} in body["errors"]


def test_bad_uuid_in_the_url_is_a_404(client):
    response = client.get("/api/v1/workflows/not-a-uuid/")
    assert response.status_code == 404
    _shape(response.json())
    assert response.json()["type"] == "not_found"


def test_missing_object_is_a_404_in_the_error_shape(client):
    response = client.get(f"/api/v1/workflows/{uuid.uuid4()}/")
    assert response.status_code == 404
    _shape(response.json())


def test_unauthenticated_is_a_401(api_client):
    response = api_client.get("/api/v1/workflows/")
    assert response.status_code == 401
    _shape(response.json())
    assert response.json()["type"] == "not_authenticated"


def test_wrong_method_is_a_405(client):
    response = client.put("/api/v1/audit-log/", data={}, format="json")
    assert response.status_code == 405
    _shape(response.json())


def test_bad_filter_value_is_a_400(client):
    response = client.get("/api/v1/executions/", {"status": "exploded"})
    assert response.status_code == 400
    _shape(response.json())
    assert response.json()["errors"][0]["path"] == "/status"


def test_bad_cursor_is_a_400(client):
    response = client.get("/api/v1/workflows/", {"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/cursor"


def test_flatten_errors_builds_json_pointers():
    detail = {"definition": {"nodes": [{}, {"type": ["Unknown."]}]}, "non_field_errors": ["Bad."], "a/b": ["c"]}
    assert flatten_errors(detail) == [
        {"path": "/definition/nodes/1/type", "message": "Unknown."},
        {"path": "", "message": "Bad."},
        {"path": "/a/b", "message": "c"},
    ]


def test_unknown_api_url_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    _shape(response.json())


def test_unknown_non_api_url_stays_html(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
