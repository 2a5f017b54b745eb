"""Alert rules: built-in watches of an organization's production runs, told by email, Slack or a signed webhook.

Kinds (`AlertKind`):
- production_failure: runs that failed since the last message;
- failure_rate: at least `threshold_percent` of the runs that finished in the last `window_minutes` failed (and at
  least `min_runs` finished);
- stuck_run: runs still running `window_minutes` after they started (each reported once, when it crosses the limit).

Production runs are top-level runs that are not test runs (`test_run`, partial runs); child runs are left out (their
parent fails or handles the failure). One pass (`alerts_pass`, a beat task every minute) looks at every active rule:
a rule whose last message is younger than its `digest_minutes` waits, so a burst of failures makes one message.
Failures are read from the executions themselves up to SETTLE before now (a run failing in a transaction not yet
committed is read on the next pass), from `checked_until` on, which moves only when a message went out or there
was nothing to say: a message that could not be delivered is tried again, with what came meanwhile, a digest later.

Outgoing URLs go through the guarded HTTP client of the nodes: private and loopback addresses are refused unless
CONCERTMASTER_ALLOW_PRIVATE_HTTP allows them. Email goes through Django's mail settings (EMAIL_URL).
"""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from apps.core.params import UNSET, Unset, given
from apps.nodes import http
from apps.nodes.base import NodeError
from apps.nodes.builtin.integrations import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from apps.nodes.netguard import ALLOW_PRIVATE_SETTING
from apps.orgs.choices import MANAGER_ROLES
from apps.orgs.models import Organization
from apps.orgs.selectors import Access
from apps.orgs.services import Actor, audit
from apps.workflows.models import Workflow

from .alert_models import AlertMessage, AlertRule
from .choices import AlertChannel, AlertKind, ExecutionStatus
from .failures import error_workflow_resend, execution_link
from .models import WorkflowExecution

#: How recent a failure may be and still wait for the next pass (its transaction may not be visible yet).
SETTLE = timedelta(seconds=10)
#: At most this many runs are listed in one message (the count says how many there were).
MAX_LISTED = 20
SEND_TIMEOUT_SECONDS = 10.0

TARGET_EMAIL_INVALID = "Give one or more email addresses separated by commas."
TARGET_URL_INVALID = "Give an http:// or https:// URL."
SECRET_REQUIRED = "A signed webhook needs a signing secret."
THRESHOLD_REQUIRED = "A failure rate rule needs a threshold (1 to 100 percent)."
WORKFLOW_OTHER_ORGANIZATION = "Must be a workflow of the rule's organization."
DELIVERY_REFUSED = "{channel} answered {status}."


class AlertDeliveryError(Exception):
    """A message could not be delivered; the text says why."""


@dataclass
class Finding:
    """What a rule has to say: one message."""

    subject: str
    lines: list[str]
    count: int
    data: dict = field(default_factory=dict)


# --- rules: reads, checks and services ------------------------------------------------------------------


def alert_rule_list(*, access: Access) -> QuerySet[AlertRule]:
    """The rules of the organizations the caller manages (they hold outgoing URLs and addresses)."""
    return AlertRule.objects.filter(organization_id__in=access.organization_ids(MANAGER_ROLES))


def recipients(target: str) -> list[str]:
    return [address.strip() for address in target.split(",") if address.strip()]


def rule_check(rule: AlertRule) -> None:
    """Raise ValidationError naming the field at fault (besides the model's own field checks)."""
    errors: dict[str, list[str]] = {}
    if rule.channel == AlertChannel.EMAIL:
        addresses = recipients(rule.target)
        try:
            if not addresses:
                raise ValidationError(TARGET_EMAIL_INVALID)
            for address in addresses:
                EmailValidator(message=TARGET_EMAIL_INVALID)(address)
        except ValidationError:
            errors["target"] = [TARGET_EMAIL_INVALID]
    elif rule.channel in (AlertChannel.SLACK, AlertChannel.WEBHOOK):
        try:
            URLValidator(schemes=["http", "https"], message=TARGET_URL_INVALID)(rule.target)
        except ValidationError:
            errors["target"] = [TARGET_URL_INVALID]
    if rule.channel == AlertChannel.WEBHOOK and not rule.signing_secret:
        errors["signing_secret"] = [SECRET_REQUIRED]
    if rule.kind == AlertKind.FAILURE_RATE and not rule.threshold_percent:
        errors["threshold_percent"] = [THRESHOLD_REQUIRED]
    if rule.workflow is not None and rule.workflow.organization_id != rule.organization_id:
        errors["workflow"] = [WORKFLOW_OTHER_ORGANIZATION]
    if errors:
        raise ValidationError(errors)


