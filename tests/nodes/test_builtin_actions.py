"""Action nodes against real services: a local HTTP server, Django's mail backends, the datastore, storage."""

import base64
import logging

import pytest
from django.core import mail
from jsonschema import Draft202012Validator

from apps.nodes import credential_kinds, http
from apps.nodes import smtp as smtp_module
from apps.nodes.base import NodeContext, NodeError, idempotency_key
from apps.nodes.builtin import actions
from apps.nodes.builtin.actions import (
    CsvExportNode,
    DatastoreReadNode,
    DatastoreWriteNode,
    EmailSendNode,
    HttpRequestNode,
    LogNode,
    WebhookResponseNode,
)
from apps.nodes.datastore import DjangoNodeServices
from apps.nodes.files import file_storage
from tests.executions.factories import WorkflowExecutionFactory
from tests.nodes.fakeserver import FakeHTTPServer, FakeSMTPServer

ALLOW = {"allow_private_http": True}


def make_ctx(config, *, input=None, credentials=None, settings=ALLOW, services=None):
    return NodeContext(
        node_id="n1",
        execution_id="e1",
        organization_id="o1",
        config=config,
        inputs={"main": input},
        credentials=credentials or {},
        settings=settings,
        services=services,
    )


def schema_errors(node_cls, config):
    validator = Draft202012Validator(node_cls.config_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(config)]


@pytest.fixture
def server():
    with FakeHTTPServer() as fake:
        yield fake


@pytest.fixture
def services(organization):
    return DjangoNodeServices(organization.id)


# --- http_request ---------------------------------------------------------------------------------


def test_http_request_sends_json_query_headers_and_bearer_token(server):
    server.reply("POST", "/orders", status=201, json_body={"id": 7}, headers={"X-Request-Id": "r1"})
    config = {
        "method": "POST",
        "url": f"{server.url}/orders",
        "headers": {"X-Source": "concertmaster"},
        "query": {"dry_run": False, "n": 2},
        "json": {"sku": "A-1", "qty": 3},
        "credential": "shop",
    }

    result = HttpRequestNode().run(make_ctx(config, credentials={"shop": {"token": "tok-123"}}))

    assert result.outputs["main"]["status"] == 201
    assert result.outputs["main"]["body"] == {"id": 7}
    assert result.outputs["main"]["headers"]["x-request-id"] == "r1"
    request = server.requests[0]
    assert request.json() == {"sku": "A-1", "qty": 3}
    assert request.query == {"dry_run": ["false"], "n": ["2"]}
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["x-source"] == "concertmaster"


def test_http_request_sends_a_form_with_basic_auth(server):
    server.reply("PUT", "/form", body="saved", headers={"Content-Type": "text/plain"})
    config = {"method": "PUT", "url": f"{server.url}/form", "form": {"a": "1", "b": True}, "credential": "login"}
    credentials = {"login": {"username": "ada", "password": "s3cret"}}

    result = HttpRequestNode().run(make_ctx(config, credentials=credentials))

    assert result.outputs["main"]["body"] == "saved"
    assert server.requests[0].form() == {"a": ["1"], "b": ["true"]}
    expected = "Basic " + base64.b64encode(b"ada:s3cret").decode()
    assert server.requests[0].headers["authorization"] == expected


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (422, False), (429, True), (503, True)])
def test_http_request_fails_on_error_statuses(server, status, retryable):
    """A non-2xx answer fails the node; only statuses a server may recover from are retried."""
    server.reply("GET", "/thing", status=status, json_body={"error": "nope"})
    config = {"method": "GET", "url": f"{server.url}/thing"}

    with pytest.raises(NodeError) as exc_info:
        HttpRequestNode().run(make_ctx(config))

    assert exc_info.value.message == actions.HTTP_STATUS_ERROR.format(
        method="GET", url=f"{server.url}/thing", status=status
    )
    assert exc_info.value.retryable is retryable
    assert exc_info.value.data["body"] == {"error": "nope"}


