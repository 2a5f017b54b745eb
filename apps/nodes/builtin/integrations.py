"""Integration nodes: Slack, signed outgoing webhooks and GitHub, all through the guarded HTTP client."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import quote

from apps.nodes import http
from apps.nodes.base import Node, NodeContext, NodeError, NodeResult
from apps.nodes.builtin.actions import (
    CREDENTIAL_NAME,
    IDEMPOTENCY_HEADER,
    STRING_MAP,
    credential_data,
    credential_value,
    status_error,
)
from apps.nodes.registry import register

SIGNATURE_HEADER = "X-ConcertMaster-Signature"
DELIVERY_HEADER = "X-ConcertMaster-Delivery"
GITHUB_API = "https://api.github.com"
GITHUB_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

SLACK_NO_WEBHOOK = "Set webhook_url or a credential holding webhook_url."
GITHUB_BAD_NAME = "Invalid GitHub {field} {value!r}: use letters, digits, '-', '_' and '.'."
GITHUB_UNEXPECTED_ANSWER = "GitHub answered without an issue number and URL."

HTTP_URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
N8N_API_KEY_HEADER = "X-N8N-API-KEY"
N8N_KEY_REFUSED = "n8n at {url} refused the API key (api_credential)."
N8N_NO_WORKFLOW = "n8n at {url} has no workflow {id}."
N8N_NOT_N8N = "{url} did not answer like n8n's public API."
N8N_NO_WEBHOOK = (
    "n8n workflow {id} has no Webhook trigger: it cannot be called (n8n's public API has no endpoint that runs a "
    "workflow)."
)
N8N_INACTIVE = "n8n workflow {id} is not active: its production webhook does not answer (activate it in n8n)."
TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": 120, "default": 30}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

    Receivers recompute the HMAC over the raw body they got and compare in constant time; the
    timestamp lets them refuse replays older than a few minutes.
    """
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@register
class SlackMessageNode(Node):
    type_name = "slack_message"
    category = "integrations"
    display_name = "Slack message"
    icon = "message-square"
    description = (
        "Posts a message to a Slack channel through an incoming webhook: text, plus optional Block Kit "
        "blocks. The webhook URL comes from the config or, better kept secret, from a credential holding "
        "{webhook_url}. Fails when Slack does not answer 2xx (for example a revoked webhook)."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "minLength": 1, "maxLength": 40000},
            "blocks": {"type": "array", "items": {"type": "object"}, "maxItems": 50},
            "webhook_url": HTTP_URL,
            "credential": CREDENTIAL_NAME,
            "timeout_seconds": TIMEOUT,
        },
        "required": ["text"],
        "oneOf": [{"required": ["webhook_url"]}, {"required": ["credential"]}],
        "additionalProperties": False,
    }

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        return http.breaker_host(config.get("webhook_url"))  # else the credential holding it

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        url = config.get("webhook_url")
        if not url:
            if credential_data(ctx) is None:
                raise NodeError(SLACK_NO_WEBHOOK, retryable=False)
            url = credential_value(ctx, "webhook_url")
        payload: dict[str, Any] = {"text": config["text"]}
        if config.get("blocks"):
            payload["blocks"] = config["blocks"]
        response = http.send(
            settings=ctx.settings, method="POST", url=url, json=payload, timeout=config.get("timeout_seconds", 30)
        )
        if not response.ok:
            raise status_error("POST", url, response)
        return NodeResult.single({"status": response.status, "response": response.text})


