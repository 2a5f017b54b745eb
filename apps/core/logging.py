"""Structured logs: every record goes through structlog, as JSON in production and readable text in
development, carrying the context bound for the current request or node run.

- `RequestIdMiddleware` gives each request a correlation id: the caller's `X-Request-ID` when it is a sane
  token, else a new one; it is bound to every log line of the request, returned in the `X-Request-ID`
  response header, and stored on executions the request starts (`current_correlation_id()`).
- The engine binds `execution_id`, `node_id` and the execution's `correlation_id` around each node run, so
  a workflow's logs can be followed from the request that started it through every worker.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from structlog.contextvars import bound_contextvars, get_contextvars

REQUEST_ID_HEADER = "X-Request-ID"
#: What a caller's request id may look like (it ends up in logs and in a database column of 64 characters).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")

#: Processors that turn a stdlib or structlog record into an event dict, before rendering.
SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, json: bool, level: str) -> dict:
    """The LOGGING setting: one console handler whose formatter renders through structlog."""
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    renderer,
                ],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"celery": {"level": "WARNING"}},
    }


def configure_structlog() -> None:
    """structlog's own loggers hand their events to the stdlib handlers above."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def current_correlation_id() -> str:
    """The correlation id bound for the current request or node run, or ""."""
    context = get_contextvars()
    return context.get("correlation_id") or context.get("request_id") or ""


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def request_id_of(request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.match(given) else new_correlation_id()


class RequestIdMiddleware:
    """Bind a request id to the logs of each request and echo it in the response (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id = request_id_of(request)
        with bound_contextvars(request_id=request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response

    async def _acall(self, request):
        request_id = request_id_of(request)
        with bound_contextvars(request_id=request_id):
            response = await self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response