def _save(rule: AlertRule, fields: list[str] | None = None) -> None:
    rule.full_clean()
    rule_check(rule)
    rule.save(update_fields=[*fields, "updated_at"] if fields is not None else None)


@transaction.atomic
def alert_rule_create(
    *,
    organization: Organization,
    name: str,
    kind: str,
    channel: str,
    target: str,
    workflow: Workflow | None = None,
    signing_secret: str = "",
    threshold_percent: int | None = None,
    min_runs: int = 5,
    window_minutes: int = 60,
    digest_minutes: int = 5,
    is_active: bool = True,
    actor: Actor = None,
) -> AlertRule:
    rule = AlertRule(
        organization=organization,
        name=name,
        kind=kind,
        channel=channel,
        target=target,
        workflow=workflow,
        signing_secret=signing_secret,
        threshold_percent=threshold_percent,
        min_runs=min_runs,
        window_minutes=window_minutes,
        digest_minutes=digest_minutes,
        is_active=is_active,
    )
    _save(rule)
    audit(actor=actor, organization=organization, action="alert_rule.create", target=rule, data={"kind": kind})
    return rule


@transaction.atomic
def alert_rule_update(
    *,
    rule: AlertRule,
    name: str | Unset = UNSET,
    kind: str | Unset = UNSET,
    channel: str | Unset = UNSET,
    target: str | Unset = UNSET,
    workflow: Workflow | Unset | None = UNSET,
    signing_secret: str | Unset = UNSET,
    threshold_percent: int | Unset | None = UNSET,
    min_runs: int | Unset = UNSET,
    window_minutes: int | Unset = UNSET,
    digest_minutes: int | Unset = UNSET,
    is_active: bool | Unset = UNSET,
    actor: Actor = None,
) -> AlertRule:
    fields = given(
        name=name,
        kind=kind,
        channel=channel,
        target=target,
        workflow=workflow,
        signing_secret=signing_secret,
        threshold_percent=threshold_percent,
        min_runs=min_runs,
        window_minutes=window_minutes,
        digest_minutes=digest_minutes,
        is_active=is_active,
    )
    for name_, value in fields.items():
        setattr(rule, name_, value)
    _save(rule, list(fields))
    data = {"fields": sorted(fields)}
    audit(actor=actor, organization=rule.organization, action="alert_rule.update", target=rule, data=data)
    return rule


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule, actor: Actor = None) -> None:
    audit(
        actor=actor, organization=rule.organization, action="alert_rule.delete", target=rule, data={"name": rule.name}
    )
    rule.delete()


def alert_rule_test(*, rule: AlertRule, actor: Actor = None) -> AlertMessage:
    """Send a test message through the rule's channel now (its digest and cursor are left alone)."""
    finding = Finding(
        subject=f"[ConcertMaster] Test of the alert rule {rule.name!r}",
        lines=["This is a test message: the alert rule can reach you."],
        count=0,
    )
    message = _deliver(rule, finding, test=True)
    data = {"delivered": message.delivered}
    audit(actor=actor, organization=rule.organization, action="alert_rule.test", target=rule, data=data)
    return message


# --- the pass ----------------------------------------------------------------------------------------------


def alerts_pass(*, now: datetime | None = None) -> int:
    """Beat's work: every active rule that is due says what it found; lost error workflow starts go again.

    Returns how many messages went out.
    """
    now = now or timezone.now()
    error_workflow_resend(now=now)
    sent = 0
    for rule_id in AlertRule.objects.filter(is_active=True).values_list("pk", flat=True):
        message = alert_rule_evaluate(rule_id=rule_id, now=now)
        sent += bool(message and message.delivered)
    return sent


