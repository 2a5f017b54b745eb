"""The specification's `POST /api/v1/webhooks` (workflow_id, event_type, url_path, authentication) beside the
webhook triggers it aliases: the same rows, a custom path unique per organization, HMAC / header token / Basic
authentication checked on the calls, and bad input refused naming the field with nothing written."""

import base64
import copy
import json

import pytest
from django.core.cache import cache

from apps.executions import triggers
from apps.executions.models import WorkflowExecution
from apps.orgs.models import AuditLog
from apps.workflows import webhook_paths
from apps.workflows.models import Trigger
from apps.workflows.services import workflow_activate
from tests.workflows.factories import WEBHOOK_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db
BODY = json.dumps({"order": 7}).encode()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def admin_client(api_client, organization, member_factory):
    api_client.force_authenticate(member_factory(organization, role="admin"))
    return api_client


def _hook_workflow(organization, **node_config):
    definition = copy.deepcopy(WEBHOOK_DEFINITION)
    definition["nodes"][0]["config"] = node_config
    workflow = WorkflowFactory(organization=organization, definition=definition)
    workflow_activate(workflow=workflow)
    return workflow


def _create(client, workflow, **fields):
    return client.post("/api/v1/webhooks", {"workflow_id": str(workflow.pk), **fields}, format="json")


def _call(client, url, body=BODY, **headers):
    return client.post(url, data=body, content_type="application/json", **headers)


@pytest.mark.parametrize("path", ["/api/v1/webhooks", "/api/v1/webhooks/"])
def test_create_in_the_specifications_shape_is_a_webhook_trigger(admin_client, organization, path):
    workflow = _hook_workflow(organization)
    body = {
        "workflow_id": str(workflow.pk),
        "event_type": "order.created",
        "url_path": "/Orders/Created/",
        "authentication": "hmac",
    }

    response = admin_client.post(path, body, format="json")

    assert response.status_code == 201, response.json()
    created = response.json()
    trigger = Trigger.objects.get(pk=created["id"])
    assert trigger.kind == "webhook"
    assert trigger.config == {
        "event_type": "order.created",
        "url_path": "orders/created",
        "authentication": {"type": "hmac"},
    }
    assert created["workflow_id"] == str(workflow.pk)
    assert created["url_path"] == "orders/created"
    assert created["authentication"] == "hmac"
    assert created["url"].endswith(f"/hooks/{organization.slug}/orders/created")
    assert created["token_url"].endswith(f"/hooks/{trigger.webhook_token}")
    assert created["secret"] == trigger.signing_secret
    assert AuditLog.objects.filter(action="trigger.create", target_id=str(trigger.pk)).exists()

    listed = admin_client.get("/api/v1/webhooks").json()["results"]
    assert [row["id"] for row in listed] == [created["id"]]
    assert "secret" not in listed[0]
    as_trigger = admin_client.get(f"/api/v1/triggers/{trigger.pk}/").json()
    assert as_trigger["config"]["url_path"] == "orders/created"


def test_hmac_webhook_at_its_path_takes_signed_calls_only(admin_client, client, organization):
    workflow = _hook_workflow(organization)  # the node itself does not demand a signature
    created = _create(admin_client, workflow, url_path="orders", event_type="order.created").json()
    url = f"/hooks/{organization.slug}/orders"

    assert _call(client, url).status_code == 401
    signature = triggers.sign(secret=created["secret"], body=BODY)
    response = _call(client, url, HTTP_X_CONCERTMASTER_SIGNATURE=signature)

    assert response.status_code == 202, response.json()
    execution = WorkflowExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.trigger_data["body"] == {"order": 7}
    assert execution.trigger_data["event_type"] == "order.created"
    assert WorkflowExecution.objects.count() == 1


def test_header_token_webhook(admin_client, client, organization):
    workflow = _hook_workflow(organization)
    created = _create(
        admin_client, workflow, url_path="in/github", authentication="header", header_name="X-Hook-Token"
    ).json()
    assert created["header_name"] == "X-Hook-Token"
    url = f"/hooks/{organization.slug}/in/github"

    missing = _call(client, url)
    wrong = _call(client, url, HTTP_X_HOOK_TOKEN="not-the-token")
    right = _call(client, url, HTTP_X_HOOK_TOKEN=created["secret"])
    by_token = _call(client, created["token_url"], HTTP_X_HOOK_TOKEN=created["secret"])

    assert missing.status_code == 401
    assert missing.json()["detail"] == webhook_paths.AUTH_MISSING_HEADER.format(header="X-Hook-Token")
    assert wrong.status_code == 401
    assert right.status_code == 202
    assert by_token.status_code == 202  # the token URL asks the same
    execution = WorkflowExecution.objects.get(pk=right.json()["execution_id"])
    headers = {name.lower() for name in execution.trigger_data["headers"]}
    assert "x-hook-token" not in headers  # the secret never reaches the run
    assert WorkflowExecution.objects.count() == 2


