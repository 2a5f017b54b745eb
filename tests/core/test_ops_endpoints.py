"""/health names what fails; /metrics speaks Prometheus; the OpenAPI document is valid, served and committed."""

from pathlib import Path

import pytest
from django.core.management import call_command

from apps.core import views

pytestmark = pytest.mark.django_db
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_health_ok_when_every_check_passes(client, monkeypatch):
    monkeypatch.setitem(views.CHECKS, "broker", lambda: None)
    monkeypatch.setitem(views.CHECKS, "worker", lambda: None)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["database"] == {"ok": True}


def test_health_503_names_the_failing_part(client, monkeypatch):
    def no_worker():
        raise RuntimeError(views.NO_WORKER)

    monkeypatch.setitem(views.CHECKS, "broker", lambda: None)
    monkeypatch.setitem(views.CHECKS, "worker", no_worker)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert views.NO_WORKER in response.json()["checks"]["worker"]["error"]


def test_metrics_in_prometheus_text_format(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"# TYPE" in response.content
    assert b"workflow_executions_total" in response.content  # the engine's metrics are exported


def test_schema_builds_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/v1/workflows/" in (tmp_path / "schema.yaml").read_text()


def test_committed_openapi_document_is_up_to_date(tmp_path):
    """docs/openapi.yaml is regenerated with `manage.py spectacular --file docs/openapi.yaml` when the API changes."""
    call_command("spectacular", "--file", str(tmp_path / "schema.yaml"))
    assert OPENAPI.read_text() == (tmp_path / "schema.yaml").read_text(), (
        "docs/openapi.yaml is stale: run .venv/bin/python manage.py spectacular --file docs/openapi.yaml"
    )


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/", "/api/schema/"])
def test_docs_render_offline(client, user, url):
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200
    assert b"cdn.jsdelivr" not in response.content
