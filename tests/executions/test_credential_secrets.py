"""Secrets stay secret through real runs: for each credential kind a workflow runs on the worker against a real
local server, and the secret is then looked for in every row of the database (configs, rendered configs,
outputs, events, logs, audit rows; only the credential's own encrypted row may hold it), in the API's answers
about the run and the credential, and in every log record written meanwhile."""

import logging

import pytest
from django.apps import apps
from django.core import serializers
from django.db import connection
from rest_framework.test import APIClient

from apps.workflows.models import Credential
from apps.workflows.services import credential_create, workflow_create
from tests.nodes.fakeserver import FakeHTTPServer, FakeSMTPServer
from tests.nodes.oauth2server import OAuth2Server
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.slow

SECRET = "Sx-7f3a9c-never-shown"


@pytest.fixture
def admin_client(engine_worker, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True  # the servers are on loopback
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client = APIClient()
    client.force_authenticate(user)
    return organization, user, client


def _run(client, organization, user, node: dict, kind: str, data: dict, *, allow_private: bool = False) -> dict:
    credential = credential_create(
        organization=organization, name="cred", kind=kind, data=data, allow_private=allow_private, actor=user
    )
    definition = {
        "nodes": [{"id": "start", "type": "manual", "config": {}}, {"id": "call", **node}],
        "edges": [{"source": "start", "target": "call"}],
    }
    workflow = workflow_create(organization=organization, name=f"uses {kind}", definition=definition, actor=user)
    response = client.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {}}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "succeeded", body
    answers = [
        response.content,
        client.get(f"/api/v1/executions/{body['id']}/").content,
        client.get(f"/api/v1/executions/{body['id']}/events/").content,
        client.get(f"/api/v1/credentials/{credential.pk}/").content,
        client.get("/api/v1/credentials/").content,
        client.get(f"/api/v1/workflows/{workflow.pk}/").content,
    ]
    for answer in answers:
        assert SECRET.encode() not in answer
    return body


def _assert_nowhere_but_the_credential(caplog):
    for model in apps.get_models():
        if model is Credential:
            continue
        dumped = serializers.serialize("json", model.objects.all())
        assert SECRET not in dumped, model.__name__
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.name
        assert SECRET not in repr(getattr(record, "__dict__", {})), record.name
    with connection.cursor() as cursor:  # the credential's own row: encrypted at rest
        cursor.execute(f"SELECT data FROM {Credential._meta.db_table}")
        stored = cursor.fetchall()
    assert stored and SECRET not in str(stored)


def _http(url: str) -> dict:
    return {"type": "http_request", "config": {"method": "GET", "url": url, "credential": "cred"}}


@pytest.mark.parametrize(
    ("kind", "data", "check"),
    [
        ("bearer", {"token": SECRET}, lambda r: r.headers["authorization"] == f"Bearer {SECRET}"),
        ("http_bearer", {"token": SECRET}, lambda r: r.headers["authorization"] == f"Bearer {SECRET}"),
        ("basic", {"username": "ada", "password": SECRET}, lambda r: r.headers["authorization"].startswith("Basic ")),
        ("header", {"header": "X-Api-Key", "value": SECRET}, lambda r: r.headers["x-api-key"] == SECRET),
        ("query", {"parameter": "key", "value": SECRET}, lambda r: r.query == {"key": [SECRET]}),
    ],
)
def test_http_request_kinds_keep_the_secret(admin_client, caplog, kind, data, check):
    caplog.set_level(logging.DEBUG)  # every logger: the worker runs in this process
    organization, user, client = admin_client
    with FakeHTTPServer() as server:
        server.reply("GET", "/x", json_body={"ok": True})
        _run(client, organization, user, _http(f"{server.url}/x"), kind, data)

    assert len(server.requests) == 1 and check(server.requests[0])
    _assert_nowhere_but_the_credential(caplog)


