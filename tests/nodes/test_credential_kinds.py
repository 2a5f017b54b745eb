"""Credential kinds: the schemas, the services' validation, the API's kinds, and `http_request` authenticating
with each kind against real local servers (an HTTP server and a small OAuth2 server)."""

import base64
import logging

import pytest
from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

from apps.nodes import credential_kinds
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin.actions import HttpRequestNode
from apps.workflows.models import Credential
from apps.workflows.services import credential_create, credential_update
from tests.nodes.fakeserver import FakeHTTPServer
from tests.nodes.oauth2server import OAuth2Server
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

ALLOW = {"allow_private_http": True}
SECRET = "s3cr3t-value-Zq9"


def run(url: str, kind: str, data: dict, **config):
    ctx = NodeContext(
        node_id="n1",
        execution_id="e1",
        organization_id="o1",
        config={"method": "GET", "url": url, "credential": "c", **config},
        inputs={"main": None},
        credentials={"c": credential_kinds.node_data(kind, data)},
        settings=ALLOW,
    )
    return HttpRequestNode().run(ctx)


@pytest.fixture
def server():
    with FakeHTTPServer() as fake:
        fake.reply("GET", "/x", json_body={"ok": True})
        yield fake


@pytest.fixture
def oauth():
    with OAuth2Server({"app": SECRET}) as fake:
        yield fake


def oauth_data(oauth, **extra):
    return {"token_url": f"{oauth.url}/token", "client_id": "app", "client_secret": SECRET, **extra}


# --- the registry ---------------------------------------------------------------------------------------


def test_every_kind_has_a_valid_schema_and_names_its_secrets():
    expected = {"bearer", "basic", "header", "query", "oauth2_client_credentials", "aws", "smtp", "database"}
    assert expected <= set(credential_kinds.KINDS)
    for kind in credential_kinds.KINDS.values():
        Draft202012Validator.check_schema(kind.schema)
        assert kind.secret_fields, kind.name
    assert credential_kinds.get_kind("http_bearer").name == "bearer"
    assert credential_kinds.get_kind("http_basic").name == "basic"
    assert credential_kinds.get_kind("github") is None


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("header", {"value": SECRET}, "data: 'header' is a required property"),
        ("header", {"header": "X Bad", "value": SECRET}, "data.header:"),
        ("query", {"parameter": "", "value": SECRET}, "data.parameter:"),
        (
            "oauth2_client_credentials",
            {"token_url": "ftp://x", "client_id": "a", "client_secret": SECRET},
            "data.token_url:",
        ),
        ("aws", {"access_key_id": "AK", "secret_access_key": SECRET, "region": "EU WEST"}, "data.region:"),
        ("smtp", {"host": "mail", "port": 70000}, "data.port:"),
        ("database", {"host": "db", "database": "d", "user": "u", "ssl_mode": "sometimes"}, "data.ssl_mode:"),
        ("bearer", {"token": SECRET, "extra": 1}, "data: Additional properties"),
        ("bearer", {"token": 12345}, "data.token:"),
        ("bearer", ["not", "an", "object"], "data: "),
    ],
)
def test_bad_data_is_refused_naming_the_field(kind, data, field):
    errors = credential_kinds.validate_data(kind, data)

    assert list(errors) == ["data"]
    assert any(message.startswith(field) for message in errors["data"]), errors
    assert SECRET not in str(errors)


def test_a_secret_of_the_wrong_shape_is_not_echoed():
    errors = credential_kinds.validate_data("basic", {"username": "ada", "password": SECRET * 1000})

    assert errors and SECRET not in str(errors)


@pytest.mark.django_db
def test_services_validate_registered_kinds_and_keep_the_others(organization):
    with pytest.raises(ValidationError) as exc_info:
        credential_create(organization=organization, name="h", kind="header", data={"header": "X-Key"})
    assert "data: 'value' is a required property" in exc_info.value.message_dict["data"]
    assert not Credential.objects.filter(name="h").exists()

    legacy = credential_create(organization=organization, name="old", kind="http_bearer", data={"token": SECRET})
    other = credential_create(organization=organization, name="gh", kind="github", data={"anything": 1})
    assert (legacy.data, other.data) == ({"token": SECRET}, {"anything": 1})

    with pytest.raises(ValidationError):
        credential_update(credential=legacy, data={"token": ""})
    legacy.refresh_from_db()
    assert legacy.data == {"token": SECRET}