def test_http_request_outputs_error_statuses_when_asked(server):
    server.reply("DELETE", "/gone", status=410, body="gone")
    config = {"method": "DELETE", "url": f"{server.url}/gone", "fail_on_status": False}

    result = HttpRequestNode().run(make_ctx(config))

    assert result.outputs["main"]["status"] == 410
    assert result.outputs["main"]["body"] == "gone"


def test_http_request_refuses_loopback_unless_allowed(server):
    server.reply("GET", "/", body="internal")
    config = {"method": "GET", "url": f"{server.url}/"}

    with pytest.raises(NodeError) as exc_info:
        HttpRequestNode().run(make_ctx(config, settings={}))

    assert exc_info.value.message == http.BLOCKED_ADDRESS.format(host="127.0.0.1", address="127.0.0.1")
    assert server.requests == []


def test_http_request_honours_its_timeout(server):
    server.reply("GET", "/slow", body="late", delay=1.0)
    config = {"method": "GET", "url": f"{server.url}/slow", "timeout_seconds": 0.2}

    with pytest.raises(NodeError) as exc_info:
        HttpRequestNode().run(make_ctx(config))

    assert exc_info.value.message == http.REQUEST_TIMEOUT.format(url=f"{server.url}/slow", seconds=0.2)


def test_http_request_needs_the_named_credential(server):
    config = {"method": "GET", "url": f"{server.url}/", "credential": "absent"}

    with pytest.raises(NodeError) as exc_info:
        HttpRequestNode().run(make_ctx(config))

    assert exc_info.value.message == actions.CREDENTIAL_MISSING.format(name="absent")
    assert server.requests == []


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"api_key": "x"}, "unknown"),
        ({"kind": "bearer"}, "bearer"),
        ({"username": "only"}, "unknown"),
        ({"kind": "oauth"}, "oauth"),
    ],
)
def test_http_request_refuses_unsupported_credentials(server, data, kind):
    config = {"method": "GET", "url": f"{server.url}/", "credential": "odd"}

    with pytest.raises(NodeError) as exc_info:
        HttpRequestNode().run(make_ctx(config, credentials={"odd": data}))

    assert exc_info.value.message == credential_kinds.CREDENTIAL_UNSUPPORTED.format(name="odd", kind=kind)
    assert exc_info.value.retryable is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"method": "GET"}, "'url' is a required property"),
        ({"method": "FETCH", "url": "https://x.test"}, "'FETCH' is not one of"),
        ({"method": "GET", "url": "not a url"}, "is not a 'uri'"),
        ({"method": "GET", "url": "ftp://x.test/file"}, "does not match '^https?://'"),
        ({"method": "POST", "url": "https://x.test", "json": {}, "form": {}}, "should not be valid under"),
        ({"method": "GET", "url": "https://x.test", "timeout_seconds": 0}, "less than or equal to the minimum"),
        ({"method": "GET", "url": "https://x.test", "headers": {"X": 1}}, "1 is not of type 'string'"),
        ({"method": "GET", "url": "https://x.test", "verify": False}, "Additional properties are not allowed"),
    ],
)
def test_http_request_schema_rejects_bad_config(config, message):
    errors = schema_errors(HttpRequestNode, config)

    assert any(message in error for error in errors), errors


# --- email_send -----------------------------------------------------------------------------------


def test_email_send_uses_the_configured_backend():
    """Without a credential the platform's backend (locmem in tests) sends, HTML as an alternative."""
    config = {
        "to": ["ada@example.com", "bob@example.com"],
        "cc": ["carol@example.com", "dan@example.com"],
        "bcc": ["audit@example.com"],
        "reply_to": "support@example.com",
        "from_email": "robot@example.com",
        "subject": "Order shipped",
        "body": "Your order is on its way.",
        "html": "<p>Your order is <b>on its way</b>.</p>",
    }

    result = EmailSendNode().run(make_ctx(config))

    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada@example.com", "bob@example.com"]
    assert sent.cc == ["carol@example.com", "dan@example.com"]
    assert sent.bcc == ["audit@example.com"]
    assert sent.reply_to == ["support@example.com"]
    assert sent.from_email == "robot@example.com"
    assert sent.alternatives[0][1] == "text/html"
    assert sent.message()["Message-ID"] == result.outputs["main"]["message_id"]
    assert result.outputs["main"]["to"] == ["ada@example.com", "bob@example.com"]


