"""How executions start from outside: signed webhooks, form submissions, schedules and plugins' trigger kinds.

The public views in `views.py` and the beat task in `tasks.py` stay thin and call these functions. Every start
goes through `_start`, which asks the trigger's kind (apps/workflows/trigger_kinds.py) what the run receives;
`trigger_fire` is how a plugin's kind starts a run (from its own endpoint, consumer or task).
"""

import hashlib
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.jsonparse import JSONTooDeep, json_loads_bounded
from apps.orgs.services import Actor, audit
from apps.workflows.choices import TriggerKind, WorkflowStatus
from apps.workflows.models import FormSubmission, Trigger
from apps.workflows.trigger_kinds import trigger_kinds
from apps.workflows.triggers import form_submission_create, form_submission_link, trigger_start_node

from . import metrics
from .choices import EXECUTION_TERMINAL, DeliveryOutcome, NodeStatus
from .files import execution_files_attach
from .models import WebhookDelivery, WorkflowExecution
from .services import execution_start
from .signatures import (
    SIGNATURE_HEADER,
    SIGNATURE_HEADERS,
    SIGNATURE_MALFORMED,
    SIGNATURE_MISMATCH,
    SIGNATURE_MISSING,
    SIGNATURE_STALE,
    SignatureError,
    Verified,
    sign,
    signature_verify,
)

__all__ = [
    "SIGNATURE_HEADER",
    "SIGNATURE_MALFORMED",
    "SIGNATURE_MISMATCH",
    "SIGNATURE_MISSING",
    "SIGNATURE_STALE",
    "SignatureError",
    "sign",
    "signature_verify",
]

WORKFLOW_INACTIVE = "The workflow is not active."
TRIGGER_INACTIVE = "This trigger is switched off."
START_NODE_MISSING = "The workflow no longer starts with a {kind} node."
IDEMPOTENCY_KEY_TOO_LONG = "Idempotency-Key is longer than 200 characters."
NOT_JSON = "The body is not valid JSON: {error}"
REPLAY_TRUNCATED = "This delivery's body was longer than the inbox keeps: it cannot be replayed."
WEBHOOK_RESPONSE_NODE = "webhook_response"
#: Headers never kept: credentials of the caller. Signature headers are kept with their value redacted.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Delivery:
    """The outcome of a webhook call: the execution, and whether an earlier delivery already started it."""

    execution: WorkflowExecution
    replayed: bool
    delivery_id: Any = None


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
    signature_scheme: str
    wait_for_response: bool
    timeout_seconds: float


def webhook_settings(*, trigger: Trigger) -> WebhookSettings:
    config = published_node(trigger=trigger).get("config") or {}
    timeout = config.get("response_timeout_seconds", 10)
    return WebhookSettings(
        # Fails closed: anything but false (an unrendered expression included) demands a signature.
        require_signature=bool(config.get("require_signature", False)),
        signature_scheme=str(config.get("signature_scheme") or "concertmaster"),
        wait_for_response=config.get("response_mode", "immediate") == "response_node",
        timeout_seconds=min(
            float(timeout) if isinstance(timeout, int | float) else 10.0, settings.CONCERTMASTER_MAX_WAIT_SECONDS
        ),
    )


@dataclass
class WebhookCall:
    """One call of a webhook as it arrived: what the inbox keeps and what the workflow receives."""

    method: str
    headers: dict[str, str]
    query: dict[str, Any]
    content_type: str = ""
    body: bytes = b""
    remote_addr: str | None = None
    body_dropped: bool = False  # over the webhook's size limit: not read, so the inbox cannot keep it
    scheme: str = ""
    verified: Verified | None = field(default=None)
    #: Lower-case names of headers that carry this webhook's own token (its `header` authentication).
    token_headers: frozenset[str] = frozenset()

    @property
    def idempotency_key(self) -> str:
        return next((v.strip() for k, v in self.headers.items() if k.lower() == "idempotency-key"), "")

    def workflow_headers(self) -> dict[str, str]:
        """The headers the workflow sees: no credentials, no signatures."""
        hidden = SECRET_HEADERS | SIGNATURE_HEADERS | self.token_headers
        return {name: value for name, value in self.headers.items() if name.lower() not in hidden}

    def inbox_headers(self) -> dict[str, str]:
        """The headers the inbox keeps: no credentials; signatures redacted (a replay must not be rebuilt)."""
        hidden = SECRET_HEADERS | self.token_headers
        kept = {name: value for name, value in self.headers.items() if name.lower() not in hidden}
        return {name: REDACTED if name.lower() in SIGNATURE_HEADERS else value for name, value in kept.items()}

    def payload(self) -> dict:
        """The execution's trigger data: `{body, headers, query, method}` (the webhook node's input)."""
        body = body_parse(content_type=self.content_type, body=self.body)
        return {"body": body, "headers": self.workflow_headers(), "query": self.query, "method": self.method}


