"""The n8n_workflow node: calls an n8n workflow's webhook with an input and outputs the answer (a local server
for the request details and failures, the real n8n for the round trip)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.integrations.client import N8nClient
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin import integrations
from apps.nodes.http import ALLOW_PRIVATE_SETTING
from apps.nodes.registry import registry
from apps.nodes.validation import validate_config

from . import n8n_workflows


class Echo(BaseHTTPRequestHandler):
    """Answers what it got; a path ending in /fail answers 500."""

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        got = {
            "method": self.command,
            "path": self.path,
            "auth": self.headers.get("X-Auth"),
            "idempotency": self.headers.get("Idempotency-Key"),
            "body": json.loads(self.rfile.read(length)) if length else None,
        }
        data = json.dumps(got).encode()
        self.send_response(500 if self.path.endswith("/fail") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def echo():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhook/abc"
    server.shutdown()
    server.server_close()


def _run(config, node_input=None, credentials=None):
    ctx = NodeContext(
        node_id="call",
        execution_id="e-1",
        organization_id="o-1",
        config=config,
        inputs={"main": node_input},
        credentials=credentials or {},
        settings={ALLOW_PRIVATE_SETTING: True},
    )
    return registry.get("n8n_workflow")().run(ctx).outputs["main"]


def test_posts_the_input_with_a_header_credential_and_outputs_the_answer(echo):
    out = _run({"webhook_url": echo, "credential": "n8n"}, {"a": 1}, {"n8n": {"name": "X-Auth", "value": "s3"}})
    assert out["status"] == 200
    assert out["body"]["method"] == "POST" and out["body"]["body"] == {"a": 1}
    assert out["body"]["auth"] == "s3" and len(out["body"]["idempotency"]) == 32


def test_get_sends_the_input_as_query_and_a_failure_fails_the_node(echo):
    out = _run({"webhook_url": echo, "method": "GET", "input": {"q": "x"}})
    assert out["body"]["path"].endswith("/webhook/abc?q=x")
    with pytest.raises(NodeError) as error:
        _run({"webhook_url": echo.replace("/abc", "/fail")}, {})
    assert error.value.retryable is True


def test_a_private_address_is_refused_by_default(echo):
    ctx = NodeContext(node_id="c", execution_id="e", organization_id="o", config={"webhook_url": echo}, inputs={})
    with pytest.raises(NodeError) as error:
        registry.get("n8n_workflow")().run(ctx)
    assert "private" in error.value.message


def test_calls_a_real_n8n_workflow(n8n):
    client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)
    workflow = n8n_workflows.greeting_branch()
    client.activate_workflow(client.create_workflow(workflow)["id"])
    url = f"{n8n.url}/webhook/{workflow['nodes'][0]['parameters']['path']}"
    out = _run({"webhook_url": url}, {"name": "ada", "qty": 3, "price": 50})
    assert out["status"] == 200
    assert out["body"] == {"size": "big", "greeting": "Hello ADA", "total": 150}


def test_finds_the_webhook_of_a_workflow_through_the_public_api(n8n):
    client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)
    workflow = n8n_workflows.greeting_branch()
    active = client.create_workflow(workflow)["id"]
    client.activate_workflow(active)
    idle = client.create_workflow(n8n_workflows.order_lines())["id"]  # never activated
    no_hook = client.create_workflow(n8n_workflows.with_code_ai_and_credentials())["id"]
    key = {"api": {"name": "X-N8N-API-KEY", "value": n8n.api_key}}

    def call(workflow_id, credentials=key):
        config = {"n8n_url": n8n.url, "workflow_id": workflow_id, "api_credential": "api"}
        return _run(config, {"name": "ada", "qty": 3, "price": 50}, credentials)

    out = call(active)  # the Webhook node's path and method (POST) come from n8n
    assert out["status"] == 200
    assert out["body"] == {"size": "big", "greeting": "Hello ADA", "total": 150}
    for workflow_id, credentials, message in [
        (idle, key, integrations.N8N_INACTIVE.format(id=idle)),
        (no_hook, key, integrations.N8N_NO_WEBHOOK.format(id=no_hook)),
        ("nope", key, integrations.N8N_NO_WORKFLOW.format(id="nope", url=n8n.url)),
        (
            active,
            {"api": {"name": "X-N8N-API-KEY", "value": "wrong"}},
            integrations.N8N_KEY_REFUSED.format(url=n8n.url),
        ),
    ]:
        with pytest.raises(NodeError) as error:
            call(workflow_id, credentials)
        assert (error.value.message, error.value.retryable) == (message, False)


def test_the_config_takes_a_webhook_url_or_a_workflow_through_the_api():
    by_api = {"n8n_url": "https://n8n.example.com", "workflow_id": "7", "api_credential": "api"}
    assert validate_config("n8n_workflow", {"webhook_url": "https://n8n.example.com/webhook/x"}) == []
    assert validate_config("n8n_workflow", by_api) == []
    assert validate_config("n8n_workflow", {**by_api, "webhook_url": "https://n8n.example.com/webhook/x"}) != []
    assert validate_config("n8n_workflow", {"n8n_url": "https://n8n.example.com", "workflow_id": "7"}) != []
    assert validate_config("n8n_workflow", {}) != []
