"""The engine's metrics beyond the five: node runs by type and outcome, webhook deliveries by outcome, live
WebSocket connections and the broker's queue lengths, each with its labels, as /metrics exports them."""

import copy
import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.db import connections
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework_simplejwt.tokens import AccessToken

from apps.executions import metrics, triggers
from apps.workflows.services import trigger_create, workflow_activate
from concertmaster.asgi import application
from concertmaster.celery import app
from tests.executions.engine.helpers import chain, make_workflow, start, wait_finished, wait_for
from tests.executions.factories import WorkflowExecutionFactory
from tests.workflows.factories import WEBHOOK_DEFINITION, WorkflowFactory


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def exported(client) -> dict[str, list]:
    """/metrics parsed: metric family name -> its samples."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def test_node_runs_are_counted_by_type_and_outcome(engine_worker, client):
    before = {
        ("test.noop", "succeeded"): sample("node_runs_total", node_type="test.noop", outcome="succeeded"),
        ("test.fail", "failed"): sample("node_runs_total", node_type="test.fail", outcome="failed"),
        ("test.fail", "succeeded"): sample("node_runs_total", node_type="test.fail", outcome="succeeded"),
    }
    workflow = make_workflow(
        *chain({"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.fail", "config": {"retryable": False}})
    )
    wait_finished(start(workflow))
    wait_for(
        lambda: sample("node_runs_total", node_type="test.fail", outcome="failed") == before["test.fail", "failed"] + 1
    )
    assert sample("node_runs_total", node_type="test.noop", outcome="succeeded") == before["test.noop", "succeeded"] + 1
    assert sample("node_runs_total", node_type="test.fail", outcome="succeeded") == before["test.fail", "succeeded"]
    samples = exported(client)["node_runs"]
    assert {"node_type": "test.fail", "outcome": "failed"} in [s.labels for s in samples if s.name == "node_runs_total"]


@pytest.mark.django_db
def test_webhook_deliveries_are_counted_by_outcome(client, organization, django_capture_on_commit_callbacks):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(WEBHOOK_DEFINITION))
    workflow_activate(workflow=workflow)
    hook = trigger_create(workflow=workflow, kind="webhook")
    body = json.dumps({"n": 1}).encode()
    before = {outcome: sample("webhook_deliveries_total", outcome=outcome) for outcome in ("accepted", "duplicate")}
    refused_before = sum(
        s.value for s in exported(client).get("webhook_deliveries", []) if s.name == "webhook_deliveries_total"
    )

    def post(signature):
        return client.post(
            f"/hooks/{hook.webhook_token}",
            data=body,
            content_type="application/json",
            HTTP_X_CONCERTMASTER_SIGNATURE=signature,
        )

    signature = triggers.sign(secret=hook.signing_secret, body=body)
    with django_capture_on_commit_callbacks(execute=True):  # counted once the delivery's row is committed
        assert post(signature).status_code == 202
        assert post(signature).status_code == 200  # the same signed message again: a duplicate
        assert post(triggers.sign(secret="whsec_wrong", body=body)).status_code == 401

    assert sample("webhook_deliveries_total", outcome="accepted") == before["accepted"] + 1
    assert sample("webhook_deliveries_total", outcome="duplicate") == before["duplicate"] + 1
    samples = [s for s in exported(client)["webhook_deliveries"] if s.name == "webhook_deliveries_total"]
    assert sum(s.value for s in samples) == refused_before + 3  # the refusal counts under its own outcome


@pytest.mark.django_db(transaction=True)
def test_live_connections_go_up_on_connect_and_down_on_disconnect(settings, user, organization):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization), status="running")
    database = connections.settings["default"]
    max_age, database["CONN_MAX_AGE"] = database.get("CONN_MAX_AGE", 0), 0  # executor threads' connections close
    headers = [(b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())]
    before = sample("websocket_connections", kind="execution")

    async def open_and_close() -> float:
        communicator = WebsocketCommunicator(application, f"/ws/executions/{execution.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=3)
        assert connected
        during = sample("websocket_connections", kind="execution")
        await communicator.disconnect()
        return during

    try:
        assert async_to_sync(open_and_close)() == before + 1
    finally:
        database["CONN_MAX_AGE"] = max_age
    assert sample("websocket_connections", kind="execution") == before


@pytest.mark.django_db
def test_queue_lengths_are_read_from_the_broker(client, monkeypatch):
    """Three messages in a queue nobody consumes are three in the gauge; the default queue is always reported."""
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(metrics, "queue_names", lambda: [app.conf.task_default_queue, name])
    with app.connection_for_write() as connection:
        waiting = connection.SimpleQueue(name)
        try:
            for n in range(3):
                waiting.put({"n": n})
            lengths = {s.labels["queue"]: s.value for s in exported(client)["celery_queue_length"]}
        finally:
            waiting.queue.delete()
            waiting.close()
    assert lengths[name] == 3
    assert app.conf.task_default_queue in lengths


def test_queues_that_routes_send_to_are_measured(monkeypatch):
    monkeypatch.setitem(app.conf, "task_routes", {"some.task": {"queue": "heavy"}})
    assert {app.conf.task_default_queue, "heavy"} <= set(metrics.queue_names())
