"""Operational endpoints: /health (every dependency, 503 naming what fails) and /metrics (Prometheus)."""

import contextlib
import importlib
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults as django_defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

NO_WORKER = "No Celery worker answered."


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "ok", 5)
    if cache.get(key) != "ok":
        raise RuntimeError("The cache did not return what was stored.")
    cache.delete(key)


def _broker() -> None:
    from concertmaster.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _worker() -> None:
    from concertmaster import embedded
    from concertmaster.celery import app

    if settings.CONCERTMASTER_EMBEDDED_WORKER and embedded.is_running():
        return
    if not app.control.ping(timeout=1.0):
        raise RuntimeError(NO_WORKER)


CHECKS = {"database": _database, "cache": _cache, "broker": _broker, "worker": _worker}


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when every check passes; 503 with the failing checks named and why."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as error:  # a health check reports any failure instead of raising it
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        else:
            results[name] = {"ok": True}
    failing = sorted(name for name, result in results.items() if not result["ok"])
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "checks": results}
    return JsonResponse(body, status=200 if not failing else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format of the process registry (the engine's metrics register on import)."""
    # core sits below the apps: the engine's metrics module is loaded by name, not imported.
    with contextlib.suppress(ModuleNotFoundError):
        importlib.import_module("apps.executions.metrics")
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def _api_error(request: HttpRequest, status: int, error_type: str, detail: str, fallback) -> HttpResponse:
    """Under /api/ and /hooks/, errors Django answers itself use the API's JSON error shape too."""
    if request.path.startswith(("/api/", "/hooks/")):
        return JsonResponse({"type": error_type, "detail": detail, "errors": []}, status=status)
    return fallback()


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(
        request, 404, "not_found", "Not found.", lambda: django_defaults.page_not_found(request, exception)
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(
        request, 400, "bad_request", "Bad request.", lambda: django_defaults.bad_request(request, exception)
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _api_error(request, 500, "server_error", "Server error.", lambda: django_defaults.server_error(request))
