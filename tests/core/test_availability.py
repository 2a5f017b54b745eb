"""Degraded mode: Redis (cache, broker) or PostgreSQL down gives 503s with Retry-After, never 500s."""

import logging
import socket

import pytest
from django.core.cache import cache
from django.db import OperationalError, connection
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.test import APIClient

from apps.core import availability
from apps.core.api import throttles
from apps.executions.choices import NodeStatus
from apps.executions.engine import tasks as engine_tasks
from apps.executions.models import NodeExecution, WorkflowExecution
from apps.executions.services import execution_start
from apps.workflows.services import trigger_create, workflow_activate
from tests.workflows.factories import FORM_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture(autouse=True)
def closed_circuits():
    availability.broker_circuit.close()
    throttles.cache_circuit.close()
    yield
    availability.broker_circuit.close()
    throttles.cache_circuit.close()


@pytest.fixture
def redis_down(settings):
    """Cache and broker on a port where no Redis listens (the shared Redis is never touched)."""
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.CELERY_BROKER_URL = url
    availability._ping_client = None
    yield url
    availability._ping_client = None


@pytest.fixture
def client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def workflow(organization):
    workflow = WorkflowFactory(organization=organization)
    workflow_activate(workflow=workflow)
    return workflow


def _assert_unavailable(response, detail: str) -> None:
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    assert response.json() == {"type": "service_unavailable", "detail": detail, "errors": []}


# --- Redis down ---


def test_reads_work_and_throttles_fail_open_while_redis_is_down(redis_down, client, workflow, caplog):
    """Lists answer 200 (throttled endpoints included); the throttle asks the dead cache once per interval."""
    caplog.set_level(logging.WARNING, logger="apps.core.availability")
    for _ in range(5):
        assert client.get("/api/v1/workflows/").status_code == 200
        assert client.get("/api/v1/executions/").status_code == 200
    warnings = [r for r in caplog.records if throttles.CACHE_FAILED in r.getMessage()]
    assert len(warnings) == 1


def test_throttles_count_again_when_the_cache_is_back(redis_down, client, workflow, settings):
    """Once the fail-open interval is over, the (working) cache is asked again and limits apply."""
    assert client.get("/api/v1/workflows/").status_code == 200
    assert throttles.cache_circuit.is_open()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()  # other tests' counts
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "2/min"}}
    throttles.cache_circuit.close()  # the interval ran out
    codes = [client.get("/api/v1/workflows/").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_execute_is_503_and_creates_nothing_while_the_broker_is_down(redis_down, client, workflow):
    response = client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {"input": {}}, format="json")
    _assert_unavailable(response, availability.BROKER_UNAVAILABLE.format(seconds=5))
    assert not WorkflowExecution.objects.exists()


HOOK_DEFINITION = {
    "nodes": [
        {"id": "start", "type": "webhook", "config": {}},
        {"id": "log", "type": "log", "config": {"message": "hi"}},
    ],
    "edges": [{"source": "start", "target": "log"}],
}


def test_webhooks_and_forms_are_503_while_the_broker_is_down(redis_down, organization):
    hook_workflow = WorkflowFactory(organization=organization, definition=HOOK_DEFINITION)
    workflow_activate(workflow=hook_workflow)
    hook = trigger_create(workflow=hook_workflow, kind="webhook")
    form_workflow = WorkflowFactory(organization=organization, definition=FORM_DEFINITION)
    workflow_activate(workflow=form_workflow)
    form = trigger_create(workflow=form_workflow, kind="form")
    detail = availability.BROKER_UNAVAILABLE.format(seconds=5)
    _assert_unavailable(APIClient().post(f"/hooks/{hook.webhook_token}", {"a": 1}, format="json"), detail)
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    _assert_unavailable(APIClient().post(url, {"email": "a@example.com", "age": 30}, format="json"), detail)
    page = APIClient().post(f"/forms/{form.webhook_token}", {"email": "a@example.com", "age": "30"})
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert b"Temporarily unavailable" in page.content
    assert not WorkflowExecution.objects.exists()


def test_a_broker_that_fails_after_the_commit_leaves_the_nodes_to_the_reaper(
    workflow, monkeypatch, django_capture_on_commit_callbacks
):
    """No exception reaches the caller; the queued start node's lease has run out, so the next reaper pass
    sends it again."""

    def refuse(*args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")

    monkeypatch.setattr(engine_tasks.run_node, "apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        execution = execution_start(workflow=workflow, trigger_data={})
    queued = NodeExecution.objects.get(execution=execution, status=NodeStatus.QUEUED)
    assert queued.lease_expires_at <= timezone.now()


# --- PostgreSQL (the database) down ---


def _database_down(execute, sql, params, many, context):
    raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")


def test_endpoints_answer_503_not_500_while_the_database_is_down(client, workflow):
    detail = availability.DATABASE_UNAVAILABLE.format(seconds=5)
    with connection.execute_wrapper(_database_down):
        _assert_unavailable(client.get("/api/v1/workflows/"), detail)
        _assert_unavailable(client.get(f"/api/v1/workflows/{workflow.pk}/"), detail)
        _assert_unavailable(client.post(f"/api/v1/workflows/{workflow.pk}/execute/", {}, format="json"), detail)
        _assert_unavailable(APIClient().post("/hooks/abc", {}, format="json"), detail)


def test_the_public_form_page_answers_503_while_the_database_is_down(client, organization):
    form_workflow = WorkflowFactory(organization=organization, definition=FORM_DEFINITION)
    workflow_activate(workflow=form_workflow)
    form = trigger_create(workflow=form_workflow, kind="form")
    with connection.execute_wrapper(_database_down):
        page = APIClient().get(f"/forms/{form.webhook_token}")
    assert page.status_code == 503 and page["Retry-After"] == "5"
    assert b"The database is unavailable" in page.content


def test_a_database_error_outside_a_view_is_a_503(rf):
    """Django's handler500 (errors raised in middleware) answers 503 for a database outage."""
    from apps.core.views import server_error

    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        api = server_error(rf.get("/api/v1/workflows/"))
        page = server_error(rf.get("/"))
    assert api.status_code == 503 and api["Content-Type"] == "application/json"
    assert page.status_code == 503 and b"Temporarily unavailable" in page.content