def test_basic_webhook(admin_client, client, organization):
    workflow = _hook_workflow(organization)
    created = _create(
        admin_client, workflow, url_path="billing", authentication="basic", username="stripe", secret="s3cret-passw0rd"
    ).json()
    assert (created["authentication"], created["username"]) == ("basic", "stripe")
    url = f"/hooks/{organization.slug}/billing"

    def basic(user, password):
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    assert _call(client, url).status_code == 401
    assert _call(client, url, HTTP_AUTHORIZATION=basic("stripe", "wrong")).status_code == 401
    assert _call(client, url, HTTP_AUTHORIZATION=basic("other", "s3cret-passw0rd")).status_code == 401
    assert _call(client, url, HTTP_AUTHORIZATION="Basic !!!").status_code == 401
    response = _call(client, url, HTTP_AUTHORIZATION=basic("stripe", "s3cret-passw0rd"))
    assert response.status_code == 202
    assert WorkflowExecution.objects.count() == 1


def test_url_path_is_unique_per_organization(admin_client, organization, other_organization, member_factory):
    _create(admin_client, _hook_workflow(organization), url_path="orders", authentication="none")

    taken = _create(admin_client, _hook_workflow(organization), url_path="/orders/", authentication="none")

    assert taken.status_code == 400
    assert taken.json()["errors"] == [
        {"path": "/url_path", "message": webhook_paths.URL_PATH_TAKEN.format(path="orders")}
    ]
    assert Trigger.objects.count() == 1
    admin_client.force_authenticate(member_factory(other_organization, role="admin"))
    elsewhere = _create(admin_client, _hook_workflow(other_organization), url_path="orders", authentication="none")
    assert elsewhere.status_code == 201  # another organization's path space


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url_path": "no spaces allowed"}, "url_path"),
        ({"url_path": "a//b"}, "url_path"),
        ({"url_path": "../etc"}, "url_path"),
        ({"authentication": "oauth"}, "authentication"),
        ({"authentication": "header", "header_name": "Content-Type"}, "header_name"),
        ({"authentication": "hmac", "header_name": "X-Token"}, "header_name"),
        ({"authentication": "header", "username": "x"}, "username"),
        ({"secret": "short"}, "secret"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(admin_client, organization, fields, field):
    response = _create(admin_client, _hook_workflow(organization), **fields)

    assert response.status_code == 400, response.json()
    assert [error["path"] for error in response.json()["errors"]] == [f"/{field}"]
    assert not Trigger.objects.exists()
    assert not AuditLog.objects.filter(action="trigger.create").exists()


def test_workflow_that_does_not_start_with_a_webhook_is_refused(admin_client, organization):
    workflow = WorkflowFactory(organization=organization)  # starts with a manual node
    response = _create(admin_client, workflow, url_path="x")
    assert response.status_code == 400
    assert not Trigger.objects.exists()


def test_another_organizations_workflow_and_webhooks_stay_out_of_reach(
    admin_client, organization, other_organization, member_factory
):
    theirs = _hook_workflow(other_organization)
    response = _create(admin_client, theirs, url_path="x")
    assert response.status_code == 400
    assert [error["path"] for error in response.json()["errors"]] == ["/workflow_id"]

    mine = _create(admin_client, _hook_workflow(organization), url_path="mine", authentication="none").json()
    admin_client.force_authenticate(member_factory(other_organization, role="admin"))
    assert admin_client.get(f"/api/v1/webhooks/{mine['id']}").status_code == 404
    assert admin_client.delete(f"/api/v1/webhooks/{mine['id']}").status_code == 404
    assert admin_client.get("/api/v1/webhooks").json()["results"] == []


def test_a_member_may_not_create_and_a_viewer_sees_no_usable_url(api_client, organization, member_factory):
    workflow = _hook_workflow(organization)
    admin = member_factory(organization, role="admin")
    api_client.force_authenticate(admin)
    _create(api_client, workflow, url_path="open", authentication="none")

    api_client.force_authenticate(member_factory(organization, role="member"))
    assert _create(api_client, workflow, url_path="other").status_code == 403
    api_client.force_authenticate(member_factory(organization, role="viewer"))
    (row,) = api_client.get("/api/v1/webhooks").json()["results"]
    assert row["url"] is None
    assert row["token_url"] is None


def test_delete_removes_the_trigger_and_its_path(admin_client, client, organization):
    created = _create(admin_client, _hook_workflow(organization), url_path="gone", authentication="none").json()

    assert admin_client.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204

    assert not Trigger.objects.exists()
    assert _call(client, f"/hooks/{organization.slug}/gone").status_code == 404


def test_unknown_path_and_organization_are_404(client, organization):
    assert _call(client, f"/hooks/{organization.slug}/nothing/here").status_code == 404
    assert _call(client, "/hooks/no-such-org/orders").status_code == 404
