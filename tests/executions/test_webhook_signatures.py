"""Signed webhooks: one delivery per signature whatever the Idempotency-Key, and the sender presets.

Each preset's signature is built here with hmac by the vendor's documented algorithm, not with the product's code.
"""

import base64
import copy
import hashlib
import hmac
import json
import time
import uuid

import pytest
from django.core.cache import cache

from apps.executions import signatures, triggers
from apps.executions.models import WorkflowExecution
from apps.nodes.builtin.triggers import SIGNATURE_SCHEMES
from apps.workflows.services import trigger_create, trigger_update, workflow_activate
from tests.workflows.factories import WEBHOOK_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db
BODY = json.dumps({"amount": 120}).encode()
STRIPE_SECRET = "whsec_stripe_given_by_the_sender"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
GITHUB_SECRET = "It's a Secret to Everybody"
#: Standard Webhooks secrets are "whsec_" + base64 of the key bytes.
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-key-0123456789").decode()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def _hook(organization, scheme: str | None = None, secret: str | None = None):
    definition = copy.deepcopy(WEBHOOK_DEFINITION)
    if scheme is not None:
        definition["nodes"][0]["config"]["signature_scheme"] = scheme
    workflow = WorkflowFactory(organization=organization, definition=definition)
    workflow_activate(workflow=workflow)
    hook = trigger_create(workflow=workflow, kind="webhook")
    if secret is not None:
        hook = trigger_update(trigger=hook, signing_secret=secret)
    return hook


def _post(client, hook, body=BODY, **headers):
    return client.post(f"/hooks/{hook.webhook_token}", data=body, content_type="application/json", **headers)


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


# --- replay -------------------------------------------------------------------------------------------------


def test_a_signed_delivery_replayed_with_a_new_idempotency_key_starts_nothing(client, organization):
    """The key is not signed: a captured delivery sent again with another key is the same delivery."""
    hook = _hook(organization)
    signature = triggers.sign(secret=hook.signing_secret, body=BODY)
    first = _post(client, hook, HTTP_X_CONCERTMASTER_SIGNATURE=signature, HTTP_IDEMPOTENCY_KEY="a")
    replays = [
        _post(client, hook, HTTP_X_CONCERTMASTER_SIGNATURE=signature, HTTP_IDEMPOTENCY_KEY=key) for key in ("b", "c")
    ]
    assert first.status_code == 202
    for replay in replays:
        assert replay.status_code == 200
        assert replay.json() == {**first.json(), "replayed": True}
    assert WorkflowExecution.objects.count() == 1


def test_a_new_signature_over_the_same_body_is_a_new_delivery(client, organization):
    hook = _hook(organization)
    now = int(time.time())
    for offset in (0, 1):
        signature = triggers.sign(secret=hook.signing_secret, body=BODY, timestamp=now - offset)
        assert _post(client, hook, HTTP_X_CONCERTMASTER_SIGNATURE=signature).status_code == 202
    assert WorkflowExecution.objects.count() == 2


def test_the_node_schema_lists_every_scheme_the_endpoint_verifies():
    assert set(SIGNATURE_SCHEMES) == set(signatures.SCHEMES)


# --- Standard Webhooks ----------------------------------------------------------------------------------------


def _standard_headers(body: bytes, *, msg_id: str, timestamp: int | None = None, secret: str = STANDARD_SECRET):
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": f"v1,{base64.b64encode(b'x' * 32).decode()} v1,{base64.b64encode(digest).decode()}",
    }


def test_standard_webhooks_accepts_a_signed_message_once_per_webhook_id(client, organization):
    hook = _hook(organization, "standard_webhooks", STANDARD_SECRET)
    assert _post(client, hook, **_standard_headers(BODY, msg_id="msg_1")).status_code == 202
    # The sender's retry: same id, new timestamp and signature.
    retry = _post(client, hook, **_standard_headers(BODY, msg_id="msg_1", timestamp=int(time.time()) - 5))
    assert retry.status_code == 200 and retry.json()["replayed"] is True
    assert _post(client, hook, **_standard_headers(BODY, msg_id="msg_2")).status_code == 202
    assert WorkflowExecution.objects.count() == 2


@pytest.mark.parametrize(
    "headers, message",
    [
        ({"secret": "whsec_" + base64.b64encode(b"another key entirely, 32 bytes!").decode()}, "mismatch"),
        ({"timestamp": int(time.time()) - 600}, "stale"),
    ],
)
def test_standard_webhooks_refuses_a_wrong_or_stale_signature(client, organization, headers, message):
    hook = _hook(organization, "standard_webhooks", STANDARD_SECRET)
    response = _post(client, hook, **_standard_headers(BODY, msg_id="msg_1", **headers))
    assert response.status_code == 401
    expected = {"mismatch": triggers.SIGNATURE_MISMATCH, "stale": triggers.SIGNATURE_STALE.format(tolerance=300)}
    assert response.json()["detail"] == expected[message]
    assert not WorkflowExecution.objects.exists()


