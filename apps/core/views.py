"""Operational endpoints: /health (every dependency, 503 naming what fails) and /metrics (Prometheus); the
JSON 404 under /api/; /favicon.ico; the policy that keeps the API docs pages on this site."""

import functools
import sys
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.urls import is_valid_path
from django.views import defaults as django_defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

NO_WORKER = "No Celery worker answered."
NOT_FOUND = "Not found."
SLASH_HINT = "Did you mean {path} (with a trailing slash)?"
#: Paths whose errors use the API's JSON shape, even those Django answers before any view runs.
API_PREFIXES = ("/api/", "/hooks/")
#: URL name of the catch-all route under API_PREFIXES (the last pattern of concertmaster/urls.py).
API_NOT_FOUND_URL_NAME = "api-not-found"
#: The API docs pages (Swagger UI, Redoc) may load only from this site: scripts and styles are served by
#: drf-spectacular-sidecar, fonts are the system's, and Redoc's logo from cdn.redoc.ly is blocked.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


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
    """Prometheus text format of the process registry (apps register their metrics in `AppConfig.ready`)."""
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every site (the admin's pages too): send them to the static icon."""
    return HttpResponseRedirect(static("favicon.ico"))


def local_assets_only(view):
    """Wrap an API docs view so the browser fetches nothing from another host (DOCS_CONTENT_SECURITY_POLICY)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response

    return wrapped


def _api_error(request: HttpRequest, status: int, error_type: str, detail: str, fallback) -> HttpResponse:
    """Under /api/ and /hooks/, errors Django answers itself use the API's JSON error shape too."""
    if request.path.startswith(API_PREFIXES):
        return JsonResponse({"type": error_type, "detail": detail, "errors": []}, status=status)
    return fallback()


@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Any method on an unknown URL under /api/ or /hooks/: a JSON 404 in both modes.

    With DEBUG on, Django answers a URL no pattern matches with its HTML debug page and never calls
    handler404, so this catch-all pattern matches first. It keeps APPEND_SLASH: a GET of a known endpoint
    written without its slash is redirected; other methods (whose body a redirect would lose) are told the URL.
    """
    detail = NOT_FOUND
    if settings.APPEND_SLASH and not request.path_info.endswith("/"):
        match = is_valid_path(f"{request.path_info}/", getattr(request, "urlconf", None))
        if match and match.url_name != API_NOT_FOUND_URL_NAME:
            if request.method in ("GET", "HEAD"):
                return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
            detail = f"{NOT_FOUND} {SLASH_HINT.format(path=f'{request.path}/')}"
    return JsonResponse({"type": "not_found", "detail": detail, "errors": []}, status=404)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(request, 404, "not_found", NOT_FOUND, lambda: django_defaults.page_not_found(request, exception))


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _api_error(
        request, 400, "bad_request", "Bad request.", lambda: django_defaults.bad_request(request, exception)
    )


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this while handling the error: a database outage outside a view is a 503, not a 500.
    from .availability import response_for

    unavailable = response_for(request, sys.exc_info()[1])
    if unavailable is not None:
        return unavailable
    return _api_error(request, 500, "server_error", "Server error.", lambda: django_defaults.server_error(request))
