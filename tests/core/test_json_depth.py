"""Deeply nested JSON is a 400 (in the API's error shape) at every entry point, and JSON at the limit still works."""

import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.core.jsonparse import JSON_TOO_DEEP, JSONTooDeep, check_depth, json_loads_bounded
from apps.executions.models import WorkflowExecution
from apps.workflows.models import Workflow
from apps.workflows.services import trigger_create, workflow_activate
from tests.workflows.factories import WorkflowFactory

LIMIT = 20
DEEP = "[" * 1000 + "]" * 1000


def nested(depth: int) -> str:
    """A JSON object holding arrays, `depth` levels in all (the object counts as one)."""
    return '{"a": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.CONCERTMASTER_JSON_MAX_DEPTH = LIMIT
    cache.clear()  # throttles


def assert_too_deep(response, limit=LIMIT):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "parse_error"
    assert body["detail"] == JSON_TOO_DEEP.format(limit=limit)
    assert body["errors"] == []


# --- the helper ---


def test_depth_is_counted_outside_strings_only():
    check_depth(nested(LIMIT), LIMIT)
    check_depth('["' + "[" * 500 + '", "\\"[[[[["]', 3)  # brackets inside strings, escaped quotes
    check_depth(b"[" * 5 + b"]" * 5, 5)
    with pytest.raises(JSONTooDeep):
        check_depth(nested(LIMIT + 1), LIMIT)
    with pytest.raises(JSONTooDeep):
        check_depth(b"[" * 6 + b"]" * 6, 5)


def test_json_loads_bounded_parses_and_refuses():
    assert json_loads_bounded(nested(LIMIT)) == json.loads(nested(LIMIT))
    assert json_loads_bounded(b'{"x": [1, {"y": "]]]"}]}') == {"x": [1, {"y": "]]]"}]}
    with pytest.raises(json.JSONDecodeError, match="nested deeper than 20 levels"):
        json_loads_bounded(DEEP)
    with pytest.raises(JSONTooDeep):  # a limit above what the stack allows still ends in the same error
        json_loads_bounded("[" * 100_000 + "]" * 100_000, limit=10**6)


# --- the API (DRF's parser): workflow create, import, execute ---


@pytest.fixture
def client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_raw(client, url, text):
    return client.post(url, data=text, content_type="application/json")


def test_workflow_create_with_a_deep_body_is_400(client, organization):
    assert_too_deep(post_raw(client, "/api/v1/workflows/", DEEP))
    body = '{"organization": "%s", "name": "x", "definition": {"nodes": [], "edges": [], "variables": {"v": %s}}}'
    assert_too_deep(post_raw(client, "/api/v1/workflows/", body % (organization.pk, "[" * 1000 + "]" * 1000)))
    assert not Workflow.objects.exists()


def test_workflow_create_at_the_limit_is_parsed(client, organization):
    variables = "[" * (LIMIT - 4) + "]" * (LIMIT - 4)  # body > definition > variables > v > arrays
    definition = '{"nodes": [{"id": "start", "type": "manual", "config": {}}], "edges": [], "variables": {"v": %s}}'
    body = f'{{"organization": "{organization.pk}", "name": "x", "definition": {definition % variables}}}'
    response = post_raw(client, "/api/v1/workflows/", body)
    assert response.status_code == 201, response.content


def test_workflow_import_with_a_deep_document_is_400(client, organization):
    body = f'{{"organization": "{organization.pk}", "document": {DEEP}}}'
    assert_too_deep(post_raw(client, "/api/v1/workflows/import/", body))


def test_execute_with_a_deep_input_is_400_and_at_the_limit_runs(client, organization):
    workflow = WorkflowFactory(organization=organization)
    workflow_activate(workflow=workflow)
    url = f"/api/v1/workflows/{workflow.pk}/execute/"
    assert_too_deep(post_raw(client, url, '{"input": {"x": ' + DEEP + "}}"))
    assert not WorkflowExecution.objects.exists()
    response = post_raw(client, url, '{"input": ' + nested(LIMIT - 1) + "}")
    assert response.status_code in (200, 202), response.content