def test_email_send_through_an_smtp_credential():
    """With an SMTP credential the message goes to that server, logged in, bcc included in the envelope."""
    with FakeSMTPServer(users={"mailer": "pw"}) as smtp:
        credentials = {"smtp": {"host": "127.0.0.1", "port": smtp.port, "username": "mailer", "password": "pw"}}
        config = {"to": "ada@example.com", "bcc": "audit@example.com", "subject": "Hi", "body": "Hello Ada"}

        EmailSendNode().run(make_ctx({**config, "credential": "smtp"}, credentials=credentials))

    assert mail.outbox == []
    received = smtp.messages[0]
    assert received.auth == ("mailer", "pw")
    assert received.recipients == ["ada@example.com", "audit@example.com"]
    assert received.message["Subject"] == "Hi"
    assert received.message.get_payload().strip() == "Hello Ada"


def test_email_send_refused_login_is_not_retried():
    with FakeSMTPServer(users={"mailer": "pw"}) as smtp:
        credentials = {"smtp": {"host": "127.0.0.1", "port": smtp.port, "username": "mailer", "password": "wrong"}}
        config = {"to": "ada@example.com", "subject": "Hi", "body": "x", "credential": "smtp"}

        with pytest.raises(NodeError) as exc_info:
            EmailSendNode().run(make_ctx(config, credentials=credentials))

    assert exc_info.value.message == smtp_module.SMTP_AUTH_FAILED
    assert exc_info.value.retryable is False
    assert smtp.messages == []


def test_email_send_unreachable_server_is_retryable():
    with FakeSMTPServer() as smtp:
        port = smtp.port
    credentials = {"smtp": {"host": "127.0.0.1", "port": port}}
    config = {"to": "ada@example.com", "subject": "Hi", "body": "x", "credential": "smtp", "timeout_seconds": 2}

    with pytest.raises(NodeError) as exc_info:
        EmailSendNode().run(make_ctx(config, credentials=credentials))

    assert exc_info.value.message == smtp_module.SMTP_FAILED
    assert exc_info.value.retryable is True


def test_email_send_credential_needs_a_host():
    config = {"to": "ada@example.com", "subject": "Hi", "body": "x", "credential": "smtp"}

    with pytest.raises(NodeError) as exc_info:
        EmailSendNode().run(make_ctx(config, credentials={"smtp": {"username": "u"}}))

    assert exc_info.value.message == actions.CREDENTIAL_INCOMPLETE.format(name="smtp", field="host")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"to": "not-an-address", "subject": "s", "body": "b"},
            actions.INVALID_EMAIL.format(address="not-an-address", field="to"),
        ),
        (
            {"to": "a@example.com, b@example.com", "subject": "s", "body": "b"},
            actions.INVALID_EMAIL.format(address="a@example.com, b@example.com", field="to"),
        ),
        (
            {"to": ["a@example.com"], "cc": ["bad@"], "subject": "s", "body": "b"},
            actions.INVALID_EMAIL.format(address="bad@", field="cc"),
        ),
        (
            {"to": "a@example.com", "from_email": "me", "subject": "s", "body": "b"},
            actions.INVALID_EMAIL.format(address="me", field="from_email"),
        ),
    ],
)
def test_email_send_refuses_bad_addresses(config, message):
    with pytest.raises(NodeError) as exc_info:
        EmailSendNode().run(make_ctx(config))

    assert exc_info.value.message == message
    assert mail.outbox == []


