"""The token of a trigger that starts runs without a signature (an unsigned webhook, a form) is shown only to
callers who may execute its workflow: a viewer or a `read` API key sees no URL, a member does."""

import copy

import pytest
from django.core.cache import cache
from guardian.shortcuts import assign_perm

from apps.orgs.services import api_key_create
from apps.workflows.services import trigger_create, workflow_activate
from tests.workflows.factories import FORM_DEFINITION, WEBHOOK_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def _trigger(organization, definition, kind, signed=None):
    definition = copy.deepcopy(definition)
    if signed is not None:
        definition["nodes"][0]["config"]["require_signature"] = signed
    workflow = WorkflowFactory(organization=organization, definition=definition)
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind=kind)


@pytest.fixture
def triggers(organization):
    return {
        "unsigned": _trigger(organization, WEBHOOK_DEFINITION, "webhook", signed=False),
        "signed": _trigger(organization, WEBHOOK_DEFINITION, "webhook", signed=True),
        "form": _trigger(organization, FORM_DEFINITION, "form"),
    }


def _urls(client, trigger, **headers):
    response = client.get(f"/api/v1/triggers/{trigger.pk}/", **headers)
    assert response.status_code == 200, response.content
    body = response.json()
    listed = client.get("/api/v1/triggers/", **headers).json()["results"]
    assert next(item for item in listed if item["id"] == str(trigger.pk))["webhook_url"] == body["webhook_url"]
    return body["webhook_url"], body["form_url"]


def test_a_viewer_sees_no_token_of_an_unsigned_trigger(api_client, organization, member_factory, triggers):
    api_client.force_authenticate(member_factory(organization, "viewer"))
    assert _urls(api_client, triggers["unsigned"]) == (None, None)
    assert _urls(api_client, triggers["form"]) == (None, None)
    webhook_url, _ = _urls(api_client, triggers["signed"])  # useless without the secret
    assert triggers["signed"].webhook_token in webhook_url


def test_a_read_api_key_sees_no_token_of_an_unsigned_trigger(api_client, organization, triggers):
    _, raw = api_key_create(organization=organization, name="read", scopes=["read"])
    assert _urls(api_client, triggers["unsigned"], HTTP_AUTHORIZATION=f"Bearer {raw}") == (None, None)


def test_a_member_and_a_viewer_granted_execute_see_the_url(api_client, organization, member_factory, triggers):
    api_client.force_authenticate(member_factory(organization, "member"))
    webhook_url, _ = _urls(api_client, triggers["unsigned"])
    assert triggers["unsigned"].webhook_token in webhook_url
    _, form_url = _urls(api_client, triggers["form"])
    assert triggers["form"].webhook_token in form_url

    viewer = member_factory(organization, "viewer")
    assign_perm("execute_workflow", viewer, triggers["unsigned"].workflow)
    api_client.force_authenticate(viewer)
    webhook_url, _ = _urls(api_client, triggers["unsigned"])
    assert triggers["unsigned"].webhook_token in webhook_url
    assert _urls(api_client, triggers["form"]) == (None, None)  # no grant on that workflow
