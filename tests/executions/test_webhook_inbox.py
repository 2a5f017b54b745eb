"""The webhook inbox: every delivery kept (secrets left out) for the retention period, listed in the API and the
admin, and replayable by people who may execute the workflow."""

import copy
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.executions import triggers
from apps.executions.choices import DeliveryOutcome
from apps.executions.engine import recovery
from apps.executions.models import WebhookDelivery, WorkflowExecution
from apps.orgs.models import AuditLog
from apps.workflows.services import trigger_create, workflow_activate, workflow_deactivate
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WEBHOOK_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db
BODY = json.dumps({"amount": 120}).encode()
LIST = "/api/v1/webhook-deliveries/"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def make_hook(organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(WEBHOOK_DEFINITION))
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind="webhook")


@pytest.fixture
def hook(organization):
    return make_hook(organization)


def _post(client, hook, body=BODY, *, signature=None, **headers):
    if signature is None:
        signature = triggers.sign(secret=hook.signing_secret, body=body)
    return client.post(
        f"/hooks/{hook.webhook_token}?src=crm",
        data=body,
        content_type="application/json",
        HTTP_X_CONCERTMASTER_SIGNATURE=signature,
        **headers,
    )


def api_as(organization, role: str) -> APIClient:
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=role)
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_inbox_records_accepted_duplicate_and_refused_deliveries_without_secrets(client, hook):
    secret_headers = {"HTTP_AUTHORIZATION": "Bearer top-secret-token", "HTTP_COOKIE": "sessionid=top-secret-cookie"}
    signature = triggers.sign(secret=hook.signing_secret, body=BODY)
    accepted = _post(client, hook, signature=signature, HTTP_IDEMPOTENCY_KEY="k1", **secret_headers)
    _post(client, hook, signature=signature, HTTP_IDEMPOTENCY_KEY="k2")
    _post(client, hook, signature=triggers.sign(secret="whsec_wrong", body=BODY), **secret_headers)
    _post(client, hook, body=b"{nope")
    workflow_deactivate(workflow=hook.workflow)
    _post(client, hook)

    rows = list(WebhookDelivery.objects.order_by("created_at", "id"))
    assert [(row.outcome, row.status_code) for row in rows] == [
        (DeliveryOutcome.ACCEPTED, 202),
        (DeliveryOutcome.DUPLICATE, 200),
        (DeliveryOutcome.REFUSED_SIGNATURE, 401),
        (DeliveryOutcome.INVALID, 400),
        (DeliveryOutcome.INACTIVE, 409),
    ]
    first = rows[0]
    assert str(first.execution_id) == accepted.json()["execution_id"]
    assert rows[1].execution_id == first.execution_id
    assert json.loads(first.body) == {"amount": 120}
    assert first.query == {"src": "crm"} and first.method == "POST" and first.remote_addr == "127.0.0.1"
    assert first.idempotency_key == "k1" and first.signature_scheme == "concertmaster"
    assert rows[2].detail == triggers.SIGNATURE_MISMATCH and rows[2].execution_id is None
    stored = json.dumps([(row.headers, row.body, row.detail) for row in rows])
    for secret in ("top-secret-token", "top-secret-cookie", hook.signing_secret, signature):
        assert secret not in stored
    assert "Authorization" not in first.headers and "Cookie" not in first.headers


@override_settings(CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES=10)
def test_the_inbox_keeps_the_body_up_to_its_cap(client, hook):
    _post(client, hook)
    row = WebhookDelivery.objects.get()
    assert row.body == BODY[:10].decode() and row.body_truncated is True
    assert WorkflowExecution.objects.get().trigger_data["body"] == {"amount": 120}


def test_the_api_lists_an_organizations_deliveries_by_trigger(client, organization, other_organization, hook):
    other_hook = make_hook(organization)
    foreign = make_hook(other_organization)
    for target in (hook, other_hook, foreign):
        _post(client, target)
    _post(client, hook, signature=triggers.sign(secret="whsec_wrong", body=BODY))
    api = api_as(organization, "member")
    everything = api.get(LIST).json()
    assert len(everything["results"]) == 3 and "next" in everything
    response = api.get(LIST, {"trigger": str(hook.pk)})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["outcome"] for row in results] == ["refused_signature", "accepted"]
    assert results[1]["body"] == BODY.decode() and results[1]["execution_id"]
    assert api.get(LIST, {"trigger": str(hook.pk), "outcome": "accepted"}).json()["results"][0]["outcome"] == (
        "accepted"
    )
    assert api.get(LIST, {"outcome": "nope"}).status_code == 400
    foreign_row = WebhookDelivery.objects.get(trigger=foreign)
    assert api.get(f"{LIST}{foreign_row.pk}/").status_code == 404
    assert api.post(f"{LIST}{foreign_row.pk}/replay/").status_code == 404