@register
class OutgoingWebhookNode(Node):
    type_name = "outgoing_webhook"
    category = "integrations"
    display_name = "Outgoing webhook"
    icon = "send"
    description = (
        "POSTs a JSON payload (from the config, or the node's input) to a URL, signed with HMAC-SHA256 "
        "using the secret of a credential ({secret}). The X-ConcertMaster-Signature header carries "
        "t=<unix time>,v1=<hex digest of '<t>.<body>'> so the receiver can check that the body is "
        "authentic and fresh; X-ConcertMaster-Delivery (also sent as Idempotency-Key) is the delivery id, the "
        "same on every attempt, for the receiver to drop repeats. Outputs the receiver's status and body; a "
        "non-2xx answer fails the node."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "url": HTTP_URL,
            "credential": CREDENTIAL_NAME,
            "payload": {"description": "Any JSON; defaults to the input."},
            "headers": STRING_MAP,
            "timeout_seconds": TIMEOUT,
        },
        "required": ["url", "credential"],
        "additionalProperties": False,
    }

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        return http.breaker_host(config.get("url"))

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        secret = credential_value(ctx, "secret")
        body = json.dumps(config.get("payload", ctx.input), separators=(",", ":"), default=str).encode()
        headers = {
            **(config.get("headers") or {}),
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret, int(time.time()), body),
            # The delivery id: the same on every attempt, so the receiver can drop a repeated delivery.
            DELIVERY_HEADER: ctx.idempotency_key,
            IDEMPOTENCY_HEADER: ctx.idempotency_key,
        }
        response = http.send(
            settings=ctx.settings,
            method="POST",
            url=config["url"],
            headers=headers,
            content=body,
            timeout=config.get("timeout_seconds", 30),
        )
        if not response.ok:
            raise status_error("POST", config["url"], response)
        return NodeResult.single({"status": response.status, "body": response.body()})


@register
class GithubIssueNode(Node):
    type_name = "github_issue"
    category = "integrations"
    display_name = "GitHub issue"
    icon = "github"
    description = (
        "Creates an issue in a GitHub repository through the REST API, authenticated with a token "
        "credential ({token}, a fine-grained or classic personal access token with issue write access). "
        "Sets the title, body, labels and assignees; outputs the new issue's number, html_url and id. "
        "api_base points at GitHub Enterprise Server (https://github.example.com/api/v3) when needed."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "owner": {"type": "string", "pattern": GITHUB_NAME.pattern},
            "repo": {"type": "string", "pattern": GITHUB_NAME.pattern},
            "title": {"type": "string", "minLength": 1, "maxLength": 256},
            "body": {"type": "string", "maxLength": 65536},
            "labels": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            "assignees": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            "credential": CREDENTIAL_NAME,
            "api_base": {**HTTP_URL, "default": GITHUB_API},
            "timeout_seconds": TIMEOUT,
        },
        "required": ["owner", "repo", "title", "credential"],
        "additionalProperties": False,
    }

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        return http.breaker_host(config.get("api_base", GITHUB_API))

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        for field in ("owner", "repo"):
            # Rendered expressions could smuggle "/" or ".." into the API path.
            if not GITHUB_NAME.match(str(config[field])) or config[field] in (".", ".."):
                raise NodeError(GITHUB_BAD_NAME.format(field=field, value=config[field]), retryable=False)
        token = credential_value(ctx, "token")
        url = f"{config.get('api_base', GITHUB_API).rstrip('/')}/repos/{config['owner']}/{config['repo']}/issues"
        payload = {"title": config["title"]}
        payload.update({key: config[key] for key in ("body", "labels", "assignees") if key in config})
        response = http.send(
            settings=ctx.settings,
            method="POST",
            url=url,
            json=payload,
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {token}",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=config.get("timeout_seconds", 30),
        )
        if not response.ok:
            raise status_error("POST", url, response)
        issue = response.body()
        if not isinstance(issue, dict) or "number" not in issue or "html_url" not in issue:
            raise NodeError(GITHUB_UNEXPECTED_ANSWER, data=response.as_output())
        return NodeResult.single({"number": issue["number"], "html_url": issue["html_url"], "id": issue.get("id")})