def test_oauth2_client_credentials_keep_the_secret_and_the_token(admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    organization, user, client = admin_client
    with OAuth2Server({"app": SECRET}) as oauth:
        data = {"token_url": f"{oauth.url}/token", "client_id": "app", "client_secret": SECRET}
        body = _run(client, organization, user, _http(f"{oauth.url}/api"), "oauth2_client_credentials", data)

    assert oauth.api_calls == ["Bearer at-1-app"]
    assert "at-1-app" not in str(body)  # the access token is a secret too
    _assert_nowhere_but_the_credential(caplog)


def test_smtp_keeps_the_password(admin_client, caplog):
    caplog.set_level(logging.DEBUG)
    organization, user, client = admin_client
    with FakeSMTPServer(users={"mailer": SECRET}) as smtp:
        node = {
            "type": "email_send",
            "config": {"to": "ada@example.com", "subject": "Hi", "body": "Hello", "credential": "cred"},
        }
        data = {"host": "127.0.0.1", "port": smtp.port, "username": "mailer", "password": SECRET}
        _run(client, organization, user, node, "smtp", data)

    assert smtp.messages[0].auth == ("mailer", SECRET)
    _assert_nowhere_but_the_credential(caplog)


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("aws", {"access_key_id": "AKIA1", "secret_access_key": SECRET, "region": "eu-west-1"}),
    ],
)
def test_kinds_no_node_sends_yet_stay_out_of_answers_and_rows(admin_client, caplog, kind, data):
    """aws credentials have no node that uses them yet (s3): stored and served."""
    caplog.set_level(logging.DEBUG)
    organization, _, client = admin_client
    response = client.post(
        "/api/v1/credentials/",
        {"organization": str(organization.pk), "name": "cred", "kind": kind, "data": data},
        format="json",
    )

    assert response.status_code == 201, response.content
    assert SECRET.encode() not in response.content + client.get("/api/v1/credentials/").content
    _assert_nowhere_but_the_credential(caplog)


def test_postgres_query_through_an_internal_database_credential_keeps_the_password(admin_client, caplog, settings):
    """The machine's PostgreSQL on loopback: refused by the private-address rule unless the credential is internal."""
    caplog.set_level(logging.DEBUG)
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = False
    organization, user, client = admin_client
    node = {
        "type": "postgres_query",
        "config": {"credential": "cred", "query": "SELECT %s::text AS echoed", "parameters": ["{{ 'hello' }}"]},
    }
    data = {"host": "127.0.0.1", "port": 5432, "database": "postgres", "user": "postgres", "password": SECRET}

    body = _run(client, organization, user, node, "database", data, allow_private=True)

    call = {n["node_id"]: n for n in body["nodes"]}["call"]
    assert call["output"]["rows"] == [{"echoed": "hello"}]
    _assert_nowhere_but_the_credential(caplog)


def test_an_org_secret_reached_through_a_credential_and_an_org_variable_in_the_url(admin_client, caplog):
    """The credential holds `{{ org.secrets.API_KEY }}`: the node sends the secret's value; the URL reads
    `org.vars.API_PATH`. The secret is nowhere but the server's request (the secret row is encrypted)."""
    from apps.orgs.models import OrganizationSecret
    from apps.orgs.variables import org_secret_create, org_variable_create

    caplog.set_level(logging.DEBUG)
    organization, user, client = admin_client
    org_secret_create(organization=organization, name="API_KEY", value=SECRET, actor=user)
    org_variable_create(organization=organization, name="API_PATH", value="/v2/items", actor=user)
    data = {"header": "X-Api-Key", "value": "{{ org.secrets.API_KEY }}"}
    with FakeHTTPServer() as server:
        server.reply("GET", "/v2/items", json_body={"ok": True})
        node = _http(server.url + "{{ org.vars.API_PATH }}")
        _run(client, organization, user, node, "header", data)
        secrets_answer = client.get("/api/v1/org-secrets/").content

    assert [r.headers["x-api-key"] for r in server.requests] == [SECRET]
    assert SECRET.encode() not in secrets_answer
    for model in apps.get_models():
        if model is not OrganizationSecret:
            assert SECRET not in serializers.serialize("json", model.objects.all()), model.__name__
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {OrganizationSecret._meta.db_table}")
        assert SECRET not in str(cursor.fetchall())


def test_a_credential_naming_a_missing_org_secret_fails_the_node_clearly(admin_client):
    organization, user, client = admin_client
    credential_create(
        organization=organization, name="cred", kind="bearer", data={"token": "{{ org.secrets.GONE }}"}, actor=user
    )
    definition = {
        "nodes": [{"id": "start", "type": "manual", "config": {}}, {"id": "call", **_http("http://127.0.0.1:9/x")}],
        "edges": [{"source": "start", "target": "call"}],
    }
    workflow = workflow_create(organization=organization, name="missing", definition=definition, actor=user)

    body = client.post(f"/api/v1/workflows/{workflow.pk}/execute/?wait=20", {"input": {}}, format="json").json()

    call = {n["node_id"]: n for n in body["nodes"]}["call"]
    assert body["status"] == "failed"
    assert "names org secret 'GONE'" in str(call["error"]), call