def test_a_viewer_cannot_replay(client, organization, hook):
    _post(client, hook)
    row = WebhookDelivery.objects.get()
    response = api_as(organization, "viewer").post(f"{LIST}{row.pk}/replay/")
    assert response.status_code in (403, 404)
    assert WorkflowExecution.objects.count() == 1
    assert not AuditLog.objects.filter(action="webhook_delivery.replay").exists()


def test_replay_through_the_api_starts_a_new_execution_and_is_audited(client, organization, hook):
    _post(client, hook, signature=triggers.sign(secret="whsec_wrong", body=BODY))
    row = WebhookDelivery.objects.get()
    response = api_as(organization, "member").post(f"{LIST}{row.pk}/replay/")
    assert response.status_code == 202, response.json()
    execution = WorkflowExecution.objects.get(pk=response.json()["id"])
    assert execution.trigger_kind == "webhook"
    assert execution.trigger_data["body"] == {"amount": 120}
    assert execution.trigger_data["query"] == {"src": "crm"}
    audit = AuditLog.objects.get(action="webhook_delivery.replay")
    assert audit.data["execution"] == str(execution.pk)


@override_settings(CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES=10)
def test_a_truncated_delivery_cannot_be_replayed(client, organization, hook):
    _post(client, hook)
    row = WebhookDelivery.objects.get()
    response = api_as(organization, "member").post(f"{LIST}{row.pk}/replay/")
    assert response.status_code == 400
    assert response.json()["detail"] == triggers.REPLAY_TRUNCATED
    assert WorkflowExecution.objects.count() == 1


def test_pruning_removes_deliveries_older_than_the_retention(client, hook, settings):
    settings.CONCERTMASTER_WEBHOOK_INBOX_DAYS = 7
    _post(client, hook)
    _post(client, hook, signature=triggers.sign(secret="whsec_wrong", body=BODY))
    old = WebhookDelivery.objects.order_by("created_at").first()
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=8))
    recovery.prune()
    assert list(WebhookDelivery.objects.values_list("outcome", flat=True)) == ["refused_signature"]


# --- admin ------------------------------------------------------------------------------------------------------


def admin_client(client, organization, role: str):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role=role)
    client.force_login(user)
    return client


def test_the_admin_lists_deliveries_of_its_organizations_and_replays_them(
    client, organization, other_organization, hook
):
    _post(client, hook)
    _post(client, make_hook(other_organization))
    ours = WebhookDelivery.objects.get(trigger=hook)
    staff = admin_client(client, organization, "member")
    changelist = reverse("admin:executions_webhookdelivery_changelist")
    page = staff.get(changelist, {"outcome__exact": "accepted"})
    assert page.status_code == 200
    assert list(page.context["cl"].queryset) == [ours]
    assert staff.get(reverse("admin:executions_webhookdelivery_change", args=[ours.pk])).status_code == 200
    response = staff.post(changelist, {"action": "replay_deliveries", "_selected_action": [str(ours.pk)]}, follow=True)
    assert response.status_code == 200
    assert WorkflowExecution.objects.filter(workflow=hook.workflow).count() == 2
    assert AuditLog.objects.filter(action="webhook_delivery.replay", data__via="admin").count() == 1


def test_a_viewer_has_no_replay_action_in_the_admin(client, organization, hook):
    _post(client, hook)
    staff = admin_client(client, organization, "viewer")
    page = staff.get(reverse("admin:executions_webhookdelivery_changelist"))
    assert page.status_code in (200, 403)
    if page.status_code == 200 and page.context["action_form"] is not None:
        assert "replay_deliveries" not in repr(page.context["action_form"].fields["action"].choices)
    assert WorkflowExecution.objects.count() == 1


def test_the_inbox_list_costs_the_same_queries_for_one_row_or_many(client, organization, hook):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_as(organization, "member")
    _post(client, hook)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(LIST).status_code == 200
        return len(queries)

    one = count()
    for n in range(4):
        _post(client, make_hook(organization), body=b'{"n": %d}' % n)
    assert count() == one


@override_settings(CONCERTMASTER_WEBHOOK_MAX_BODY_BYTES=64)
def test_an_oversized_delivery_is_kept_as_invalid_without_its_body_and_cannot_be_replayed(client, organization, hook):
    _post(client, hook, body=json.dumps({"blob": "x" * 100}).encode())
    row = WebhookDelivery.objects.get()
    assert (row.outcome, row.status_code, row.body, row.body_truncated) == ("invalid", 413, "", True)
    assert api_as(organization, "member").post(f"{LIST}{row.pk}/replay/").status_code == 400
    assert not WorkflowExecution.objects.exists()