def test_email_send_refuses_header_injection():
    config = {"to": "a@example.com", "subject": "Hi\nBcc: victim@example.com", "body": "b"}

    with pytest.raises(NodeError) as exc_info:
        EmailSendNode().run(make_ctx(config))

    assert exc_info.value.message.startswith("Email headers may not contain newlines")
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"subject": "s", "body": "b"}, "'to' is a required property"),
        ({"to": [], "subject": "s", "body": "b"}, "should be non-empty"),
        ({"to": "nobody", "subject": "s", "body": "b"}, "'nobody' is not a 'email'"),
        ({"to": ["a@example.com", "nobody"], "subject": "s", "body": "b"}, "'nobody' is not a 'email'"),
        ({"to": {"a": "a@example.com"}, "subject": "s", "body": "b"}, "is not of type 'string', 'array'"),
        ({"to": "a@example.com", "from_email": "me", "subject": "s", "body": "b"}, "is not a 'email'"),
        ({"to": "a@example.com", "body": "b"}, "'subject' is a required property"),
        ({"to": "a@example.com", "subject": "s", "body": "b", "attachments": []}, "Additional properties"),
    ],
)
def test_email_send_schema_rejects_bad_config(config, message):
    errors = schema_errors(EmailSendNode, config)

    assert any(message in error for error in errors), errors


# --- datastore_write / datastore_read ------------------------------------------------------------


def test_datastore_write_then_read_one_record(services):
    """A value written by one node is read back by another through the organization's datastore."""
    written = DatastoreWriteNode().run(
        make_ctx({"collection": "customers", "key": "c-1", "value": {"name": "Ada"}}, services=services)
    )
    read = DatastoreReadNode().run(make_ctx({"collection": "customers", "key": "c-1"}, services=services))

    assert written.outputs["main"]["created"] is True
    assert read.outputs["main"] == {"found": True, "key": "c-1", "value": {"name": "Ada"}}


def test_datastore_write_stores_the_input_when_no_value_is_configured(services):
    DatastoreWriteNode().run(make_ctx({"collection": "events", "key": "7"}, input=[1, 2], services=services))

    assert services.datastore_get(collection="events", key="7") == [1, 2]


def test_datastore_read_missing_key(services):
    config = {"collection": "customers", "key": "nobody"}

    assert DatastoreReadNode().run(make_ctx(config, services=services)).outputs["main"]["found"] is False
    with pytest.raises(NodeError) as exc_info:
        DatastoreReadNode().run(make_ctx({**config, "fail_if_missing": True}, services=services))
    assert exc_info.value.message == DatastoreReadNode.MISSING.format(key="nobody", collection="customers")


def test_datastore_read_lists_a_collection(services):
    for key in ("b", "a", "c"):
        services.datastore_put(collection="letters", key=key, value={"k": key})

    result = DatastoreReadNode().run(make_ctx({"collection": "letters", "limit": 2}, services=services))

    assert result.outputs["main"]["count"] == 2
    assert [record["key"] for record in result.outputs["main"]["records"]] == ["a", "b"]


def test_datastore_write_of_null_fails(services):
    with pytest.raises(NodeError) as exc_info:
        DatastoreWriteNode().run(make_ctx({"collection": "c", "key": "k"}, input=None, services=services))

    assert "cannot be null" in exc_info.value.message


@pytest.mark.parametrize("node_cls", [DatastoreWriteNode, DatastoreReadNode])
def test_datastore_nodes_need_platform_services(node_cls):
    with pytest.raises(NodeError) as exc_info:
        node_cls().run(make_ctx({"collection": "c", "key": "k"}, input={"a": 1}))

    assert exc_info.value.message == actions.SERVICES_UNAVAILABLE


