"""How executions start from outside: signed webhooks, form submissions and schedules.

The public views in `views.py` and the beat task in `tasks.py` stay thin and call these functions.
"""

import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.workflows.choices import TriggerKind, WorkflowStatus
from apps.workflows.models import FormSubmission, Trigger
from apps.workflows.triggers import form_submission_create, form_submission_link, trigger_start_node

from .choices import EXECUTION_TERMINAL, NodeStatus
from .models import WebhookDelivery, WorkflowExecution
from .services import execution_start

SIGNATURE_HEADER = "X-ConcertMaster-Signature"
SIGNATURE_MISSING = "This webhook requires a signature in the X-ConcertMaster-Signature header."
SIGNATURE_MALFORMED = "The signature header must look like t=<unix seconds>,v1=<hex HMAC-SHA256>."
SIGNATURE_STALE = "The signature timestamp is outside the {tolerance}-second tolerance."
SIGNATURE_MISMATCH = "The signature does not match the body."
WORKFLOW_INACTIVE = "The workflow is not active."
TRIGGER_INACTIVE = "This trigger is switched off."
START_NODE_MISSING = "The workflow no longer starts with a {kind} node."
IDEMPOTENCY_KEY_TOO_LONG = "Idempotency-Key is longer than 200 characters."
WEBHOOK_RESPONSE_NODE = "webhook_response"


class SignatureError(ApplicationError):
    """A webhook call whose signature is missing, malformed, stale or wrong (answered with 401)."""


