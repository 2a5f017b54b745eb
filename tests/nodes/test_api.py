"""The node-types API: list with filters, detail, JSON Schema, validation with pointers, and ETag caching."""

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from apps.nodes.api.views import JSON_SCHEMA_DIALECT, NODE_TYPE_DISABLED
from apps.nodes.models import NodeType
from apps.nodes.registry import registry
from apps.nodes.services import node_type_set_enabled

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/node-types/"


@pytest.fixture
def api(client, user):
    client.force_login(user)
    return client


def test_anonymous_callers_are_refused(client):
    assert client.get(LIST_URL).status_code in (401, 403)
    assert client.post(f"{LIST_URL}set/validate/", {"config": {}}, content_type="application/json").status_code in (
        401,
        403,
    )


def test_the_list_holds_every_type_in_palette_order(api, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):  # session, user, organization throttle, ETag fingerprint, rows
        response = api.get(LIST_URL)
    assert response.status_code == 200
    body = response.json()
    assert [row["name"] for row in body] == list(
        NodeType.objects.order_by("category", "name").values_list("name", flat=True)
    )
    assert len(body) == len(registry)
    manual = next(row for row in body if row["name"] == "manual")
    assert manual == {
        "name": "manual",
        "category": "triggers",
        "version": "1",
        "display_name": "Manual trigger",
        "description": registry.get("manual").description,
        "icon": "play",
        "inputs": [],
        "outputs": ["main"],
        "config_schema": registry.get("manual").config_schema,
        "is_enabled": True,
    }


def test_the_list_filters_by_category_search_and_enabled(api):
    triggers = api.get(LIST_URL, {"category": "triggers"}).json()
    assert {row["name"] for row in triggers} == {"manual", "webhook", "schedule", "form"}
    assert [row["name"] for row in api.get(LIST_URL, {"search": "JMESPath"}).json()] == ["jmespath"]
    assert {row["name"] for row in api.get(LIST_URL, {"search": "cron"}).json()} >= {"schedule"}
    node_type_set_enabled(node_type=NodeType.objects.get(name="sort"), is_enabled=False)
    assert [row["name"] for row in api.get(LIST_URL, {"enabled": "false"}).json()] == ["sort"]
    assert "sort" not in {row["name"] for row in api.get(LIST_URL, {"enabled": "true"}).json()}


def test_an_unknown_category_is_a_400_naming_the_field(api):
    response = api.get(LIST_URL, {"category": "gadgets"})
    assert response.status_code == 400
    assert "category" in response.content.decode()


def test_detail_and_unknown_names(api):
    response = api.get(f"{LIST_URL}date_time/")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Date & time"
    assert api.get(f"{LIST_URL}no_such_type/").status_code == 404
    assert api.get(f"{LIST_URL}Bad Name/").status_code == 404


def test_the_schema_endpoint_serves_a_json_schema_document(api):
    response = api.get(f"{LIST_URL}schedule/schema/")
    assert response.status_code == 200
    schema = response.json()
    assert schema["$schema"] == JSON_SCHEMA_DIALECT
    assert schema["title"] == "Schedule"
    assert schema["required"] == ["cron"]
    assert schema["additionalProperties"] is False


def validate(api, name, config):
    return api.post(f"{LIST_URL}{name}/validate/", {"config": config}, content_type="application/json")


def test_validate_accepts_a_good_config(api):
    response = validate(api, "schedule", {"cron": "*/5 * * * *", "timezone": "Europe/Paris"})
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": []}


def test_validate_returns_every_error_with_its_pointer(api):
    response = validate(api, "date_time", {"operation": "shift", "value": "x", "shift": {"months": 1.5}, "extra": 1})
    assert response.status_code == 200
    assert response.json() == {
        "valid": False,
        "errors": [
            {"path": "", "message": "Additional properties are not allowed ('extra' was unexpected)"},
            {"path": "/shift/months", "message": "1.5 is not of type 'integer'"},
        ],
    }