@pytest.mark.parametrize(
    ("node_cls", "config", "message"),
    [
        (DatastoreWriteNode, {"collection": "c"}, "'key' is a required property"),
        (DatastoreWriteNode, {"collection": "a/b", "key": "k"}, "does not match"),
        (DatastoreWriteNode, {"collection": "c", "key": ""}, "should be non-empty"),
        (DatastoreReadNode, {"key": "k"}, "'collection' is a required property"),
        (DatastoreReadNode, {"collection": "c", "limit": 0}, "less than the minimum"),
        (DatastoreReadNode, {"collection": "c", "order": "desc"}, "Additional properties"),
    ],
)
def test_datastore_schemas_reject_bad_config(node_cls, config, message):
    errors = schema_errors(node_cls, config)

    assert any(message in error for error in errors), errors


# --- csv_export -----------------------------------------------------------------------------------


@pytest.fixture
def csv_ctx(db, local_files):
    """A context whose execution exists: the exported file is listed with it (apps/executions/files.py)."""
    execution = WorkflowExecutionFactory()

    def make(config, *, input=None):
        return NodeContext(
            node_id="n1",
            execution_id=str(execution.pk),
            organization_id=str(execution.organization_id),
            config=config,
            inputs={"main": input},
            services=DjangoNodeServices(str(execution.organization_id)),
        )

    return make


def read_export(file):
    with file_storage().open(file["storage_key"]) as handle:
        return handle.read().decode()


def test_csv_export_writes_the_input_rows_to_storage(csv_ctx):
    rows = [{"name": "Ada", "score": 3}, {"name": "Bob", "tags": ["a", "b"], "active": True}]

    result = CsvExportNode().run(csv_ctx({"filename": "scores.csv"}, input=rows))

    output = result.outputs["main"]
    assert output["rows"] == 2
    assert output["columns"] == ["name", "score", "tags", "active"]
    assert output["file"]["name"] == "scores.csv"
    assert read_export(output["file"]) == 'name,score,tags,active\r\nAda,3,,\r\nBob,,"[""a"", ""b""]",true\r\n'


def test_csv_export_honours_columns_delimiter_header_and_formula_escaping(csv_ctx):
    config = {
        "filename": "out.csv",
        "rows": [{"a": '=HYPERLINK("http://evil")', "b": -5, "c": "ignored"}, {"a": "@SUM(A1)", "b": "-x"}],
        "columns": ["a", "b"],
        "delimiter": ";",
        "include_header": False,
    }

    result = CsvExportNode().run(csv_ctx(config))

    assert read_export(result.outputs["main"]["file"]) == '"\'=HYPERLINK(""http://evil"")";-5\r\n\'@SUM(A1);\'-x\r\n'


def test_csv_export_can_keep_formulas(csv_ctx):
    config = {"filename": "raw.csv", "rows": [{"a": "=1+1"}], "escape_formulas": False}

    result = CsvExportNode().run(csv_ctx(config))

    assert read_export(result.outputs["main"]["file"]) == "a\r\n=1+1\r\n"


def test_csv_export_of_no_rows_is_an_empty_file(csv_ctx):
    result = CsvExportNode().run(csv_ctx({"filename": "empty.csv"}, input=[]))

    assert result.outputs["main"]["rows"] == 0
    assert read_export(result.outputs["main"]["file"]) == ""


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"not": "a list"}, actions.ROWS_NOT_A_LIST.format(type="dict")),
        (None, actions.ROWS_NOT_A_LIST.format(type="NoneType")),
        ([{"a": 1}, 5], actions.ROW_NOT_AN_OBJECT.format(index=1, type="int")),
    ],
)
def test_csv_export_refuses_rows_that_are_not_objects(csv_ctx, rows, message):
    with pytest.raises(NodeError) as exc_info:
        CsvExportNode().run(csv_ctx({"filename": "x.csv"}, input=rows))

    assert exc_info.value.message == message
    assert exc_info.value.retryable is False