def sign(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body`: what a sender computes (used by tests and docs)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_verify(*, secret: str, header: str | None, body: bytes, now: float | None = None) -> str:
    """Check `header` against `body`; returns the matching v1 digest. Raises SignatureError."""
    if not header:
        raise SignatureError(SIGNATURE_MISSING)
    parts = [part.strip().partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in parts if key == "t"]
    digests = [value for key, _, value in parts if key == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not digests:
        raise SignatureError(SIGNATURE_MALFORMED)
    tolerance = settings.CONCERTMASTER_WEBHOOK_TOLERANCE_SECONDS
    now = time.time() if now is None else now
    if abs(now - int(timestamps[0])) > tolerance:
        raise SignatureError(SIGNATURE_STALE.format(tolerance=tolerance))
    expected = hmac.new(secret.encode(), f"{timestamps[0]}.".encode() + body, hashlib.sha256).hexdigest()
    for digest in digests:
        if hmac.compare_digest(expected, digest.lower()):
            return expected
    raise SignatureError(SIGNATURE_MISMATCH)


@dataclass(frozen=True)
class Delivery:
    """The outcome of a webhook call: the execution, and whether an earlier delivery already started it."""

    execution: WorkflowExecution
    replayed: bool


def _check_active(trigger: Trigger) -> None:
    if not trigger.is_active:
        raise ApplicationError(TRIGGER_INACTIVE)
    if trigger.workflow.status != WorkflowStatus.ACTIVE:
        raise ApplicationError(WORKFLOW_INACTIVE)


def published_node(*, trigger: Trigger) -> dict:
    """The start node a form or webhook trigger publishes (its config is the form or the webhook's settings)."""
    node = trigger_start_node(trigger=trigger)
    if node is None:
        raise ApplicationError(START_NODE_MISSING.format(kind=trigger.kind))
    return node


@dataclass(frozen=True)
class WebhookSettings:
    """How a webhook trigger takes calls, read from its webhook start node's config."""

    require_signature: bool
    wait_for_response: bool
    timeout_seconds: float


def webhook_settings(*, trigger: Trigger) -> WebhookSettings:
    config = published_node(trigger=trigger).get("config") or {}
    timeout = config.get("response_timeout_seconds", 10)
    return WebhookSettings(
        # Fails closed: anything but false (an unrendered expression included) demands a signature.
        require_signature=bool(config.get("require_signature", False)),
        wait_for_response=config.get("response_mode", "immediate") == "response_node",
        timeout_seconds=min(
            float(timeout) if isinstance(timeout, int | float) else 10.0, settings.CONCERTMASTER_MAX_WAIT_SECONDS
        ),
    )


def _start(*, trigger: Trigger, data: dict) -> WorkflowExecution:
    return execution_start(workflow=trigger.workflow, trigger_kind=trigger.kind, trigger_data=data)


def webhook_deliver(*, trigger: Trigger, payload: dict, idempotency_key: str = "") -> Delivery:
    """Start the trigger's workflow once per idempotency key within the window (same key, same execution)."""
    _check_active(trigger)
    if len(idempotency_key) > 200:
        raise ApplicationError(IDEMPOTENCY_KEY_TOO_LONG)
    if not idempotency_key:
        with transaction.atomic():
            return Delivery(execution=_start(trigger=trigger, data=payload), replayed=False)
    window_start = timezone.now() - timedelta(hours=settings.CONCERTMASTER_WEBHOOK_IDEMPOTENCY_HOURS)
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.filter(trigger=trigger, idempotency_key=idempotency_key)
        deliveries.filter(created_at__lt=window_start).delete()
        earlier = deliveries.select_related("execution").first()
        if earlier is not None and earlier.execution_id is not None:
            return Delivery(execution=earlier.execution, replayed=True)
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    organization_id=trigger.organization_id, trigger=trigger, idempotency_key=idempotency_key
                )
        except IntegrityError:
            # A concurrent delivery with the same key won the insert: answer with its execution.
            earlier = WebhookDelivery.objects.select_related("execution").get(
                trigger=trigger, idempotency_key=idempotency_key
            )
            return Delivery(execution=earlier.execution, replayed=True)
        delivery.execution = _start(trigger=trigger, data=payload)
        delivery.save(update_fields=["execution", "updated_at"])
        return Delivery(execution=delivery.execution, replayed=False)


def form_submit(*, trigger: Trigger, data: object, remote_addr: str | None = None) -> FormSubmission:
    """Store a submission, checked once against the form node's fields; a valid one starts an execution whose
    input (and the form node's output) is the submitted values. An invalid one starts nothing."""
    _check_active(trigger)
    form_node = published_node(trigger=trigger)
    with transaction.atomic():
        submission = form_submission_create(trigger=trigger, data=data, form_node=form_node, remote_addr=remote_addr)
        if not submission.errors:
            execution = _start(trigger=trigger, data=submission.data)
            form_submission_link(submission=submission, execution_id=execution.pk)
    return submission


def schedule_fire(*, trigger_id: str) -> WorkflowExecution | None:
    """The beat task's body: start the workflow if its schedule trigger and the workflow are still active and the
    running version still starts with a node a schedule fits."""
    trigger = (
        Trigger.objects.select_related("workflow")
        .filter(pk=trigger_id, kind=TriggerKind.SCHEDULE, is_active=True, workflow__status=WorkflowStatus.ACTIVE)
        .first()
    )
    if trigger is None or trigger_start_node(trigger=trigger) is None:
        # A workflow edited since to start with a node a schedule does not fit (a form): starting it would fail.
        return None
    with transaction.atomic():
        return _start(trigger=trigger, data={"scheduled_at": timezone.now().isoformat(), "trigger_id": str(trigger.pk)})


def execution_wait(*, execution_id, timeout: float, poll: float = 0.05, until=None) -> WorkflowExecution:
    """Poll until the execution is finished (or `until(execution)` holds) or `timeout` seconds passed."""
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        execution = WorkflowExecution.objects.get(pk=execution_id)
        done = execution.status in EXECUTION_TERMINAL or (until is not None and until(execution))
        if done or time.monotonic() >= deadline:
            return execution
        time.sleep(poll)


def failed_node_of(execution: WorkflowExecution) -> tuple[str, str]:
    """(node id, error message) of the node whose failure ended the execution ("" when none is known)."""
    error = execution.error if isinstance(execution.error, dict) else {}
    node = execution.node_executions.filter(status=NodeStatus.FAILED).order_by("finished_at").first()
    if node is not None:
        node_error = node.error if isinstance(node.error, dict) else {}
        return node.node_id, str(node_error.get("message") or error.get("message") or "")
    return str(error.get("node_id") or ""), str(error.get("message") or "")


def webhook_response_of(execution: WorkflowExecution) -> dict | None:
    """The output ({status, headers, body}) of the execution's webhook_response node once it succeeded."""
    node = execution.node_executions.filter(node_type=WEBHOOK_RESPONSE_NODE, status=NodeStatus.SUCCEEDED).first()
    return node.output if node is not None and isinstance(node.output, dict) else None
