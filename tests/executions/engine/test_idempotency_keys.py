"""Network nodes send a stable idempotency key: every attempt of a node in an execution sends the same one."""

import pytest

from apps.nodes.base import idempotency_key
from tests.executions.engine.helpers import chain, make_workflow, node, start, wait_finished
from tests.nodes.fakeserver import FakeHTTPServer
from tests.workflows.factories import CredentialFactory

pytestmark = pytest.mark.django_db(transaction=True)

RETRY = {"max_attempts": 2, "backoff_seconds": 0.05, "jitter": False}


@pytest.fixture(autouse=True)
def _private_allowed(settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True


@pytest.fixture
def server():
    with FakeHTTPServer() as fake:
        fake.reply("POST", "/flaky", status=503)
        fake.reply("POST", "/hook", status=503)
        yield fake


def post(node_id: str, url: str) -> dict:
    return {"id": node_id, "type": "http_request", "config": {"method": "POST", "url": url}, "retry": RETRY}


def test_a_retried_http_request_sends_the_same_key_as_its_first_attempt(engine_worker, server):
    workflow = make_workflow(*chain(post("call", f"{server.url}/flaky")))

    first, second = wait_finished(start(workflow)), wait_finished(start(workflow))

    assert node(first, "call").attempt == 2
    keys = [request.headers["idempotency-key"] for request in server.requests]
    assert len(keys) == 4
    assert keys[0] == keys[1] == idempotency_key(str(first.pk), "call")
    assert keys[2] == keys[3] == idempotency_key(str(second.pk), "call")
    assert keys[0] != keys[2]  # another execution: another call


def test_a_retried_outgoing_webhook_keeps_its_delivery_id(engine_worker, server):
    workflow = make_workflow(
        *chain(
            {
                "id": "hook",
                "type": "outgoing_webhook",
                "config": {"url": f"{server.url}/hook", "credential": "signing", "payload": {"n": 1}},
                "retry": RETRY,
            }
        )
    )
    CredentialFactory(organization=workflow.organization, name="signing", kind="webhook", data={"secret": "s"})

    execution = wait_finished(start(workflow))

    deliveries = [request.headers["x-concertmaster-delivery"] for request in server.requests]
    assert deliveries == [idempotency_key(str(execution.pk), "hook")] * 2
    assert [request.headers["idempotency-key"] for request in server.requests] == deliveries
    # The signature changes with its timestamp; the delivery id does not.
    assert len({request.headers["x-concertmaster-signature"] for request in server.requests}) in (1, 2)
