"""Degraded mode: what the platform does while Redis (broker, cache, channel layer) or PostgreSQL is down.

- Reads need only the database and keep working while Redis is down.
- Writes that dispatch Celery tasks (`execute`, resume, retry, approve, reject, webhooks, form submissions)
  call `broker_required()` first: with the broker unreachable they answer 503 with `Retry-After` and start
  nothing. (A broker that fails after that check, between the commit and the publish, leaves the queued
  nodes to the reaper: see `apps.executions.engine.runtime.hand_over`.)
- Throttles fail open while the cache raises (`apps.core.api.throttles`).
- The database down is a 503, never a 500 (`UnavailableMiddleware`, and `apps.core.views.server_error`).

A `Circuit` remembers a failure for a few seconds in this process, so a dependency that is down costs one
failed attempt per interval instead of a socket timeout on every request, and its warning is logged once per
interval.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from rest_framework import exceptions, status

logger = logging.getLogger(__name__)

BROKER_UNAVAILABLE = "The task queue is unavailable, so nothing was started or changed. Try again in {seconds} seconds."
DATABASE_UNAVAILABLE = "The database is unavailable. Try again in {seconds} seconds."
#: Errors meaning the database cannot be reached (a lost connection, a server restarting).
DATABASE_ERRORS = (OperationalError, InterfaceError)
#: Paths whose 503 uses the API's JSON error shape (the same as apps.core.views.API_PREFIXES).
JSON_PREFIXES = ("/api/", "/hooks/")


class ServiceUnavailable(exceptions.APIException):
    """A dependency is down: 503 with `Retry-After` (the API's exception handler turns `wait` into it)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A service this request needs is unavailable."

    def __init__(self, detail: str, *, wait: int) -> None:
        super().__init__(detail)
        self.wait = wait


class Circuit:
    """Process-local "it failed recently" flag: open for `seconds` after a failure, closed again after that."""

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self._open_until = 0.0
        self._logged_at = -1e9
        self._lock = threading.Lock()

    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self, error: BaseException, message: str) -> None:
        """Open for the interval; log `message` (with the error) at most once per interval."""
        now = time.monotonic()
        with self._lock:
            self._open_until = now + self.seconds
            log = now - self._logged_at >= self.seconds
            if log:
                self._logged_at = now
        if log:
            logger.warning("%s (%s: %s); retrying in %.0f s", message, type(error).__name__, error, self.seconds)

    def close(self) -> None:
        self._open_until = 0.0


def retry_after_seconds() -> int:
    return settings.CONCERTMASTER_RETRY_AFTER_SECONDS


broker_circuit = Circuit("broker", seconds=2.0)
_ping_client = None
_ping_client_key: tuple | None = None


def _broker_ping() -> None:
    """PING the Redis broker with short timeouts (one reused client per process); other brokers: a connect."""
    global _ping_client, _ping_client_key
    url = settings.CELERY_BROKER_URL
    if urlsplit(url).scheme not in ("redis", "rediss"):
        from concertmaster.celery import app

        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return
    import redis

    key = (os.getpid(), url)
    if _ping_client is None or _ping_client_key != key:
        timeout = settings.CONCERTMASTER_REDIS_SOCKET_TIMEOUT_SECONDS
        _ping_client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        _ping_client_key = key
    _ping_client.ping()


def broker_required() -> None:
    """Raise ServiceUnavailable (503, Retry-After) when the Celery broker cannot take a task right now.

    The embedded mode's in-memory broker lives in this process and is always there.
    """
    if urlsplit(settings.CELERY_BROKER_URL).scheme == "memory":
        return
    wait = retry_after_seconds()
    if broker_circuit.is_open():
        raise ServiceUnavailable(BROKER_UNAVAILABLE.format(seconds=wait), wait=wait)
    try:
        _broker_ping()
    except Exception as error:  # any failure to reach it: refused, timed out, authentication, DNS
        broker_circuit.trip(error, "The Celery broker is unreachable: answering 503 to writes that dispatch")
        raise ServiceUnavailable(BROKER_UNAVAILABLE.format(seconds=wait), wait=wait) from error


def unavailable_response(request: HttpRequest, detail: str, wait: int) -> HttpResponse:
    """503 with Retry-After: the API's JSON error shape under /api/ and /hooks/, a small HTML page elsewhere."""
    if request.path.startswith(JSON_PREFIXES):
        response: HttpResponse = JsonResponse(
            {"type": "service_unavailable", "detail": detail, "errors": []}, status=503
        )
    else:
        html = render_to_string("site/unavailable.html", {"detail": detail})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(wait)
    return response


def response_for(request: HttpRequest, error: BaseException | None) -> HttpResponse | None:
    """The 503 for a database or broker outage, None for any other error."""
    if isinstance(error, DATABASE_ERRORS):
        logger.warning("The database is unavailable: %s: %s", type(error).__name__, error)
        wait = retry_after_seconds()
        return unavailable_response(request, DATABASE_UNAVAILABLE.format(seconds=wait), wait)
    if isinstance(error, ServiceUnavailable):
        return unavailable_response(request, str(error.detail), error.wait)
    return None


class UnavailableMiddleware:
    """A view (DRF's included: its handler leaves these errors alone) that fails because the database or the
    broker is down answers 503, not 500. Errors raised outside views reach `apps.core.views.server_error`."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return response_for(request, exception)
