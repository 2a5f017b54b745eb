"""per_item: an action node run once per item (n8n's item model), against a local HTTP server."""

import pytest

from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin.per_item import CREDENTIAL_IN_ITEM, PerItemNode
from apps.nodes.validation import validate_config
from tests.nodes.fakeserver import FakeHTTPServer

ALLOW = {"allow_private_http": True}


def make_ctx(config, *, credentials=None):
    return NodeContext(
        node_id="n1",
        execution_id="e1",
        organization_id="o1",
        config=config,
        inputs={"main": None},
        credentials=credentials or {},
        settings=ALLOW,
    )


@pytest.fixture
def server():
    with FakeHTTPServer() as fake:
        yield fake


def test_one_call_per_item_with_the_shared_config_and_a_key_each(server):
    for name in ("a", "b", "c"):
        server.reply("POST", f"/u/{name}", body=f'{{"got": "{name}"}}', headers={"Content-Type": "application/json"})
    items = [{"url": f"{server.url}/u/{name}", "json": {"n": index}} for index, name in enumerate("abc")]
    config = {"node_type": "http_request", "config": {"method": "POST"}, "items": items, "credential": "k"}

    out = PerItemNode().run(make_ctx(config, credentials={"k": {"token": "t0k"}})).outputs["main"]

    assert [o["body"] for o in out] == [{"got": "a"}, {"got": "b"}, {"got": "c"}]
    assert [r.json() for r in server.requests] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer t0k"}  # the one credential
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert len(set(keys)) == 3
    again = FakeHTTPServer()  # a retried node repeats the same calls with the same keys
    with again:
        for name in "abc":
            again.reply("POST", f"/u/{name}", body="{}", headers={"Content-Type": "application/json"})
        items2 = [{**item, "url": item["url"].replace(server.url, again.url)} for item in items]
        PerItemNode().run(make_ctx({**config, "items": items2}, credentials={"k": {"token": "t0k"}}))
        assert [r.headers["idempotency-key"] for r in again.requests] == keys


def test_no_items_no_call(server):
    out = PerItemNode().run(make_ctx({"node_type": "http_request", "config": {"method": "GET"}, "items": []}))
    assert out.outputs["main"] == [] and server.requests == []


def test_a_bad_item_fails_before_any_call_naming_the_item_and_field(server):
    server.reply("GET", "/x", body="{}")
    items = [{"url": f"{server.url}/x"}, {"url": f"{server.url}/x", "method": "FETCH"}]
    with pytest.raises(NodeError, match=r"^Item 1: /method: 'FETCH' is not one of") as error:
        PerItemNode().run(make_ctx({"node_type": "http_request", "config": {"method": "GET"}, "items": items}))
    assert error.value.retryable is False and error.value.data["index"] == 1
    assert server.requests == []  # nothing half-done
    with pytest.raises(NodeError, match=r"^Item 0 must be an object \(got str\)"):
        PerItemNode().run(make_ctx({"node_type": "http_request", "items": ["x"]}))
    with pytest.raises(NodeError, match=r"^items must be a list of objects \(got dict\)"):
        PerItemNode().run(make_ctx({"node_type": "http_request", "items": {"url": "x"}}))
    with pytest.raises(NodeError, match=CREDENTIAL_IN_ITEM):
        PerItemNode().run(make_ctx({"node_type": "http_request", "items": [{"credential": "other"}]}))


def test_a_failed_call_stops_the_rest_and_keeps_the_wrapped_nodes_retry_verdict(server):
    server.reply("GET", "/ok", body="{}")
    server.reply("GET", "/down", status=503, body="{}")
    items = [{"url": f"{server.url}/ok"}, {"url": f"{server.url}/down"}, {"url": f"{server.url}/ok"}]
    with pytest.raises(NodeError, match=r"^Item 1: GET .*/down answered HTTP 503") as error:
        PerItemNode().run(make_ctx({"node_type": "http_request", "config": {"method": "GET"}, "items": items}))
    assert error.value.retryable is True and len(error.value.data["done"]) == 1
    assert [r.path for r in server.requests] == ["/ok", "/down"]


def test_config_validation_names_the_field():
    assert validate_config("per_item", {"node_type": "http_request", "items": []}) == []
    ok = {"node_type": "slack_message", "config": {}, "items": "{{ nodes.x.output }}", "credential": "S"}
    assert validate_config("per_item", ok) == []
    paths = {e.path for e in validate_config("per_item", {"node_type": "postgres_query", "items": []})}
    assert paths == {"/node_type"}
    bad_shared = {"node_type": "http_request", "config": {"method": "FETCH"}, "items": []}
    assert [e.path for e in validate_config("per_item", bad_shared)] == ["/config/method"]
    in_config = {"node_type": "http_request", "config": {"credential": "x"}, "items": []}
    assert [e.as_dict() for e in validate_config("per_item", in_config)] == [
        {"path": "/config/credential", "message": CREDENTIAL_IN_ITEM}
    ]
    assert [e.path for e in validate_config("per_item", {"node_type": "http_request"})] == [""]


def test_breaker_target_is_the_first_items_host():
    config = {"node_type": "http_request", "config": {"method": "GET"}, "items": [{"url": "https://api.example.com/a"}]}
    assert PerItemNode.breaker_target(config) == PerItemNode.breaker_target(
        {**config, "items": [{"url": "https://api.example.com/b"}]}
    )
    assert PerItemNode.breaker_target({**config, "items": []}) is None