class InvalidBody(ApplicationError):
    """A webhook body that does not parse as its content type says (answered with 400)."""


def body_parse(*, content_type: str, body: bytes) -> Any:
    """A webhook body as the workflow reads it: JSON, form fields, or text."""
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            return json_loads_bounded(body or b"null")  # nesting limit: a 400, not a RecursionError
        except JSONTooDeep as error:
            raise InvalidBody(error.message) from error
        except (ValueError, UnicodeDecodeError) as error:
            raise InvalidBody(NOT_JSON.format(error=error)) from error
    if content_type == "application/x-www-form-urlencoded":
        return {key: values[-1] if len(values) == 1 else values for key, values in QueryDict(body).lists()}
    return body.decode("utf-8", errors="replace")


def _start(*, trigger: Trigger, data: Any, user=None) -> WorkflowExecution:
    """Start the trigger's workflow with what its kind makes of `data` (the call, the submission) as trigger data."""
    trigger_data = trigger_kinds.get(trigger.kind).run_input(trigger=trigger, payload=data)
    return execution_start(
        workflow=trigger.workflow, trigger_kind=trigger.kind, trigger_data=trigger_data, triggered_by=user
    )


@transaction.atomic
def trigger_fire(*, trigger: Trigger, payload: Any = None, user=None) -> WorkflowExecution:
    """Start a run from a trigger of any kind: the trigger and its workflow must be active and the running version
    must still start with a node the kind fits. The run's trigger data is the kind's `run_input(payload)`."""
    _check_active(trigger)
    published_node(trigger=trigger)
    return _start(trigger=trigger, data=payload, user=user)


def _inbox_row(*, trigger: Trigger, call: WebhookCall, outcome: str, status_code: int, detail: str = "") -> dict:
    cap = settings.CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES
    verified = call.verified
    return {
        "organization_id": trigger.organization_id,
        "trigger": trigger,
        "outcome": outcome,
        "status_code": status_code,
        "detail": detail[:500],
        "method": call.method[:10],
        "headers": call.inbox_headers(),
        "query": call.query,
        "content_type": call.content_type[:200],
        "body": call.body[:cap].decode("utf-8", errors="replace"),
        "body_truncated": len(call.body) > cap or call.body_dropped,
        "remote_addr": call.remote_addr or None,
        "signature_scheme": call.scheme,
        # A digest of the signature, not the signature: the inbox must not hold what a replay needs.
        "signature_digest": hashlib.sha256(f"{call.scheme}:{verified.digest}".encode()).hexdigest() if verified else "",
        "message_id": verified.message_id if verified else "",
        "idempotency_key": call.idempotency_key[:200],
    }


def _earlier(*, trigger: Trigger, row: dict) -> WebhookDelivery | None:
    """The accepted delivery this call repeats: same signature, same sender message id, or same live key."""
    same = Q()
    if row["signature_digest"]:
        same |= Q(signature_digest=row["signature_digest"])
    if row["message_id"]:
        same |= Q(message_id=row["message_id"])
    if row["idempotency_key"]:
        same |= Q(idempotency_key=row["idempotency_key"], idempotency_active=True)
    if not same:
        return None
    accepted = WebhookDelivery.objects.filter(trigger=trigger, outcome=DeliveryOutcome.ACCEPTED)
    return accepted.filter(same).select_related("execution").order_by("created_at").first()