def test_standard_webhooks_without_its_headers_says_which(client, organization):
    hook = _hook(organization, "standard_webhooks", STANDARD_SECRET)
    response = _post(client, hook, HTTP_X_CONCERTMASTER_SIGNATURE=triggers.sign(secret=STANDARD_SECRET, body=BODY))
    assert response.status_code == 401
    assert response.json()["detail"] == signatures.STANDARD_HEADERS_MISSING


# --- GitHub ---------------------------------------------------------------------------------------------------


def _github_headers(body: bytes, *, secret: str = GITHUB_SECRET, delivery: str | None = None) -> dict:
    return {
        "HTTP_X_HUB_SIGNATURE_256": "sha256=" + _hex(secret, body),
        "HTTP_X_GITHUB_DELIVERY": delivery or str(uuid.uuid4()),
        "HTTP_X_GITHUB_EVENT": "push",
    }


def test_github_preset_accepts_the_documented_signature_once(client, organization):
    hook = _hook(organization, "github", GITHUB_SECRET)
    first = _post(client, hook, **_github_headers(BODY, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958"))
    assert first.status_code == 202
    execution = WorkflowExecution.objects.get()
    assert execution.trigger_data["headers"]["X-Github-Event"] == "push"
    assert "X-Hub-Signature-256" not in execution.trigger_data["headers"]
    # A redelivery keeps X-GitHub-Delivery; a captured body sent with a new delivery id is still the same signature.
    assert _post(client, hook, **_github_headers(BODY, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")).json()[
        "replayed"
    ]
    assert _post(client, hook, **_github_headers(BODY)).json()["replayed"]
    other = b'{"amount": 121}'
    assert _post(client, hook, body=other, **_github_headers(other)).status_code == 202
    assert WorkflowExecution.objects.count() == 2


def test_github_preset_matches_githubs_documented_example(organization):
    """docs.github.com: secret "It's a Secret to Everybody", payload "Hello, World!"."""
    verified = signatures.verify(
        scheme="github",
        secret=GITHUB_SECRET,
        headers={"X-Hub-Signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
        body=b"Hello, World!",
    )
    assert verified.digest == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.mark.parametrize(
    "header, detail",
    [
        ("sha256=" + "0" * 64, "mismatch"),
        ("sha1=abc", "malformed"),
        ("", "missing"),
    ],
)
def test_github_preset_refuses_a_wrong_signature(client, organization, header, detail):
    hook = _hook(organization, "github", GITHUB_SECRET)
    headers = {"HTTP_X_HUB_SIGNATURE_256": header} if header else {}
    response = _post(client, hook, **headers)
    assert response.status_code == 401
    expected = {
        "mismatch": triggers.SIGNATURE_MISMATCH,
        "malformed": signatures.GITHUB_MALFORMED,
        "missing": signatures.HEADER_MISSING.format(header="X-Hub-Signature-256"),
    }
    assert response.json()["detail"] == expected[detail]


# --- Stripe ---------------------------------------------------------------------------------------------------


def _stripe_header(body: bytes, *, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_hex(secret, f'{timestamp}.'.encode() + body)},v0={'0' * 64}"


def test_stripe_preset_accepts_the_documented_signature_once(client, organization):
    hook = _hook(organization, "stripe", STRIPE_SECRET)
    header = _stripe_header(BODY)
    assert _post(client, hook, HTTP_STRIPE_SIGNATURE=header).status_code == 202
    replay = _post(client, hook, HTTP_STRIPE_SIGNATURE=header, HTTP_IDEMPOTENCY_KEY="new")
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert WorkflowExecution.objects.count() == 1


@pytest.mark.parametrize("kind", ["wrong", "stale"])
def test_stripe_preset_refuses_a_wrong_or_stale_signature(client, organization, kind):
    hook = _hook(organization, "stripe", STRIPE_SECRET)
    if kind == "wrong":
        header, detail = _stripe_header(BODY, secret="whsec_other"), triggers.SIGNATURE_MISMATCH
    else:
        header = _stripe_header(BODY, timestamp=int(time.time()) - 301)
        detail = triggers.SIGNATURE_STALE.format(tolerance=300)
    response = _post(client, hook, HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 401
    assert response.json()["detail"] == detail
    assert not WorkflowExecution.objects.exists()


# --- Slack ----------------------------------------------------------------------------------------------------


def _slack_headers(body: bytes, *, secret: str = SLACK_SECRET, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp),
        "HTTP_X_SLACK_SIGNATURE": "v0=" + _hex(secret, f"v0:{timestamp}:".encode() + body),
    }


def test_slack_preset_accepts_the_documented_signature_once(client, organization):
    hook = _hook(organization, "slack", SLACK_SECRET)
    headers = _slack_headers(BODY)
    assert _post(client, hook, **headers).status_code == 202
    assert _post(client, hook, **headers, HTTP_IDEMPOTENCY_KEY="x").json()["replayed"] is True
    assert WorkflowExecution.objects.count() == 1


def test_slack_preset_matches_slacks_documented_example():
    """api.slack.com/authentication/verifying-requests-from-slack: the worked example."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
        b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
        b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    verified = signatures.verify(scheme="slack", secret=SLACK_SECRET, headers=headers, body=body, now=1531420618)
    assert verified.digest == "a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


@pytest.mark.parametrize("kind", ["wrong", "stale", "no timestamp"])
def test_slack_preset_refuses_a_wrong_or_stale_signature(client, organization, kind):
    hook = _hook(organization, "slack", SLACK_SECRET)
    if kind == "wrong":
        headers, detail = _slack_headers(BODY, secret="not-it"), triggers.SIGNATURE_MISMATCH
    elif kind == "stale":
        headers = _slack_headers(BODY, timestamp=int(time.time()) - 301)
        detail = triggers.SIGNATURE_STALE.format(tolerance=300)
    else:
        headers = _slack_headers(BODY)
        del headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"]
        detail = signatures.HEADER_MISSING.format(header="X-Slack-Request-Timestamp")
    response = _post(client, hook, **headers)
    assert response.status_code == 401
    assert response.json()["detail"] == detail
    assert not WorkflowExecution.objects.exists()


# --- the secret a sender gave you -------------------------------------------------------------------------------


def _api(organization, role: str):
    from rest_framework.test import APIClient

    from tests.orgs.factories import MembershipFactory, UserFactory

    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=role)
    api = APIClient()
    api.force_authenticate(user)
    return api


def test_an_admin_sets_the_senders_secret_through_the_api_and_never_reads_it_back(client, organization):
    hook = _hook(organization, "github")
    api = _api(organization, "admin")
    response = api.patch(f"/api/v1/triggers/{hook.pk}/", {"signing_secret": GITHUB_SECRET}, format="json")
    assert response.status_code == 200, response.json()
    assert "signing_secret" not in response.json() and response.json()["has_signing_secret"] is True
    assert GITHUB_SECRET not in json.dumps(api.get(f"/api/v1/triggers/{hook.pk}/").json())
    assert _post(client, hook, **_github_headers(BODY)).status_code == 202


def test_only_a_webhook_trigger_takes_a_secret_and_only_from_an_admin(organization):
    from apps.workflows.triggers import SECRET_ONLY_WEBHOOK, SECRET_TOO_SHORT

    hook = _hook(organization, "github")
    api = _api(organization, "admin")
    short = api.patch(f"/api/v1/triggers/{hook.pk}/", {"signing_secret": "short"}, format="json")
    assert short.status_code == 400
    assert SECRET_TOO_SHORT.format(minimum=8) in json.dumps(short.json())
    member = _api(organization, "member").patch(f"/api/v1/triggers/{hook.pk}/", {"signing_secret": "x" * 20})
    assert member.status_code in (403, 404)
    manual = WorkflowFactory(organization=organization)
    trigger = trigger_create(workflow=manual, kind="manual")
    refused = api.patch(f"/api/v1/triggers/{trigger.pk}/", {"signing_secret": "x" * 20}, format="json")
    assert refused.status_code == 400
    assert SECRET_ONLY_WEBHOOK in json.dumps(refused.json())


def test_an_admin_sets_the_senders_secret_in_the_admin(client, organization):
    from django.urls import reverse

    from apps.orgs.models import AuditLog
    from tests.orgs.factories import MembershipFactory, UserFactory

    hook = _hook(organization, "slack")
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    url = reverse("admin:workflows_trigger_change", args=[hook.pk])
    page = client.get(url)
    assert hook.signing_secret not in page.content.decode()
    data = {"kind": "webhook", "name": "slack", "is_active": "on", "config": "{}", "new_signing_secret": SLACK_SECRET}
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    hook.refresh_from_db()
    assert hook.signing_secret == SLACK_SECRET
    assert AuditLog.objects.filter(action="trigger.set_secret").exists()
    client.logout()
    assert _post(client, hook, **_slack_headers(BODY)).status_code == 202


@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_one_signed_delivery_start_one_execution(organization):
    """The unique constraint, not the look-up before it, decides a race (PostgreSQL; SQLite serialises writers)."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections
    from django.test import Client

    hook = _hook(organization)
    signature = triggers.sign(secret=hook.signing_secret, body=BODY)

    def deliver(n: int) -> int:
        try:
            response = _post(Client(), hook, HTTP_X_CONCERTMASTER_SIGNATURE=signature, HTTP_IDEMPOTENCY_KEY=f"k{n}")
            return response.status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(deliver, range(16)))
    assert codes == [200] * 15 + [202]
    assert WorkflowExecution.objects.count() == 1


def test_an_unknown_scheme_refuses_every_call():
    with pytest.raises(signatures.SignatureError) as caught:
        signatures.verify(scheme="{{ vars.scheme }}", secret="s" * 10, headers={}, body=b"")
    assert caught.value.message == signatures.SCHEME_UNKNOWN.format(scheme="{{ vars.scheme }}")
