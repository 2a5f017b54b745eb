"""The whole authorization-code dance through real runs: consent on a local provider, `http_request` calling its API
with the stored token, a refresh once the token has expired (the rotated tokens saved in the credential), a refresh
after a 401; the client secret and every token stay out of rows, events, logs and API answers."""

import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.apps import apps
from django.core import serializers
from django.test import Client
from rest_framework.test import APIClient

from apps.workflows.models import Credential
from apps.workflows.oauth2 import credential_tokens_save
from apps.workflows.services import credential_create, workflow_create
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.workflows.oauth2_provider import OAuth2Provider

pytestmark = pytest.mark.slow
CLIENT_SECRET = "cs-51aa-never-shown"


@pytest.fixture
def world(engine_worker, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True  # the provider is on loopback
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    api = APIClient()
    api.force_authenticate(user)
    browser = Client()
    browser.force_login(user)
    with OAuth2Provider("app", CLIENT_SECRET) as provider:
        yield organization, user, api, browser, provider


def _connect(browser: Client, provider: OAuth2Provider, credential: Credential) -> None:
    connect = browser.get(f"/credentials/{credential.pk}/oauth2/connect/")
    back = urlsplit(httpx.get(connect["Location"], follow_redirects=False).headers["location"])
    done = browser.get(back.path, {key: values[0] for key, values in parse_qs(back.query).items()})
    assert done.status_code == 200, done.content


def _run(api: APIClient, workflow) -> dict:
    response = api.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded", body
    return body


def test_consent_call_refresh_on_expiry_and_after_a_401_keep_every_secret(world, caplog):
    caplog.set_level(logging.DEBUG)
    organization, user, api, browser, provider = world
    data = {
        "authorize_url": f"{provider.url}/authorize",
        "token_url": f"{provider.url}/token",
        "client_id": "app",
        "client_secret": CLIENT_SECRET,
    }
    credential = credential_create(
        organization=organization, name="crm", kind="oauth2_authorization_code", data=data, actor=user
    )
    call = {"id": "call", "type": "http_request", "config": {"method": "GET", "url": f"{provider.url}/api"}}
    call["config"]["credential"] = "crm"
    definition = {
        "nodes": [{"id": "start", "type": "manual", "config": {}}, call],
        "edges": [{"source": "start", "target": "call"}],
    }
    workflow = workflow_create(organization=organization, name="crm", definition=definition, actor=user)

    _connect(browser, provider, credential)
    first = _run(api, workflow)

    assert provider.api_calls == ["Bearer at-2-app"]

    # An hour later: the stored token has expired (and the provider no longer takes it).
    credential_tokens_save(organization_id=organization.pk, name="crm", tokens={"expires_at": 1.0})
    provider.expire_access_tokens()
    second = _run(api, workflow)

    assert provider.token_requests[-1] == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-2-app",
        "client_id": "app",
        "client_secret": CLIENT_SECRET,
    }
    assert provider.api_calls[-1] == "Bearer at-3-app" and len(provider.api_calls) == 2  # refreshed before calling
    credential.refresh_from_db()
    assert (credential.data["access_token"], credential.data["refresh_token"]) == ("at-3-app", "rt-3-app")

    # The provider revokes the token early: the API's 401 makes the node refresh once and call again.
    provider.expire_access_tokens()
    third = _run(api, workflow)

    assert provider.api_calls[-2:] == ["Bearer at-3-app", "Bearer at-4-app"]
    credential.refresh_from_db()
    assert credential.data["refresh_token"] == "rt-4-app"

    secrets = [CLIENT_SECRET, *(f"at-{n}-app" for n in range(1, 5)), *(f"rt-{n}-app" for n in range(1, 5))]
    answers = b"".join(
        [
            str(first).encode(),
            str(second).encode(),
            str(third).encode(),
            *(api.get(f"/api/v1/executions/{body['id']}/events/").content for body in (first, second, third)),
            *(api.get(f"/api/v1/executions/{body['id']}/").content for body in (first, second, third)),
            api.get(f"/api/v1/credentials/{credential.pk}/").content,
            api.get(f"/api/v1/workflows/{workflow.pk}/").content,
        ]
    )
    for secret in secrets:
        assert secret.encode() not in answers, secret
    for model in apps.get_models():
        if model is not Credential:
            dumped = serializers.serialize("json", model.objects.all())
            assert not [secret for secret in secrets if secret in dumped], model.__name__
    for record in caplog.records:
        text = record.getMessage() + repr(record.__dict__)
        assert not [secret for secret in secrets if secret in text], record.name


def test_a_credential_never_connected_fails_the_node_clearly(world):
    organization, _, api, _, provider = world
    data = {
        "authorize_url": f"{provider.url}/authorize",
        "token_url": f"{provider.url}/token",
        "client_id": "app",
        "client_secret": CLIENT_SECRET,
    }
    credential_create(organization=organization, name="crm", kind="oauth2_authorization_code", data=data)
    call = {"id": "call", "type": "http_request", "config": {"method": "GET", "url": f"{provider.url}/api"}}
    call["config"]["credential"] = "crm"
    definition = {
        "nodes": [{"id": "s", "type": "manual", "config": {}}, call],
        "edges": [{"source": "s", "target": "call"}],
    }
    workflow = workflow_create(organization=organization, name="crm", definition=definition)

    body = api.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {}}, format="json").json()

    node = {n["node_id"]: n for n in body["nodes"]}["call"]
    assert body["status"] == "failed" and "is not connected" in str(node["error"])
    assert provider.api_calls == []