def webhook_deliver(
    *, trigger: Trigger, call: WebhookCall, payload: dict, files: list[tuple[str, dict]] | None = None
) -> Delivery:
    """Start the trigger's workflow once per signed message and per idempotency key, and keep the call in the inbox.

    A verified signature (and the sender's message id) is accepted once for as long as the inbox keeps the row,
    whatever `Idempotency-Key` comes with it: the key is not signed. A key deduplicates for
    CONCERTMASTER_WEBHOOK_IDEMPOTENCY_HOURS. A repeat starts nothing and answers with the first execution.
    `files`: the call's stored uploads ((field, reference) pairs), listed with the execution it starts.
    """
    _check_active(trigger)
    if len(call.idempotency_key) > 200:
        raise ApplicationError(IDEMPOTENCY_KEY_TOO_LONG)
    row = _inbox_row(trigger=trigger, call=call, outcome=DeliveryOutcome.ACCEPTED, status_code=202)
    window_start = timezone.now() - timedelta(hours=settings.CONCERTMASTER_WEBHOOK_IDEMPOTENCY_HOURS)
    with transaction.atomic():
        if row["idempotency_key"]:
            WebhookDelivery.objects.filter(
                trigger=trigger, idempotency_key=row["idempotency_key"], created_at__lt=window_start
            ).update(idempotency_active=False)
        earlier = _earlier(trigger=trigger, row=row)
        if earlier is None:
            try:
                with transaction.atomic():
                    delivery = WebhookDelivery.objects.create(**row, idempotency_active=bool(row["idempotency_key"]))
            except IntegrityError:
                earlier = _earlier(trigger=trigger, row=row)  # a concurrent call with the same identity won
                if earlier is None:
                    raise
            else:
                delivery.execution = _start(trigger=trigger, data=payload)
                delivery.save(update_fields=["execution", "updated_at"])
                if files:
                    execution_files_attach(execution=delivery.execution, uploads=files)
                transaction.on_commit(partial(metrics.count_webhook_delivery, outcome=DeliveryOutcome.ACCEPTED))
                return Delivery(execution=delivery.execution, replayed=False, delivery_id=delivery.pk)
        duplicate = WebhookDelivery.objects.create(
            **{**row, "outcome": DeliveryOutcome.DUPLICATE, "status_code": 200}, execution=earlier.execution
        )
        transaction.on_commit(partial(metrics.count_webhook_delivery, outcome=DeliveryOutcome.DUPLICATE))
        # An accepted delivery always has its execution (set in the transaction that accepted it).
        return Delivery(execution=cast(WorkflowExecution, earlier.execution), replayed=True, delivery_id=duplicate.pk)


def webhook_refusal_record(*, trigger: Trigger, call: WebhookCall, outcome: str, status_code: int, detail: str) -> None:
    """Keep a refused call in the inbox (it started nothing)."""
    WebhookDelivery.objects.create(
        **_inbox_row(trigger=trigger, call=call, outcome=outcome, status_code=status_code, detail=detail)
    )
    transaction.on_commit(partial(metrics.count_webhook_delivery, outcome=outcome))


def webhook_delivery_answered(*, delivery_id, status_code: int) -> None:
    """Record the status a synchronous webhook finally answered with."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(status_code=status_code)


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery, user=None, actor: Actor = None) -> WorkflowExecution:
    """Start a new execution from a delivery the inbox kept, as if it had just been accepted (signature and
    duplicate checks do not apply: the caller may execute the workflow). Audited as `webhook_delivery.replay`."""
    if delivery.body_truncated:
        raise ApplicationError(REPLAY_TRUNCATED)
    call = WebhookCall(
        method=delivery.method,
        headers={name: value for name, value in delivery.headers.items() if value != REDACTED},
        query=delivery.query,
        content_type=delivery.content_type,
        body=delivery.body.encode(),
    )
    execution = _start(trigger=delivery.trigger, data=call.payload(), user=user)
    audit(
        actor=actor,
        organization=delivery.trigger.workflow.organization,
        action="webhook_delivery.replay",
        target=delivery,
        data={"execution": str(execution.pk), "trigger": str(delivery.trigger_id)},
    )
    return execution


def form_submit(
    *, trigger: Trigger, data: object, remote_addr: str | None = None, files: list[tuple[str, dict]] | None = None
) -> FormSubmission:
    """Store a submission, checked once against the form node's fields; a valid one starts an execution whose
    input (and the form node's output) is the submitted values. An invalid one starts nothing."""
    _check_active(trigger)
    form_node = published_node(trigger=trigger)
    with transaction.atomic():
        submission = form_submission_create(trigger=trigger, data=data, form_node=form_node, remote_addr=remote_addr)
        if not submission.errors:
            execution = _start(trigger=trigger, data=submission.data)
            form_submission_link(submission=submission, execution_id=execution.pk)
            if files:  # uploads (form fields of format file), listed with the run
                execution_files_attach(execution=execution, uploads=files)
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
        return _start(trigger=trigger, data=None)  # the schedule kind's run input: scheduled_at and trigger_id


def execution_wait(*, execution_id, timeout: float, poll: float | None = None, until=None) -> WorkflowExecution:
    """Wait until the execution is finished (or `until(execution)` holds) or `timeout` seconds passed.

    Woken by the execution's live events (waits.py), reading the database then and at least every `poll` seconds
    (waits.FALLBACK_POLL_SECONDS).
    """
    from . import waits

    poll = waits.FALLBACK_POLL_SECONDS if poll is None else poll
    deadline = time.monotonic() + max(0.0, timeout)
    with waits.subscribed(execution_id) as woken:
        while True:
            woken.clear()
            execution = WorkflowExecution.objects.get(pk=execution_id)
            done = execution.status in EXECUTION_TERMINAL or (until is not None and until(execution))
            left = deadline - time.monotonic()
            if done or left <= 0:
                return execution
            woken.wait(min(poll, left))


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
