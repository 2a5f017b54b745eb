"""Prometheus metrics of the web process: HTTP requests (a middleware) and database connections (read at scrape time).

The route label is the resolved URL name (`api:workflow-list`, `admin:index`), never the raw path, so the number
of series stays bounded whatever URLs callers try; a path no pattern matches counts as `unmatched`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.db import connections
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

http_requests_total = Counter(
    "http_requests_total",
    "HTTP requests answered, by route (URL name), method and status.",
    ["route", "method", "status"],
)
http_request_duration_seconds = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request (through every middleware), by route (URL name) and method.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)


def route_of(request) -> str:
    """The resolved URL name of `request` (its view's dotted path when the pattern has no name)."""
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None and match.view_name else UNMATCHED


def observe_request(request, status: int, seconds: float) -> None:
    route = route_of(request)
    method = request.method if request.method in METHODS else "other"
    http_requests_total.labels(route=route, method=method, status=str(status)).inc()
    http_request_duration_seconds.labels(route=route, method=method).observe(seconds)


class RequestMetricsMiddleware:
    """Count and time every request (sync and async); first in MIDDLEWARE so a 503 of degraded mode counts too."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(request, response.status_code, time.perf_counter() - started)
        return response

    async def _acall(self, request):
        started = time.perf_counter()
        response = await self.get_response(request)
        observe_request(request, response.status_code, time.perf_counter() - started)
        return response


POOL_GAUGES = {
    "pool_size": ("db_pool_connections", "Connections the process's pool holds (busy or idle), by database alias."),
    "pool_available": ("db_pool_connections_idle", "Idle connections in the process's pool, ready for a caller."),
    "pool_max": ("db_pool_connections_max", "Largest number of connections the process's pool may open."),
    "requests_waiting": ("db_pool_requests_waiting", "Callers waiting for a connection from the pool right now."),
}
SERVER_CONNECTIONS = (
    "db_connections",
    "Connections to this PostgreSQL database from every process (pg_stat_activity), by alias and state.",
)
_SERVER_QUERY = (
    "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1"
)


class DatabaseConnectionCollector(Collector):
    """Connection use, read at scrape time: the psycopg pool's statistics for an alias that has a pool
    (`OPTIONS["pool"]`, this process's pool), and for PostgreSQL the server's count of connections in use by state
    (all processes: web, workers, beat). SQLite has neither."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(self._families())

    def _families(self) -> list[GaugeMetricFamily]:
        pool = [GaugeMetricFamily(name, doc, labels=["alias"]) for name, doc in POOL_GAUGES.values()]
        return [*pool, GaugeMetricFamily(*SERVER_CONNECTIONS, labels=["alias", "state"])]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {family.name: family for family in self._families()}
        for alias in connections:
            wrapper = connections[alias]
            if wrapper.vendor != "postgresql":
                continue
            pool = getattr(wrapper, "pool", None) if "pool" in wrapper.settings_dict.get("OPTIONS", {}) else None
            if pool is not None:
                stats = pool.get_stats()
                for key, (name, _doc) in POOL_GAUGES.items():
                    families[name].add_metric([alias], stats.get(key, 0))
            try:
                with wrapper.cursor() as cursor:
                    cursor.execute(_SERVER_QUERY)
                    rows = cursor.fetchall()
            except Exception:
                rows = []  # the database is down: /health says so; the scrape still answers
            for state, count in rows:
                families[SERVER_CONNECTIONS[0]].add_metric([alias, state], count)
        yield from families.values()


database_connection_collector = DatabaseConnectionCollector()
REGISTRY.register(database_connection_collector)
