"""Integration nodes against a local HTTP server standing in for Slack, a webhook receiver and GitHub."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
import time_machine
from jsonschema import Draft202012Validator

from apps.nodes import http
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin import actions, integrations
from apps.nodes.builtin.integrations import GithubIssueNode, OutgoingWebhookNode, SlackMessageNode
from tests.nodes.fakeserver import FakeHTTPServer

ALLOW = {"allow_private_http": True}


def make_ctx(config, *, input=None, credentials=None, settings=ALLOW):
    return NodeContext(
        node_id="n1",
        execution_id="e1",
        organization_id="o1",
        config=config,
        inputs={"main": input},
        credentials=credentials or {},
        settings=settings,
    )


def schema_errors(node_cls, config):
    validator = Draft202012Validator(node_cls.config_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(config)]


@pytest.fixture
def server():
    with FakeHTTPServer() as fake:
        yield fake


# --- slack_message --------------------------------------------------------------------------------

SLACK_PATH = "/services/T000/B000/XXXX"


def test_slack_message_posts_text_and_blocks_to_the_webhook(server):
    server.reply("POST", SLACK_PATH, body="ok", headers={"Content-Type": "text/html"})
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Order 7* shipped"}}]
    config = {"text": "Order 7 shipped", "blocks": blocks, "webhook_url": server.url + SLACK_PATH}

    result = SlackMessageNode().run(make_ctx(config))

    assert result.outputs["main"] == {"status": 200, "response": "ok"}
    assert server.requests[0].json() == {"text": "Order 7 shipped", "blocks": blocks}
    assert server.requests[0].headers["content-type"] == "application/json"


def test_slack_message_takes_the_webhook_from_a_credential(server):
    server.reply("POST", SLACK_PATH, body="ok")
    credentials = {"slack": {"webhook_url": server.url + SLACK_PATH}}

    SlackMessageNode().run(make_ctx({"text": "hi", "credential": "slack"}, credentials=credentials))

    assert server.requests[0].json() == {"text": "hi"}


def test_slack_message_fails_when_slack_refuses(server):
    server.reply("POST", SLACK_PATH, status=404, body="no_service")

    with pytest.raises(NodeError) as exc_info:
        SlackMessageNode().run(make_ctx({"text": "hi", "webhook_url": server.url + SLACK_PATH}))

    assert exc_info.value.message == actions.HTTP_STATUS_ERROR.format(
        method="POST", url=server.url + SLACK_PATH, status=404
    )
    assert exc_info.value.data["body"] == "no_service"
    assert exc_info.value.retryable is False


def test_slack_message_credential_without_webhook_url():
    with pytest.raises(NodeError) as exc_info:
        SlackMessageNode().run(make_ctx({"text": "hi", "credential": "slack"}, credentials={"slack": {"token": "x"}}))

    assert exc_info.value.message == actions.CREDENTIAL_INCOMPLETE.format(name="slack", field="webhook_url")


def test_slack_message_without_any_webhook():
    with pytest.raises(NodeError) as exc_info:
        SlackMessageNode().run(make_ctx({"text": "hi"}))

    assert exc_info.value.message == integrations.SLACK_NO_WEBHOOK


def test_slack_message_refuses_loopback_unless_allowed(server):
    with pytest.raises(NodeError) as exc_info:
        SlackMessageNode().run(make_ctx({"text": "hi", "webhook_url": server.url + SLACK_PATH}, settings={}))

    assert exc_info.value.message == http.BLOCKED_ADDRESS.format(host="127.0.0.1", address="127.0.0.1")
    assert server.requests == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"webhook_url": "https://hooks.slack.com/x"}, "'text' is a required property"),
        ({"text": "hi"}, "is not valid under any of the given schemas"),
        ({"text": "hi", "webhook_url": "https://hooks.slack.com/x", "credential": "s"}, "is valid under each of"),
        ({"text": "hi", "webhook_url": "hooks.slack.com/x"}, "is not a 'uri'"),
        ({"text": "", "credential": "s"}, "should be non-empty"),
        ({"text": "hi", "credential": "s", "channel": "#general"}, "Additional properties"),
    ],
)
def test_slack_message_schema_rejects_bad_config(config, message):
    errors = schema_errors(SlackMessageNode, config)

    assert any(message in error for error in errors), errors


# --- outgoing_webhook -----------------------------------------------------------------------------

SECRET = {"hooks": {"secret": "whsec-test-123"}}


def test_outgoing_webhook_signs_the_exact_body_it_sends(server):
    """The receiver can recompute the HMAC over the raw body and the timestamp from the header."""
    server.reply("POST", "/receive", status=202, json_body={"received": True})
    config = {"url": f"{server.url}/receive", "credential": "hooks", "headers": {"X-Tenant": "acme"}}

    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        result = OutgoingWebhookNode().run(make_ctx(config, input={"order": 7, "total": 9.5}, credentials=SECRET))

    assert result.outputs["main"] == {"status": 202, "body": {"received": True}}
    request = server.requests[0]
    assert request.json() == {"order": 7, "total": 9.5}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tenant"] == "acme"
    timestamp, signature = (part.split("=", 1)[1] for part in request.headers["x-concertmaster-signature"].split(","))
    assert timestamp == str(int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()))
    expected = hmac.new(b"whsec-test-123", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)


def test_outgoing_webhook_signature_changes_with_the_secret_and_body():
    body = json.dumps({"a": 1}).encode()

    signature = integrations.sign("s1", 1700000000, body)

    assert signature.startswith("t=1700000000,v1=")
    assert signature != integrations.sign("s2", 1700000000, body)
    assert signature != integrations.sign("s1", 1700000000, body + b" ")
    assert signature != integrations.sign("s1", 1700000001, body)


def test_outgoing_webhook_configured_headers_cannot_forge_the_signature(server):
    server.reply("POST", "/receive", body="")
    config = {
        "url": f"{server.url}/receive",
        "credential": "hooks",
        "payload": {"x": 1},
        "headers": {"X-ConcertMaster-Signature": "t=1,v1=forged", "Content-Type": "text/plain"},
    }

    OutgoingWebhookNode().run(make_ctx(config, credentials=SECRET))

    assert "forged" not in server.requests[0].headers["x-concertmaster-signature"]
    assert server.requests[0].headers["content-type"] == "application/json"
    assert server.requests[0].body == b'{"x":1}'


def test_outgoing_webhook_retries_server_errors(server):
    server.reply("POST", "/receive", status=502, body="bad gateway")

    with pytest.raises(NodeError) as exc_info:
        OutgoingWebhookNode().run(make_ctx({"url": f"{server.url}/receive", "credential": "hooks"}, credentials=SECRET))

    assert exc_info.value.retryable is True
    assert exc_info.value.data["status"] == 502


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({}, actions.CREDENTIAL_MISSING.format(name="hooks")),
        ({"hooks": {"token": "x"}}, actions.CREDENTIAL_INCOMPLETE.format(name="hooks", field="secret")),
    ],
)
def test_outgoing_webhook_needs_a_secret(server, credentials, message):
    with pytest.raises(NodeError) as exc_info:
        OutgoingWebhookNode().run(
            make_ctx({"url": f"{server.url}/receive", "credential": "hooks"}, credentials=credentials)
        )

    assert exc_info.value.message == message
    assert server.requests == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "https://example.com/hook"}, "'credential' is a required property"),
        ({"credential": "hooks"}, "'url' is a required property"),
        ({"url": "mailto:a@example.com", "credential": "hooks"}, "does not match '^https?://'"),
        ({"url": "https://example.com/hook", "credential": "hooks", "method": "PUT"}, "Additional properties"),
    ],
)
def test_outgoing_webhook_schema_rejects_bad_config(config, message):
    errors = schema_errors(OutgoingWebhookNode, config)

    assert any(message in error for error in errors), errors


# --- github_issue ---------------------------------------------------------------------------------

GITHUB_TOKEN = {"gh": {"token": "ghp_test"}}


def github_config(server, **overrides):
    config = {"owner": "acme", "repo": "widgets", "title": "Order 7 failed", "credential": "gh", "api_base": server.url}
    return {**config, **overrides}


def test_github_issue_creates_an_issue(server):
    server.reply(
        "POST",
        "/repos/acme/widgets/issues",
        status=201,
        json_body={"number": 12, "id": 987, "html_url": "https://github.com/acme/widgets/issues/12", "state": "open"},
    )
    config = github_config(server, body="Card declined", labels=["bug", "payments"], assignees=["ada"])

    result = GithubIssueNode().run(make_ctx(config, credentials=GITHUB_TOKEN))

    assert result.outputs["main"] == {"number": 12, "html_url": "https://github.com/acme/widgets/issues/12", "id": 987}
    request = server.requests[0]
    assert request.json() == {
        "title": "Order 7 failed",
        "body": "Card declined",
        "labels": ["bug", "payments"],
        "assignees": ["ada"],
    }
    assert request.headers["authorization"] == "Bearer ghp_test"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"


def test_github_issue_api_base_may_end_with_a_slash(server):
    server.reply("POST", "/api/v3/repos/acme/widgets/issues", status=201, json_body={"number": 1, "html_url": "u"})

    result = GithubIssueNode().run(
        make_ctx(github_config(server, api_base=f"{server.url}/api/v3/"), credentials=GITHUB_TOKEN)
    )

    assert result.outputs["main"]["number"] == 1


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (404, False), (422, False), (503, True)])
def test_github_issue_errors_carry_githubs_answer(server, status, retryable):
    server.reply("POST", "/repos/acme/widgets/issues", status=status, json_body={"message": "Validation Failed"})

    with pytest.raises(NodeError) as exc_info:
        GithubIssueNode().run(make_ctx(github_config(server), credentials=GITHUB_TOKEN))

    assert exc_info.value.retryable is retryable
    assert exc_info.value.data["body"] == {"message": "Validation Failed"}


def test_github_issue_refuses_an_answer_without_an_issue(server):
    server.reply("POST", "/repos/acme/widgets/issues", status=201, body="<html>proxy</html>")

    with pytest.raises(NodeError) as exc_info:
        GithubIssueNode().run(make_ctx(github_config(server), credentials=GITHUB_TOKEN))

    assert exc_info.value.message == integrations.GITHUB_UNEXPECTED_ANSWER


@pytest.mark.parametrize(("field", "value"), [("owner", "acme/../admin"), ("repo", ".."), ("repo", "a b")])
def test_github_issue_refuses_rendered_names_that_would_change_the_path(server, field, value):
    with pytest.raises(NodeError) as exc_info:
        GithubIssueNode().run(make_ctx(github_config(server, **{field: value}), credentials=GITHUB_TOKEN))

    assert exc_info.value.message == integrations.GITHUB_BAD_NAME.format(field=field, value=value)
    assert server.requests == []


def test_github_issue_needs_a_token(server):
    with pytest.raises(NodeError) as exc_info:
        GithubIssueNode().run(make_ctx(github_config(server), credentials={"gh": {"password": "x"}}))

    assert exc_info.value.message == actions.CREDENTIAL_INCOMPLETE.format(name="gh", field="token")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"owner": "acme", "repo": "w", "credential": "gh"}, "'title' is a required property"),
        ({"owner": "acme", "repo": "w", "title": "t"}, "'credential' is a required property"),
        ({"owner": "ac/me", "repo": "w", "title": "t", "credential": "gh"}, "does not match"),
        ({"owner": "acme", "repo": "w", "title": "", "credential": "gh"}, "should be non-empty"),
        ({"owner": "acme", "repo": "w", "title": "t", "credential": "gh", "labels": ["a", "a"]}, "non-unique"),
        ({"owner": "acme", "repo": "w", "title": "t", "credential": "gh", "api_base": "github"}, "is not a 'uri'"),
        ({"owner": "acme", "repo": "w", "title": "t", "credential": "gh", "milestone": 1}, "Additional properties"),
    ],
)
def test_github_issue_schema_rejects_bad_config(config, message):
    errors = schema_errors(GithubIssueNode, config)

    assert any(message in error for error in errors), errors


def test_outgoing_webhook_sends_its_delivery_id(server):
    """The delivery id is the context's idempotency key, in its own header and as Idempotency-Key."""
    server.reply("POST", "/receive", status=202)
    ctx = make_ctx({"url": f"{server.url}/receive", "credential": "hooks"}, input={}, credentials=SECRET)

    OutgoingWebhookNode().run(ctx)

    headers = server.requests[0].headers
    assert headers["x-concertmaster-delivery"] == headers["idempotency-key"] == ctx.idempotency_key
