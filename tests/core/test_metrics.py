"""HTTP requests counted and timed by route (the URL name, never the raw path) and status; database connection
use read at scrape time."""

import uuid

import pytest
from django.db import connection
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from apps.core import metrics

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def exported(client) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family.samples for family in text_string_to_metric_families(response.content.decode())}


def test_a_request_is_counted_and_timed_under_its_url_name(user):
    api = APIClient()
    api.force_authenticate(user)
    labels = {"route": "workflow-detail", "method": "GET"}
    before = sample("http_requests_total", **labels, status="404")
    before_count = sample("http_request_duration_seconds_count", **labels)

    response = api.get(f"/api/v1/workflows/{uuid.uuid4()}/")

    assert response.status_code == 404
    assert sample("http_requests_total", **labels, status="404") == before + 1
    assert sample("http_request_duration_seconds_count", **labels) == before_count + 1
    assert sample("http_request_duration_seconds_bucket", **labels, le="+Inf") == before_count + 1
    routes = {s.labels["route"] for s in exported(api)["http_requests"] if s.name == "http_requests_total"}
    assert "workflow-detail" in routes
    assert not any(route.startswith("/") for route in routes)  # never a raw path


def test_a_path_no_pattern_matches_counts_as_unmatched(client):
    before = sample("http_requests_total", route=metrics.UNMATCHED, method="GET", status="404")
    client.get(f"/no-such-page-{uuid.uuid4()}")
    assert sample("http_requests_total", route=metrics.UNMATCHED, method="GET", status="404") == before + 1


def test_an_unknown_method_is_counted_as_other(client):
    before = sample("http_requests_total", route="health", method="other", status="405")
    client.generic("BREW", "/health")
    assert sample("http_requests_total", route="health", method="other", status="405") == before + 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no connection statistics")
def test_database_connections_are_read_from_the_server_and_the_pool(client):
    families = exported(client)
    states = {s.labels["state"]: s.value for s in families["db_connections"] if s.labels["alias"] == "default"}
    assert states.get("active", 0) >= 1  # the scrape's own query
    pool = connection.settings_dict.get("OPTIONS", {}).get("pool")
    if pool:
        maximum = [s.value for s in families["db_pool_connections_max"] if s.labels["alias"] == "default"]
        assert maximum == [connection.pool.max_size]
        assert [s.labels for s in families["db_pool_connections"]] == [{"alias": "default"}]
    else:
        assert families.get("db_pool_connections_max", []) == []


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL reports its connections")
def test_sqlite_reports_no_connection_samples(client):
    families = exported(client)
    assert families.get("db_connections", []) == []