def test_the_default_limit_applies_to_1000_levels(client, settings):
    settings.CONCERTMASTER_JSON_MAX_DEPTH = 100
    assert_too_deep(post_raw(client, "/api/v1/workflows/", DEEP), limit=100)


# --- public webhook and form endpoints ---


@pytest.fixture
def unsigned_hook(organization):
    definition = {
        "nodes": [
            {"id": "start", "type": "webhook", "config": {}},
            {"id": "log", "type": "log", "config": {"message": "hi"}},
        ],
        "edges": [{"source": "start", "target": "log"}],
    }
    workflow = WorkflowFactory(organization=organization, definition=definition)
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind="webhook")


def test_a_deep_webhook_body_is_400_and_one_at_the_limit_starts_a_run(unsigned_hook):
    url = f"/hooks/{unsigned_hook.webhook_token}"
    assert_too_deep(post_raw(APIClient(), url, DEEP))
    assert not WorkflowExecution.objects.exists()
    response = post_raw(APIClient(), url, nested(LIMIT))
    assert response.status_code == 202, response.content
    assert WorkflowExecution.objects.get().trigger_data["body"] == json.loads(nested(LIMIT))


@pytest.fixture
def form(organization):
    from tests.workflows.factories import FORM_DEFINITION

    workflow = WorkflowFactory(organization=organization, definition=FORM_DEFINITION)
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind="form")


def test_a_deep_form_submission_is_400_and_a_plain_one_works(form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    assert_too_deep(post_raw(APIClient(), url, '{"email": ' + DEEP + "}"))
    assert not WorkflowExecution.objects.exists()
    response = post_raw(APIClient(), url, json.dumps({"email": "a@example.com", "age": 30}))
    assert response.status_code == 201, response.content


# --- nodes that parse JSON text ---


def test_the_json_parse_node_refuses_deep_text_without_retrying():
    from apps.nodes.base import NodeContext, NodeError
    from apps.nodes.registry import registry

    ctx = NodeContext(node_id="n", execution_id="e", organization_id="o", config={"text": DEEP}, inputs={})
    with pytest.raises(NodeError, match="nested deeper than 20 levels") as caught:
        registry.get("json_parse")().run(ctx)
    assert caught.value.retryable is False


def test_run_workflow_refuses_deep_input_with_a_command_error():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="nested deeper than 20 levels"):
        call_command("run_workflow", "00000000-0000-0000-0000-000000000000", "--input", DEEP)


# --- the admin's JSON fields ---


def test_the_admins_json_field_refuses_deep_json_as_a_form_error():
    from django.core.exceptions import ValidationError
    from django.forms.fields import InvalidJSONInput

    from apps.core.admin import PrettyJSONFormField

    field = PrettyJSONFormField()
    with pytest.raises(ValidationError, match="nested deeper than 20 levels"):
        field.clean(DEEP)
    assert isinstance(field.bound_data(DEEP, None), InvalidJSONInput)  # shown back as typed
    assert field.clean(nested(LIMIT)) == json.loads(nested(LIMIT))


def test_the_admin_answers_a_deep_definition_with_the_form_again(organization):
    from django.test import Client

    from tests.orgs.factories import UserFactory

    client_ = Client()
    client_.force_login(UserFactory(is_staff=True, is_superuser=True))
    workflow = WorkflowFactory(organization=organization)
    url = f"/admin/workflows/workflow/{workflow.pk}/change/"
    page = client_.get(url)
    assert page.status_code == 200
    form = {"organization": str(organization.pk), "name": workflow.name, "definition": DEEP, "status": "draft"}
    response = client_.post(url, form)
    assert response.status_code == 200  # the form again, with its errors
    assert b"nested deeper than 20 levels" in response.content