def test_csv_export_limits_rows(csv_ctx, monkeypatch):
    monkeypatch.setattr(CsvExportNode, "MAX_ROWS", 2)

    with pytest.raises(NodeError) as exc_info:
        CsvExportNode().run(csv_ctx({"filename": "x.csv", "rows": [{}, {}, {}]}))

    assert exc_info.value.message == actions.TOO_MANY_ROWS.format(limit=2, count=3)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'filename' is a required property"),
        ({"filename": "../etc/x.csv"}, "does not match"),
        ({"filename": "report.xlsx"}, "does not match"),
        ({"filename": "x.csv", "delimiter": "x"}, "is not one of"),
        ({"filename": "x.csv", "columns": ["a", "a"]}, "has non-unique elements"),
        ({"filename": "x.csv", "rows": [1]}, "is not of type 'object'"),
    ],
)
def test_csv_export_schema_rejects_bad_config(config, message):
    errors = schema_errors(CsvExportNode, config)

    assert any(message in error for error in errors), errors


# --- webhook_response and log ---------------------------------------------------------------------


def test_webhook_response_outputs_the_configured_response():
    config = {"status": 202, "headers": {"X-Job": "42"}, "body": {"accepted": True}}

    result = WebhookResponseNode().run(make_ctx(config, input={"ignored": 1}))

    assert result.outputs == {"main": {"status": 202, "headers": {"X-Job": "42"}, "body": {"accepted": True}}}


def test_webhook_response_body_defaults_to_the_input():
    result = WebhookResponseNode().run(make_ctx({"status": 200}, input={"total": 3}))

    assert result.outputs["main"] == {"status": 200, "headers": {}, "body": {"total": 3}}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'status' is a required property"),
        ({"status": 700}, "greater than the maximum"),
        ({"status": "200"}, "is not of type 'integer'"),
        ({"status": 200, "headers": {"X": ["a"]}}, "is not of type 'string'"),
    ],
)
def test_webhook_response_schema_rejects_bad_config(config, message):
    errors = schema_errors(WebhookResponseNode, config)

    assert any(message in error for error in errors), errors


def test_log_writes_at_the_level_with_execution_ids(caplog):
    caplog.set_level(logging.DEBUG, logger="concertmaster.node")

    result = LogNode().run(make_ctx({"message": "order 7 shipped", "level": "warning"}))

    assert result.outputs["main"] == {"message": "order 7 shipped", "level": "warning"}
    record = caplog.records[-1]
    assert (record.levelno, record.getMessage()) == (logging.WARNING, "order 7 shipped")
    assert (record.execution_id, record.node_id) == ("e1", "n1")


def test_log_writes_non_text_values_as_json(caplog):
    caplog.set_level(logging.INFO, logger="concertmaster.node")

    result = LogNode().run(make_ctx({"message": {"total": 3}}))

    assert result.outputs["main"] == {"message": '{"total": 3}', "level": "info"}
    assert caplog.records[-1].levelno == logging.INFO


@pytest.mark.parametrize(
    ("config", "message"),
    [({}, "'message' is a required property"), ({"message": "x", "level": "fatal"}, "is not one of")],
)
def test_log_schema_rejects_bad_config(config, message):
    errors = schema_errors(LogNode, config)

    assert any(message in error for error in errors), errors


# --- idempotency keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_http_request_sends_the_contexts_idempotency_key(server, method):
    server.reply(method, "/orders", status=200)
    ctx = make_ctx({"method": method, "url": f"{server.url}/orders"})

    HttpRequestNode().run(ctx)

    assert server.requests[0].headers["idempotency-key"] == ctx.idempotency_key
    assert ctx.idempotency_key == idempotency_key("e1", "n1")


def test_http_request_get_sends_no_idempotency_key(server):
    server.reply("GET", "/orders", status=200)

    HttpRequestNode().run(make_ctx({"method": "GET", "url": f"{server.url}/orders"}))

    assert "idempotency-key" not in server.requests[0].headers


def test_http_request_keeps_an_idempotency_key_the_user_set(server):
    server.reply("POST", "/orders", status=200)

    config = {"method": "POST", "url": f"{server.url}/orders", "headers": {"idempotency-KEY": "mine"}}

    HttpRequestNode().run(make_ctx(config))

    assert server.requests[0].headers["idempotency-key"] == "mine"
