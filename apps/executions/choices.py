from django.db import models


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class NodeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


class RunMode(models.TextChoices):
    """What part of the graph an execution runs: all of it, or (a partial test run) one node or up to one."""

    FULL = "full", "Full run"
    NODE = "node", "One node"
    UP_TO = "up_to", "Up to a node"


class LogLevel(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


EXECUTION_TERMINAL = frozenset({ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})
EXECUTION_ACTIVE = frozenset({ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED})
NODE_TERMINAL = frozenset({NodeStatus.SUCCEEDED, NodeStatus.FAILED, NodeStatus.SKIPPED, NodeStatus.CANCELLED})
NODE_IN_FLIGHT = frozenset({NodeStatus.QUEUED, NodeStatus.RUNNING, NodeStatus.RETRYING, NodeStatus.WAITING})


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"
    HALF_OPEN = "half_open", "Half-open"


class DeliveryOutcome(models.TextChoices):
    """What became of a webhook call, as the webhook inbox records it."""

    ACCEPTED = "accepted", "Accepted"
    DUPLICATE = "duplicate", "Duplicate"
    REFUSED_SIGNATURE = "refused_signature", "Refused (signature)"
    INVALID = "invalid", "Invalid"
    INACTIVE = "inactive", "Inactive"


class AlertKind(models.TextChoices):
    """What an alert rule watches (apps/executions/alerts.py)."""

    PRODUCTION_FAILURE = "production_failure", "A production run failed"
    FAILURE_RATE = "failure_rate", "Failure rate over a threshold"
    STUCK_RUN = "stuck_run", "A run running longer than a limit"


class AlertChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack incoming webhook"
    WEBHOOK = "webhook", "Signed webhook"