@register
class N8nWorkflowNode(Node):
    type_name = "n8n_workflow"
    category = "integrations"
    display_name = "n8n workflow"
    icon = "globe"
    description = (
        "Calls an n8n workflow through the URL of its Webhook trigger (production or test URL) with an input "
        "(`input`, or this node's input) and outputs n8n's answer: {status, headers, body}. POST, PUT and PATCH "
        "send the input as the JSON body, GET and DELETE as query parameters (an object). A credential "
        "({name, value}) is sent as a header, for n8n's Header Auth. A non-2xx answer fails the node. Lets a "
        "workflow use n8n flows that are not moved over yet. Instead of the URL, `n8n_url` + `workflow_id` + "
        "`api_credential` (a header credential {name: X-N8N-API-KEY, value: the key}) find the workflow's "
        "production webhook through n8n's public API (it must be active and start with a Webhook node: n8n's "
        "public API has no endpoint that runs a workflow)."
    )
    credential_fields = ("credential", "api_credential")
    config_schema = {
        "type": "object",
        "properties": {
            "webhook_url": HTTP_URL,
            "n8n_url": HTTP_URL,
            "workflow_id": {"type": "string", "minLength": 1, "maxLength": 100},
            "api_credential": CREDENTIAL_NAME,
            "method": {"enum": ["POST", "GET", "PUT", "PATCH", "DELETE"], "default": "POST"},
            "input": {"description": "Any JSON; defaults to the node's input."},
            "headers": STRING_MAP,
            "credential": CREDENTIAL_NAME,
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 60},
        },
        "oneOf": [
            {"required": ["webhook_url"], "not": {"anyOf": [{"required": ["n8n_url"]}, {"required": ["workflow_id"]}]}},
            {"required": ["n8n_url", "workflow_id", "api_credential"], "not": {"required": ["webhook_url"]}},
        ],
        "additionalProperties": False,
    }

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        return http.breaker_host(config.get("webhook_url") or config.get("n8n_url"))

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        if not config.get("webhook_url"):
            url, found_method = self._webhook_of(ctx)
            config = {**config, "webhook_url": url, "method": config.get("method", found_method)}
        method = config.get("method", "POST")
        payload = config.get("input", ctx.input)
        headers = {**(config.get("headers") or {}), IDEMPOTENCY_HEADER: ctx.idempotency_key}
        auth = credential_data(ctx)
        if auth is not None:
            headers[str(auth.get("header") or auth.get("name", "Authorization"))] = str(auth.get("value", ""))
        body: dict[str, Any] = {}
        if method in ("POST", "PUT", "PATCH"):
            body["json"] = payload
        elif isinstance(payload, dict):
            body["params"] = payload
        response = http.send(
            settings=ctx.settings,
            method=method,
            url=config["webhook_url"],
            headers=headers,
            timeout=config.get("timeout_seconds", 60),
            **body,
        )
        if not response.ok:
            raise status_error(method, config["webhook_url"], response)
        return NodeResult.single(response.as_output())

    @staticmethod
    def _webhook_of(ctx: NodeContext) -> tuple[str, str]:
        """The production webhook URL and method of an active n8n workflow, read through n8n's public API."""
        config = ctx.config
        base, workflow_id = config["n8n_url"].rstrip("/"), config["workflow_id"]
        key = ctx.credentials.get(config["api_credential"]) or {}
        headers = {str(key.get("name") or N8N_API_KEY_HEADER): str(key.get("value", ""))}
        url = f"{base}/api/v1/workflows/{quote(workflow_id, safe='')}"
        response = http.send(settings=ctx.settings, method="GET", url=url, headers=headers, timeout=30)
        if response.status in (401, 403):
            raise NodeError(N8N_KEY_REFUSED.format(url=base), retryable=False)
        if response.status == 404:
            raise NodeError(N8N_NO_WORKFLOW.format(id=workflow_id, url=base), retryable=False)
        if not response.ok:
            raise status_error("GET", url, response)
        workflow = response.body()
        if not isinstance(workflow, dict) or not isinstance(workflow.get("nodes"), list):
            raise NodeError(N8N_NOT_N8N.format(url=base), retryable=False)
        hooks = [
            n
            for n in workflow["nodes"]
            if isinstance(n, dict) and n.get("type") == "n8n-nodes-base.webhook" and not n.get("disabled")
        ]
        if not hooks:
            raise NodeError(N8N_NO_WEBHOOK.format(id=workflow_id), retryable=False)
        if not workflow.get("active"):
            raise NodeError(N8N_INACTIVE.format(id=workflow_id), retryable=False)
        params = hooks[0].get("parameters") or {}
        path = str(params.get("path") or hooks[0].get("webhookId") or "").strip("/")
        method = params.get("httpMethod", "GET")
        return f"{base}/webhook/{path}", method if isinstance(method, str) else method[0]