def test_validate_reports_expression_syntax_and_node_checks(api):
    errors = validate(api, "schedule", {"cron": "99 * * * *", "timezone": "{{ vars.tz "}).json()["errors"]
    assert [error["path"] for error in errors] == ["/timezone"]
    errors = validate(api, "schedule", {"cron": "99 * * * *"}).json()["errors"]
    assert errors == [{"path": "/cron", "message": "Invalid cron expression '99 * * * *'."}]


def test_validate_refuses_a_disabled_type(api):
    node_type_set_enabled(node_type=NodeType.objects.get(name="set"), is_enabled=False)
    assert validate(api, "set", {"values": {}}).json() == {
        "valid": False,
        "errors": [{"path": "", "message": NODE_TYPE_DISABLED}],
    }


def test_validate_needs_a_config_and_nothing_else(api):
    url = f"{LIST_URL}set/validate/"
    assert api.post(url, {}, content_type="application/json").status_code == 400
    assert api.post(url, {"config": {}, "other": 1}, content_type="application/json").status_code == 400
    assert validate(api, "set", "not an object").json()["errors"] == [
        {"path": "", "message": "The config must be an object."}
    ]
    assert validate(api, "no_such_type", {}).status_code == 404


def test_a_row_without_a_registered_class_cannot_be_validated(api):
    NodeType.objects.create(name="gone", category="actions", display_name="Gone", implementation="x.Gone")
    assert validate(api, "gone", {}).status_code == 404


def test_reads_carry_an_etag_and_answer_304_until_a_type_changes(api):
    first = api.get(LIST_URL)
    etag = first["ETag"]
    assert etag and "no-cache" in first["Cache-Control"]
    again = api.get(LIST_URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert api.get(f"{LIST_URL}?category=triggers", HTTP_IF_NONE_MATCH=etag).status_code == 200

    node_type_set_enabled(node_type=NodeType.objects.get(name="merge"), is_enabled=False)
    changed = api.get(LIST_URL, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


def test_detail_and_schema_are_cached_too(api):
    for url in (f"{LIST_URL}map/", f"{LIST_URL}map/schema/"):
        etag = api.get(url)["ETag"]
        assert api.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_the_openapi_schema_documents_every_node_type_operation():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert set(paths["/api/v1/node-types/"]) >= {"get"}
    assert {"get"} <= set(paths["/api/v1/node-types/{name}/schema/"])
    validate_operation = paths["/api/v1/node-types/{name}/validate/"]["post"]
    assert validate_operation["summary"].startswith("Check a config")
    parameters = {parameter["name"] for parameter in paths["/api/v1/node-types/"]["get"]["parameters"]}
    assert {"category", "search", "enabled"} <= parameters
    assert reverse("node-type-validate", kwargs={"name": "set"}) == "/api/v1/node-types/set/validate/"


def _property_orders(schema: dict, where: str = "") -> dict[str, list[str]]:
    """The key order of every `properties` object in `schema`, by where it sits."""
    orders = {}
    if isinstance(schema.get("properties"), dict):
        orders[where or "/"] = list(schema["properties"])
        for name, sub in schema["properties"].items():
            if isinstance(sub, dict):
                orders.update(_property_orders(sub, f"{where}/{name}"))
    return orders


def test_config_schemas_keep_the_declared_field_order(api):
    """The HTTP request form lists method, url, headers, ... as the class declares them, not in jsonb's key order
    (PostgreSQL reorders the keys of a stored object: shorter keys first)."""
    declared = registry.get("http_request").config_schema
    assert list(declared["properties"])[:3] == ["method", "url", "headers"]
    row = next(row for row in api.get(LIST_URL).json() if row["name"] == "http_request")
    assert list(row["config_schema"]["properties"]) == list(declared["properties"])
    assert _property_orders(row["config_schema"]) == _property_orders(declared)
    detail = api.get(f"{LIST_URL}http_request/").json()
    assert list(detail["config_schema"]["properties"]) == list(declared["properties"])
    document = api.get(f"{LIST_URL}http_request/schema/").json()
    assert list(document["properties"]) == list(declared["properties"])
    for cls in registry.all():
        served = api.get(f"{LIST_URL}{cls.type_name}/").json()["config_schema"]
        assert _property_orders(served) == _property_orders(cls.config_schema), cls.type_name
