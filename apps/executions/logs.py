"""Execution logs: what nodes log (the `log` node, `ctx.logger`, `ctx.log`), stored per execution and node.

A node run gets a `NodeLog` (runner): `ctx.log(level, message, **metadata)` and every record of `ctx.logger` end
up in `execution_log_write`, which stores the line at once (a node that times out or crashes keeps what it
logged), bounded per execution, and sends it to the execution's and workflow's live streams as a `log` message.
Lines are not events: they carry no seq and do not touch the execution row, so logging never slows the engine's
transitions. The bound is counted per node run from the stored count, so nodes logging in parallel may pass it
by a few lines each.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from . import events
from .choices import LogLevel
from .models import ExecutionLog, WorkflowExecution

logger = logging.getLogger(__name__)

LEVEL_ORDER: list[str] = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARNING, LogLevel.ERROR]
MSG_TRUNCATED = (
    "The execution reached its bound of {limit} log lines (CONCERTMASTER_EXECUTION_LOG_MAX_LINES): "
    "later lines are dropped."
)
METADATA_MAX_BYTES = 16 * 1024
#: Defaults of CONCERTMASTER_EXECUTION_LOG_MAX_LINES and CONCERTMASTER_EXECUTION_LOG_MAX_MESSAGE_CHARS.
DEFAULT_MAX_LINES = 1000
DEFAULT_MAX_MESSAGE_CHARS = 8000


def max_lines() -> int:
    return getattr(settings, "CONCERTMASTER_EXECUTION_LOG_MAX_LINES", DEFAULT_MAX_LINES)


def max_message_chars() -> int:
    return getattr(settings, "CONCERTMASTER_EXECUTION_LOG_MAX_MESSAGE_CHARS", DEFAULT_MAX_MESSAGE_CHARS)


LOG_MESSAGE_TYPE = "log"


def level_name(levelno: int) -> str:
    """The stored level of a Python logging level (CRITICAL is stored as error)."""
    if levelno >= logging.ERROR:
        return LogLevel.ERROR
    if levelno >= logging.WARNING:
        return LogLevel.WARNING
    if levelno >= logging.INFO:
        return LogLevel.INFO
    return LogLevel.DEBUG


def _normalised_level(level: Any) -> str:
    if isinstance(level, int):
        return level_name(level)
    text = str(level).lower()
    if text == "critical":
        return LogLevel.ERROR
    return text if text in LogLevel.values else LogLevel.INFO


def _metadata(metadata: dict) -> dict:
    """Metadata as plain JSON, or {"truncated": true} past METADATA_MAX_BYTES."""
    try:
        text = json.dumps(metadata, cls=DjangoJSONEncoder, default=str)
    except (TypeError, ValueError):
        return {"unserialisable": True}
    if len(text.encode()) > METADATA_MAX_BYTES:
        return {"truncated": True}
    return json.loads(text)


class NodeLog:
    """The log of one node run: writes lines for `ctx.log` and is the handler of the run's `ctx.logger`."""

    def __init__(self, *, execution_id: str, organization_id: str, workflow_id: str, node_id: str) -> None:
        self.execution_id, self.organization_id = execution_id, organization_id
        self.workflow_id, self.node_id = workflow_id, node_id
        self.count: int | None = None

    def log(self, level: Any, message: Any, **metadata: Any) -> None:
        limit = max_lines()
        if self.count is None:
            self.count = ExecutionLog.objects.filter(execution_id=self.execution_id).count()  # type: ignore[misc]  # str id
        if self.count >= limit:
            return
        self.count += 1
        if self.count == limit:
            level, message, metadata = LogLevel.WARNING, MSG_TRUNCATED.format(limit=limit), {"truncated": True}
        text = message if isinstance(message, str) else json.dumps(message, cls=DjangoJSONEncoder, default=str)
        execution_log_write(
            execution_id=self.execution_id,
            organization_id=self.organization_id,
            workflow_id=self.workflow_id,
            node_id=self.node_id,
            level=_normalised_level(level),
            message=text[: max_message_chars()],
            metadata=_metadata(metadata),
        )

    def logger(self, name: str) -> logging.Logger:
        """A logger for the node (`ctx.logger`): its records are stored here, and also go on to the logger `name`
        of the process's configuration when that one would handle them."""
        run_logger = logging.Logger(name, level=logging.DEBUG)
        run_logger.propagate = False
        run_logger.addHandler(_Handler(self, logging.getLogger(name)))
        return run_logger


class _Handler(logging.Handler):
    def __init__(self, sink: NodeLog, parent: logging.Logger) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink, self.parent = sink, parent

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.log(level_name(record.levelno), record.getMessage())
        except Exception:
            logger.warning("Could not store a log line of node %s", self.sink.node_id, exc_info=True)
        if self.parent.isEnabledFor(record.levelno):
            self.parent.handle(record)


def execution_log_write(
    *,
    execution_id: str,
    organization_id: str,
    workflow_id: str,
    node_id: str,
    level: str,
    message: str,
    metadata: dict | None = None,
) -> ExecutionLog:
    """Store one line (no bound checked: `NodeLog` does) and send it to the live streams."""
    line = ExecutionLog(
        organization_id=organization_id,
        execution_id=execution_id,
        node_id=node_id,
        level=level,
        message=message,
        metadata=metadata or {},
        at=timezone.now(),
    )
    line.save()
    payload = {
        "v": events.EVENT_VERSION,
        "type": LOG_MESSAGE_TYPE,
        "execution_id": str(execution_id),
        "workflow_id": str(workflow_id),
        "node_id": node_id or None,
        "status": None,
        "seq": None,
        "at": line.at.isoformat(),
        "data": log_payload(line),
    }
    events.send_to_groups([events.execution_group(execution_id), events.workflow_group(workflow_id)], payload)
    return line


def log_payload(line: ExecutionLog) -> dict:
    return {
        "id": line.pk,
        "node_id": line.node_id,
        "level": line.level,
        "message": line.message,
        "metadata": line.metadata,
        "at": line.at.isoformat(),
    }


def execution_log_list(
    *, execution: WorkflowExecution, after: int = 0, node: str | None = None, level: str | None = None, limit: int = 500
) -> QuerySet[ExecutionLog]:
    """The execution's lines after line id `after`, oldest first; of one node, from a level up."""
    lines = ExecutionLog.objects.filter(execution=execution, id__gt=after)
    if node:
        lines = lines.filter(node_id=node)
    if level:
        lines = lines.filter(level__in=LEVEL_ORDER[LEVEL_ORDER.index(level) :])
    return lines.order_by("id")[:limit]