# --- the API --------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(db):
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


def test_the_api_serves_each_kinds_schema(admin_client):
    _, client = admin_client

    listed = client.get("/api/v1/credential-kinds/")
    one = client.get("/api/v1/credential-kinds/header/")
    alias = client.get("/api/v1/credential-kinds/http_bearer/")
    missing = client.get("/api/v1/credential-kinds/nope/")

    assert listed.status_code == 200
    assert {kind["name"] for kind in listed.json()} >= {"header", "query", "oauth2_client_credentials", "aws"}
    assert one.json()["schema"]["required"] == ["header", "value"]
    assert one.json()["secret_fields"] == ["value"]
    assert alias.json()["name"] == "bearer"
    assert missing.status_code == 404


def test_the_api_refuses_bad_data_and_never_answers_a_secret(admin_client):
    organization, client = admin_client
    url = "/api/v1/credentials/"
    base = {"organization": str(organization.pk), "name": "key", "kind": "header"}

    bad = client.post(url, {**base, "data": {"header": "X-Key", "value": 5}}, format="json")
    good = client.post(url, {**base, "data": {"header": "X-Key", "value": SECRET}}, format="json")

    assert bad.status_code == 400, bad.content
    assert "data.value" in bad.content.decode()
    assert good.status_code == 201, good.content
    assert good.json()["fields_set"] == ["header", "value"]
    shown = good.content + client.get(f"{url}{good.json()['id']}/").content + client.get(url).content
    assert SECRET.encode() not in shown


def test_the_api_needs_a_login(db):
    assert APIClient().get("/api/v1/credential-kinds/").status_code in (401, 403)


# --- http_request with each kind ------------------------------------------------------------------------


def test_header_auth_uses_any_header_name(server):
    result = run(f"{server.url}/x", "header", {"header": "X-Api-Key", "value": SECRET})

    assert result.outputs["main"]["status"] == 200
    assert server.requests[0].headers["x-api-key"] == SECRET
    assert "authorization" not in server.requests[0].headers


def test_query_auth_adds_the_parameter_beside_the_configs(server):
    run(f"{server.url}/x", "query", {"parameter": "api_key", "value": SECRET}, query={"page": 2})

    assert server.requests[0].query == {"page": ["2"], "api_key": [SECRET]}


def test_query_auth_secret_stays_out_of_the_error(server):
    server.reply("GET", "/x", status=500, body="down")

    with pytest.raises(NodeError) as exc_info:
        run(f"{server.url}/x", "query", {"parameter": "api_key", "value": SECRET})

    assert SECRET not in exc_info.value.message
    assert SECRET not in str(exc_info.value.data)


@pytest.mark.parametrize("kind", ["bearer", "http_bearer"])
def test_bearer_and_its_old_name(server, kind):
    run(f"{server.url}/x", kind, {"token": SECRET})

    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize("kind", ["basic", "http_basic"])
def test_basic_and_its_old_name(server, kind):
    run(f"{server.url}/x", kind, {"username": "ada", "password": SECRET})

    expected = "Basic " + base64.b64encode(f"ada:{SECRET}".encode()).decode()
    assert server.requests[0].headers["authorization"] == expected


@pytest.mark.parametrize("kind", ["aws", "smtp", "database"])
def test_kinds_without_http_auth_are_refused_without_a_request(server, kind):
    data = {"access_key_id": "AK", "secret_access_key": SECRET, "region": "eu-west-1", "host": "h", "password": SECRET}

    with pytest.raises(NodeError) as exc_info:
        run(f"{server.url}/x", kind, data)

    assert exc_info.value.message == credential_kinds.CREDENTIAL_UNSUPPORTED.format(name="c", kind=kind)
    assert exc_info.value.retryable is False
    assert server.requests == []


def test_oauth2_fetches_a_token_and_reuses_it_until_it_expires(oauth):
    first = run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth, scope="read"))
    second = run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth, scope="read"))

    assert first.outputs["main"]["body"] == second.outputs["main"]["body"] == {"ok": True, "client": "app"}
    assert len(oauth.token_requests) == 1
    assert oauth.token_requests[0] == {
        "grant_type": "client_credentials",
        "client_id": "app",
        "client_secret": SECRET,
        "scope": "read",
    }
    assert oauth.api_calls == ["Bearer at-1-app", "Bearer at-1-app"]