def alert_rule_evaluate(*, rule_id: Any, now: datetime) -> AlertMessage | None:
    """One rule's turn: None when it waits for its digest window or found nothing, else the message it sent."""
    with transaction.atomic():
        # skip_locked: a second beat (or a slow pass) leaves a rule being evaluated alone.
        rules = AlertRule.objects.select_for_update(skip_locked=True, of=("self",)).select_related(
            "organization", "workflow"
        )
        rule = rules.filter(pk=rule_id, is_active=True).first()
        if rule is None or (rule.last_sent_at and now < rule.last_sent_at + timedelta(minutes=rule.digest_minutes)):
            return None
        until = now - SETTLE
        finding = FINDERS[rule.kind](rule, until, now)
        if finding is None:
            if until > rule.checked_until:
                rule.checked_until = until
                rule.save(update_fields=["checked_until", "updated_at"])
            return None
        message = _deliver(rule, finding, test=False)
        rule.last_sent_at = now
        if message.delivered:
            rule.checked_until, rule.last_error = max(until, rule.checked_until), ""
        else:
            rule.last_error = message.error
        rule.save(update_fields=["last_sent_at", "checked_until", "last_error", "updated_at"])
        return message


def production_runs(rule: AlertRule) -> QuerySet[WorkflowExecution]:
    runs = WorkflowExecution.objects.filter(organization_id=rule.organization_id, test_run=False, parent__isnull=True)
    return runs.filter(workflow_id=rule.workflow_id) if rule.workflow_id else runs


def _run_line(run: WorkflowExecution) -> tuple[str, dict]:
    error = run.error if isinstance(run.error, dict) else {}
    node_id, text = error.get("node_id") or "", error.get("message") or ""
    link = execution_link(run.pk)
    item = {
        "execution_id": str(run.pk),
        "workflow": {"id": str(run.workflow_id), "name": run.workflow.name},
        "status": run.status,
        "failed_node": node_id or None,
        "error": text,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "link": link,
    }
    where = f" at node {node_id}" if node_id else ""
    return f"- {run.workflow.name}{where}: {text or run.status} ({link})", item


def _listing(runs: QuerySet[WorkflowExecution], count: int) -> tuple[list[str], list[dict]]:
    lines, items = [], []
    for run in runs.select_related("workflow")[:MAX_LISTED]:
        line, item = _run_line(run)
        lines.append(line)
        items.append(item)
    if count > MAX_LISTED:
        lines.append(f"... and {count - MAX_LISTED} more.")
    return lines, items


def _scope(rule: AlertRule) -> str:
    return f"the workflow {rule.workflow.name!r}" if rule.workflow is not None else rule.organization.name


def find_failures(rule: AlertRule, until: datetime, now: datetime) -> Finding | None:
    runs = production_runs(rule).filter(
        status=ExecutionStatus.FAILED, finished_at__gt=rule.checked_until, finished_at__lte=until
    )
    count = runs.count()
    if not count:
        return None
    lines, items = _listing(runs.order_by("finished_at", "id"), count)
    noun = "run" if count == 1 else "runs"
    subject = f"[ConcertMaster] {count} production {noun} failed in {_scope(rule)}"
    return Finding(subject=subject, lines=lines, count=count, data={"runs": items})


def find_failure_rate(rule: AlertRule, until: datetime, now: datetime) -> Finding | None:
    since = now - timedelta(minutes=rule.window_minutes)
    finished = production_runs(rule).filter(
        finished_at__gt=since,
        finished_at__lte=now,
        status__in=[ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED],
    )
    figures = finished.aggregate(total=Count("id"), failed=Count("id", filter=Q(status=ExecutionStatus.FAILED)))
    total, failed = figures["total"], figures["failed"]
    threshold = rule.threshold_percent or 100
    if total < rule.min_runs or failed * 100 < threshold * total:
        return None
    percent = round(failed * 100 / total, 1)
    subject = f"[ConcertMaster] {percent}% of the runs of {_scope(rule)} failed in the last {rule.window_minutes} min"
    lines = [f"{failed} of {total} finished runs failed (threshold {threshold}%)."]
    runs = finished.filter(status=ExecutionStatus.FAILED).order_by("-finished_at", "-id")
    more, items = _listing(runs, failed)
    data = {"rate": {"failed": failed, "total": total, "percent": percent, "threshold_percent": threshold}}
    return Finding(subject=subject, lines=[*lines, *more], count=failed, data={**data, "runs": items})


