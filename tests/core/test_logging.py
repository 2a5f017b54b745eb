"""Structured logs: request ids on every request, JSON rendering with the bound context, and the request's id
carried to the executions it starts."""

import io
import json
import logging
import logging.config
import re

import pytest
from structlog.contextvars import bound_contextvars

from apps.core.logging import logging_config
from apps.executions.models import WorkflowExecution
from apps.executions.services import execution_start
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


def test_every_response_carries_a_request_id(client):
    first = client.get("/admin/login/")["X-Request-ID"]
    second = client.get("/admin/login/")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_a_sane_caller_request_id_is_kept_and_anything_else_replaced(client):
    assert client.get("/admin/login/", headers={"X-Request-ID": "lb-7f3a.1"})["X-Request-ID"] == "lb-7f3a.1"
    for bad in ("two words", "x" * 65, "<script>"):
        assert re.fullmatch(r"[0-9a-f]{32}", client.get("/admin/login/", headers={"X-Request-ID": bad})["X-Request-ID"])


def test_an_execution_started_by_a_request_carries_its_id(api_client, organization, member_factory):
    api_client.force_authenticate(member_factory(organization, "member"))
    workflow = WorkflowFactory(organization=organization)
    response = api_client.post(
        f"/api/v1/workflows/{workflow.pk}/execute/", {}, format="json", headers={"X-Request-ID": "req-42"}
    )
    assert response.status_code == 202
    assert response.json()["correlation_id"] == "req-42"
    assert WorkflowExecution.objects.get(pk=response.json()["id"]).correlation_id == "req-42"


def test_an_execution_started_outside_a_request_gets_an_id_of_its_own(organization):
    workflow = WorkflowFactory(organization=organization)
    first = execution_start(workflow=workflow).correlation_id
    second = execution_start(workflow=workflow).correlation_id
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second


def test_json_logs_render_the_bound_context():
    config = logging_config(json=True, level="INFO")
    stream = io.StringIO()
    formatter = logging.config.DictConfigurator(config).configure_custom(dict(config["formatters"]["structlog"]))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("tests.structured")
    logger.addHandler(handler)
    # Its own level: a Celery worker started earlier in this process raises the root logger's to ERROR.
    logger.setLevel(logging.INFO)
    try:
        with bound_contextvars(request_id="req-1", execution_id="e-1"):
            logger.warning("charged %s", "ada")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    line = json.loads(stream.getvalue())
    assert line["event"] == "charged ada"
    assert line["level"] == "warning" and line["logger"] == "tests.structured"
    assert line["request_id"] == "req-1" and line["execution_id"] == "e-1"
    assert "timestamp" in line