def test_oauth2_fetches_again_once_the_token_nears_its_expiry(oauth):
    oauth.expires_in = int(credential_kinds.TOKEN_EXPIRY_MARGIN)  # expired as soon as it is cached

    run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth))
    run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth))

    assert len(oauth.token_requests) == 2
    assert oauth.api_calls == ["Bearer at-1-app", "Bearer at-2-app"]


def test_oauth2_refreshes_a_token_the_api_no_longer_takes(oauth):
    run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth))
    oauth.revoke_all()

    result = run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth))

    assert result.outputs["main"]["status"] == 200
    assert oauth.api_calls == ["Bearer at-1-app", "Bearer at-1-app", "Bearer at-2-app"]


def test_oauth2_client_auth_in_basic(oauth):
    run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth, client_auth="basic"))

    assert oauth.token_requests == [{"grant_type": "client_credentials"}]
    assert oauth.api_calls == ["Bearer at-1-app"]


def test_oauth2_refused_client_fails_without_showing_the_secret(oauth):
    with pytest.raises(NodeError) as exc_info:
        run(f"{oauth.url}/api", "oauth2_client_credentials", oauth_data(oauth, client_secret="wrong-" + SECRET))

    assert exc_info.value.message == credential_kinds.TOKEN_FAILED.format(url=f"{oauth.url}/token", status=401)
    assert exc_info.value.retryable is False
    assert SECRET not in repr(exc_info.value.data) + exc_info.value.message
    assert oauth.api_calls == []


def test_oauth2_token_endpoint_without_a_token(server):
    server.reply("POST", "/token", json_body={"token_type": "Bearer"})
    data = {"token_url": f"{server.url}/token", "client_id": "app", "client_secret": SECRET}

    with pytest.raises(NodeError) as exc_info:
        run(f"{server.url}/x", "oauth2_client_credentials", data)

    assert exc_info.value.message == credential_kinds.TOKEN_INVALID.format(url=f"{server.url}/token")


def test_oauth2_token_endpoint_is_under_the_private_address_rule(oauth):
    ctx = NodeContext(
        node_id="n1",
        execution_id="e1",
        organization_id="o1",
        config={"method": "GET", "url": "https://example.com/api", "credential": "c"},
        inputs={"main": None},
        credentials={"c": credential_kinds.node_data("oauth2_client_credentials", oauth_data(oauth))},
        settings={"allow_private_http": False},
    )

    with pytest.raises(NodeError) as exc_info:
        HttpRequestNode().run(ctx)

    assert exc_info.value.retryable is False
    assert oauth.token_requests == []


def test_httpx_logs_urls_without_their_query(server, caplog):
    """The defect: httpx's INFO line `HTTP Request: GET http://...?api_key=<secret>` showed a query-auth secret."""
    caplog.set_level(logging.INFO, logger="httpx")

    run(f"{server.url}/x", "query", {"parameter": "api_key", "value": SECRET})

    lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
    assert lines and all(SECRET not in line for line in lines)
    assert f"{server.url}/x" in lines[0]


@pytest.mark.django_db
def test_a_rename_keeps_data_stored_before_the_schema(organization):
    old = Credential.objects.create(
        organization=organization, name="old", kind="http_bearer", data={"token": "t", "x": 1}
    )

    credential_update(credential=old, name="renamed")
    with pytest.raises(ValidationError):
        credential_update(credential=old, kind="bearer")

    old.refresh_from_db()
    assert (old.name, old.kind, old.data) == ("renamed", "http_bearer", {"token": "t", "x": 1})


def test_the_api_cannot_mark_a_credential_internal(admin_client):
    organization, client = admin_client
    data = {"host": "10.0.0.5", "database": "d", "user": "u", "password": SECRET}
    body = {"organization": str(organization.pk), "name": "db", "kind": "database", "data": data, "allow_private": True}

    response = client.post("/api/v1/credentials/", body, format="json")

    assert response.status_code == 400, response.content
    assert "allow_private" in response.content.decode()
    assert not Credential.objects.filter(name="db").exists()