def find_stuck(rule: AlertRule, until: datetime, now: datetime) -> Finding | None:
    """Runs that passed `window_minutes` of running between `checked_until` and `until` (each told once)."""
    limit = timedelta(minutes=rule.window_minutes)
    runs = production_runs(rule).filter(
        status=ExecutionStatus.RUNNING, started_at__gt=rule.checked_until - limit, started_at__lte=until - limit
    )
    count = runs.count()
    if not count:
        return None
    lines, items = _listing(runs.order_by("started_at", "id"), count)
    noun = "run has" if count == 1 else "runs have"
    subject = f"[ConcertMaster] {count} {noun} been running over {rule.window_minutes} min in {_scope(rule)}"
    return Finding(subject=subject, lines=lines, count=count, data={"runs": items})


FINDERS: dict[str, Callable[[AlertRule, datetime, datetime], Finding | None]] = {
    AlertKind.PRODUCTION_FAILURE: find_failures,
    AlertKind.FAILURE_RATE: find_failure_rate,
    AlertKind.STUCK_RUN: find_stuck,
}


# --- delivery ------------------------------------------------------------------------------------------------


def _deliver(rule: AlertRule, finding: Finding, *, test: bool) -> AlertMessage:
    """Send one message through the rule's channel and record it (delivered, or the reason it was not)."""
    payload = {
        "rule": {"id": str(rule.pk), "name": rule.name, "kind": rule.kind},
        "organization": {"id": str(rule.organization_id), "name": rule.organization.name},
        "subject": finding.subject,
        "count": finding.count,
        "test": test,
        **finding.data,
    }
    message = AlertMessage(
        organization_id=rule.organization_id,
        rule=rule,
        subject=finding.subject[:300],
        payload=payload,
        count=finding.count,
        test=test,
    )
    payload["message_id"] = str(message.pk)
    try:
        CHANNELS[rule.channel](rule, finding, payload)
        message.delivered = True
    except AlertDeliveryError as error:
        message.error = str(error)
    message.save()
    return message


def _network_settings() -> dict:
    return {ALLOW_PRIVATE_SETTING: settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP}


def _post(rule: AlertRule, body: bytes, headers: dict[str, str]) -> None:
    try:
        response = http.send(
            settings=_network_settings(),
            method="POST",
            url=rule.target,
            headers={"Content-Type": "application/json", **headers},
            content=body,
            timeout=SEND_TIMEOUT_SECONDS,
        )
    except NodeError as error:
        raise AlertDeliveryError(str(error)) from error
    if not response.ok:
        raise AlertDeliveryError(DELIVERY_REFUSED.format(channel=rule.get_channel_display(), status=response.status))


def send_email(rule: AlertRule, finding: Finding, payload: dict) -> None:
    try:
        send_mail(finding.subject, "\n".join(finding.lines), None, recipients(rule.target), fail_silently=False)
    except (smtplib.SMTPException, OSError) as error:
        raise AlertDeliveryError(f"Email: {error}") from error


def send_slack(rule: AlertRule, finding: Finding, payload: dict) -> None:
    text = "\n".join([f"*{finding.subject}*", *finding.lines])
    _post(rule, json.dumps({"text": text}).encode(), {})


def send_webhook(rule: AlertRule, finding: Finding, payload: dict) -> None:
    """The payload as JSON, signed like the signed webhook node: `t=<time>,v1=<HMAC-SHA256 of "<t>.<body>">`."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    headers = {
        SIGNATURE_HEADER: sign(rule.signing_secret, int(time.time()), body),
        DELIVERY_HEADER: payload["message_id"],
    }
    _post(rule, body, headers)


CHANNELS: dict[str, Callable[[AlertRule, Finding, dict], None]] = {
    AlertChannel.EMAIL: send_email,
    AlertChannel.SLACK: send_slack,
    AlertChannel.WEBHOOK: send_webhook,
}
