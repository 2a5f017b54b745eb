"""Trigger kinds and the services that write triggers and form submissions.

A trigger record publishes a workflow's start node: it holds the public token, the webhook signing secret and
the on/off switch. What the form asks and how the webhook answers is the start node's config (the `form`
and `webhook` nodes), read from the version that runs. A schedule runs the cron of the workflow's `schedule`
start node (in the version that runs, mirrored into beat whenever a version is recorded); only a workflow that
starts with a `manual` node keeps the cron on the record. Each kind is declared in the trigger kind registry
(`trigger_kinds.py`; built-ins in `builtin_triggers.py`): which start nodes it fits, the config its row keeps;
a trigger that does not fit its workflow is refused when it is created or switched on. How executions start
is apps/executions/triggers.py.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.core.params import UNSET, Unset, given
from apps.nodes.expressions import has_expression
from apps.nodes.registry import registry
from apps.orgs.services import Actor, audit

from . import webhook_paths
from .choices import TriggerKind, WorkflowStatus
from .models import FormSubmission, Trigger, Workflow
from .trigger_kinds import CONFIG_BELONGS_TO_NODE, CONFIG_NOT_OBJECT, LIVE_DEFAULT, trigger_kinds
from .validation import definition_validate

if TYPE_CHECKING:
    from apps.nodes.builtin.triggers import FormTrigger

CRON_INVALID = "Not a valid 5-field cron expression (minute hour day-of-month month day-of-week)."
TIMEZONE_INVALID = "Unknown time zone {value!r}."
SCHEDULE_NEEDS_CRON = "A schedule trigger needs a cron expression."
KIND_DOES_NOT_FIT = "A {kind} trigger needs a workflow that starts with a {wanted} node; this one starts with {found}."
WEBHOOK_CONFIG_BELONGS_TO_NODE = (
    "A webhook trigger keeps only event_type, url_path and authentication: the workflow's webhook node defines the "
    "rest. Move {keys} into that node's config."
)
SCHEDULE_CONFIG_BELONGS_TO_NODE = (
    "This workflow starts with the schedule node {node}, whose cron and timezone beat runs: a schedule trigger "
    "on it keeps no config. Change {keys} in that node's config instead."
)
SCHEDULE_NOT_LITERAL = (
    "The schedule node {node}'s {field} is an expression ({value}): beat needs it written out. "
    "Write the {field} itself in the node's config to publish a schedule trigger."
)
SCHEDULE_NODE_CRON_INVALID = "The schedule node {node}'s cron {value!r} is not a 5-field cron beat can run."
SCHEDULE_NO_CRON = (
    "This schedule trigger has no cron: its workflow starts with a manual node, so the trigger's config "
    'needs one ({{"cron": ..., "timezone": ...}}).'
)
SECRET_ONLY_WEBHOOK = "Only a webhook trigger has a signing secret."
SECRET_TOO_SHORT = "A signing secret needs at least {minimum} characters."
SECRET_MIN_LENGTH = 8
PUBLISH_NEEDS_VALID_DEFINITION = "The workflow's definition has problems; fix them before publishing a trigger."
PUBLISH_NOTHING = "The workflow starts with no form or webhook node: there is nothing to publish."
SCHEDULE_TASK = "concertmaster.schedule_trigger_fire"

STATE_LIVE = "live"
STATE_INACTIVE = "inactive"
STATE_WORKFLOW_INACTIVE = "workflow_inactive"
STATE_NO_START_NODE = "start_node_missing"
STATE_NO_SCHEDULE = "schedule_unusable"
STATE_DETAIL = {
    STATE_INACTIVE: "This trigger is switched off: it starts nothing until it is switched on again.",
    STATE_WORKFLOW_INACTIVE: (
        "The workflow is not active (it is {status}): activate it to start runs from this trigger."
    ),
    STATE_NO_START_NODE: "The workflow no longer starts with a {wanted} node: this trigger starts nothing.",
}
#: A row whose kind is no longer registered (its plugin was uninstalled) starts nothing.
KIND_NOT_INSTALLED = 'No trigger kind "{kind}" is installed: this trigger starts nothing.'
SCHEDULE_SOURCE_NODE = "node"
SCHEDULE_SOURCE_TRIGGER = "trigger"

__all__ = ["CONFIG_BELONGS_TO_NODE", "CONFIG_NOT_OBJECT", "LIVE_DEFAULT"]


# --- reads ---------------------------------------------------------------------------------------------------


def _trigger_nodes(definition: Any) -> list[dict]:
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    return [
        node
        for node in nodes or []
        if isinstance(node, dict) and node.get("type") in registry and registry.get(node["type"]).category == "triggers"
    ]


def start_node(*, definition: Any, kind: str) -> dict | None:
    """The first start node of `definition` that a trigger of `kind` fits, or None."""
    if kind not in trigger_kinds:
        return None
    wanted = trigger_kinds.get(kind).start_nodes
    return next((node for node in _trigger_nodes(definition) if node.get("type") in wanted), None)


def runnable_definition(*, workflow: Workflow) -> dict:
    """The definition executions of the workflow run: its latest version's (what execution_start pins)."""
    version = workflow.latest_version
    return version.definition if version is not None else {}


def schedule_node(*, definition: Any) -> dict | None:
    """The `schedule` start node of `definition`, or None: when there is one, its cron is what beat runs."""
    return next((node for node in _trigger_nodes(definition) if node.get("type") == "schedule"), None)


@dataclass(frozen=True)
class Schedule:
    """The cron a schedule trigger runs on, and where it is declared (`node`: the schedule start node's id)."""

    cron: str
    timezone: str
    source: str
    node: str | None = None

    def problem(self) -> str | None:
        """Why beat cannot run this schedule (a node's cron or timezone written as an expression), or None."""
        if self.source != SCHEDULE_SOURCE_NODE:
            return None  # the record's cron was checked when it was written
        for field in ("cron", "timezone"):
            if has_expression(getattr(self, field)):
                return SCHEDULE_NOT_LITERAL.format(node=self.node, field=field, value=getattr(self, field))
        if len(self.cron.split()) != 5 or not croniter.is_valid(self.cron):
            return SCHEDULE_NODE_CRON_INVALID.format(node=self.node, value=self.cron)
        return None


def _running_definition(trigger: Trigger) -> dict:
    # trigger_list annotates `running_definition` so that a list costs no query per row.
    if hasattr(trigger, "running_definition"):
        return trigger.running_definition or {}
    return runnable_definition(workflow=trigger.workflow)


def trigger_schedule(*, trigger: Trigger, definition: Any = None) -> Schedule | None:
    """The schedule a schedule trigger runs on: its workflow's schedule start node's cron in the version that
    runs (`definition`, read when not given), else the record's own. None for other kinds, or with no cron."""
    if trigger.kind != TriggerKind.SCHEDULE:
        return None
    node = schedule_node(definition=_running_definition(trigger) if definition is None else definition)
    if node is not None:
        config = node.get("config") or {}
        cron, zone = str(config.get("cron", "")), str(config.get("timezone") or "UTC")
        return Schedule(cron=" ".join(cron.split()), timezone=zone, source=SCHEDULE_SOURCE_NODE, node=node.get("id"))
    if not trigger.config.get("cron"):
        return None
    zone = trigger.config.get("timezone") or "UTC"
    return Schedule(cron=trigger.config["cron"], timezone=zone, source=SCHEDULE_SOURCE_TRIGGER)


def trigger_start_node(*, trigger: Trigger) -> dict | None:
    """The node of the running version that the trigger publishes (a form's or webhook's config), or None."""
    return start_node(definition=runnable_definition(workflow=trigger.workflow), kind=trigger.kind)


def trigger_state(*, trigger: Trigger) -> tuple[str, str]:
    """(state, a sentence for people): live, inactive (switched off), workflow_inactive or start_node_missing.

    Reads the workflow's working copy (already loaded with the trigger), so listing triggers costs no query.
    """
    if not trigger.is_active:
        return STATE_INACTIVE, STATE_DETAIL[STATE_INACTIVE]
    workflow = trigger.workflow
    if workflow.status != WorkflowStatus.ACTIVE:
        detail = STATE_DETAIL[STATE_WORKFLOW_INACTIVE].format(status=workflow.get_status_display().lower())
        return STATE_WORKFLOW_INACTIVE, detail
    if trigger.kind not in trigger_kinds:
        return STATE_NO_START_NODE, KIND_NOT_INSTALLED.format(kind=trigger.kind)
    spec = trigger_kinds.get(trigger.kind)
    if start_node(definition=workflow.definition, kind=trigger.kind) is None:
        wanted = " or ".join(spec.start_nodes)
        return STATE_NO_START_NODE, STATE_DETAIL[STATE_NO_START_NODE].format(wanted=wanted)
    return spec.unusable(trigger=trigger) or (STATE_LIVE, spec.live_detail(trigger=trigger))


# --- checks --------------------------------------------------------------------------------------------------


def _check_fits(*, workflow: Workflow, kind: str) -> None:
    """Refuse a trigger whose kind does not fit the workflow's start nodes (error on `kind`)."""
    if kind not in trigger_kinds or start_node(definition=workflow.definition, kind=kind) is not None:
        return  # an unknown kind is reported by the model's choices
    spec = trigger_kinds.get(kind)
    found = sorted({cast(str, node.get("type")) for node in _trigger_nodes(workflow.definition)}) or ["no trigger node"]
    message = KIND_DOES_NOT_FIT.format(kind=kind, wanted=" or ".join(spec.start_nodes), found=", ".join(found))
    raise ValidationError({"kind": [message]})


def _check_publishable(*, workflow: Workflow) -> None:
    """Refuse to publish a trigger of a workflow whose working definition has problems, listing them."""
    try:
        definition_validate(workflow.definition)
    except ValidationError as error:
        raise ValidationError({"workflow": [PUBLISH_NEEDS_VALID_DEFINITION], **error.error_dict}) from error


def schedule_definition(workflow: Workflow) -> dict:
    """What decides where a schedule's cron lives: the running version, or the working copy before there is one."""
    definition = runnable_definition(workflow=workflow)
    return definition or workflow.definition


def _check_schedulable(*, trigger: Trigger) -> None:
    """Refuse to publish a schedule whose node cron beat cannot run (an expression), naming the node."""
    schedule = trigger_schedule(trigger=trigger)
    problem = schedule.problem() if schedule is not None else None
    if problem:
        raise ValidationError({"workflow": [problem]})


def _validate_config(*, kind: str, config: Any, workflow: Workflow) -> dict:
    """Check the config a trigger record keeps (its kind's declaration decides); returns it normalised."""
    if not isinstance(config, dict):
        raise ValidationError({"config": [CONFIG_NOT_OBJECT]})
    if kind not in trigger_kinds:
        return config  # an unknown kind is reported by the model's choices
    return trigger_kinds.get(kind).validate_config(config, workflow=workflow)


# --- trigger services ----------------------------------------------------------------------------------------


def _has_secret(kind: str) -> bool:
    return kind in trigger_kinds and trigger_kinds.get(kind).has_signing_secret


def _signing_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


@transaction.atomic
def trigger_create(
    *,
    workflow: Workflow,
    kind: str,
    name: str = "",
    config: dict | None = None,
    is_active: bool = True,
    signing_secret: str = "",
    actor: Actor = None,
) -> Trigger:
    """Publish a start node: the workflow's definition must be valid and start with a node the kind fits.

    A webhook gets a signing secret, generated unless one is given (its node's `require_signature` decides
    whether calls must use it). Schedules sync to beat.
    """
    if signing_secret:
        _check_secret(kind=kind, secret=signing_secret)
    trigger = Trigger(
        organization_id=workflow.organization_id,
        workflow=workflow,
        kind=kind,
        name=name,
        is_active=is_active,
        signing_secret=(signing_secret.strip() or _signing_secret()) if _has_secret(kind) else "",
    )
    trigger.full_clean(exclude=["config"])
    trigger.config = _validate_config(kind=kind, config=config if config is not None else {}, workflow=workflow)
    _check_fits(workflow=workflow, kind=kind)
    _check_publishable(workflow=workflow)
    _check_schedulable(trigger=trigger)
    _check_url_path(trigger=trigger)
    trigger.save()
    schedule_sync(trigger=trigger)
    _audit_trigger(trigger, actor, "trigger.create", {"kind": trigger.kind, "workflow": str(workflow.pk)})
    return trigger


def _audit_trigger(trigger: Trigger, actor: Actor, action: str, data: dict | None = None) -> None:
    audit(actor=actor, organization=trigger.workflow.organization, action=action, target=trigger, data=data)


def trigger_imported_config(*, workflow: Workflow, kind: str, config: Any) -> Any:
    """A trigger's config as an export recorded it, minus a cron the workflow's schedule start node now defines
    (exports made before the node was the truth kept both; the node's wins, as migration 0005 decided)."""
    if kind == TriggerKind.SCHEDULE and schedule_node(definition=schedule_definition(workflow)) is not None:
        return {}
    return config


@transaction.atomic
def trigger_update(
    *,
    trigger: Trigger,
    name: str | Unset = UNSET,
    config: dict | Unset = UNSET,
    is_active: bool | Unset = UNSET,
    signing_secret: str | Unset = UNSET,
    actor: Actor = None,
) -> Trigger:
    """Change a trigger's name, config, switch or (webhook) signing secret (what is given); switching it on
    checks it as `trigger_create` does."""
    fields = given(name=name, config=config, is_active=is_active, signing_secret=signing_secret)
    if "signing_secret" in fields:
        _check_secret(kind=trigger.kind, secret=fields["signing_secret"])
        fields["signing_secret"] = fields["signing_secret"].strip()
    switched_on = fields.get("is_active") is True and not trigger.is_active
    for field, value in fields.items():
        setattr(trigger, field, value)
    trigger.full_clean(exclude=["config"])
    schedule = trigger_schedule(trigger=trigger) if "config" not in fields else None
    if schedule is not None and schedule.source == SCHEDULE_SOURCE_NODE:
        trigger.config = {}  # a cron left from before the workflow started with a schedule node
    trigger.config = _validate_config(kind=trigger.kind, config=trigger.config, workflow=trigger.workflow)
    if switched_on:
        _check_fits(workflow=trigger.workflow, kind=trigger.kind)
        _check_publishable(workflow=trigger.workflow)
        _check_schedulable(trigger=trigger)
    _check_url_path(trigger=trigger)
    trigger.save()
    schedule_sync(trigger=trigger)
    _audit_trigger(trigger, actor, "trigger.update", {"fields": sorted(fields)})
    return trigger


@transaction.atomic
def trigger_publish(*, workflow: Workflow, actor: Actor = None) -> list[tuple[Trigger, bool]]:
    """Give each public start node (form, webhook) of the workflow a live trigger: create it or switch it on.

    Returns (trigger, created) pairs. The definition must be valid. Each trigger is audited (`trigger.create` or
    `trigger.publish`).
    """
    kinds = [spec.name for spec in trigger_kinds.all() if spec.public]
    kinds = [kind for kind in kinds if start_node(definition=workflow.definition, kind=kind) is not None]
    if not kinds:
        raise ValidationError({"workflow": [PUBLISH_NOTHING]})
    _check_publishable(workflow=workflow)
    published = []
    for kind in kinds:
        trigger = workflow.triggers.filter(kind=kind).order_by("created_at").first()
        if trigger is None:
            published.append((trigger_create(workflow=workflow, kind=kind), True))
            continue
        if not trigger.is_active:
            trigger = trigger_update(trigger=trigger, is_active=True)
        published.append((trigger, False))
    for trigger, created in published:
        data = {"kind": trigger.kind, "workflow": str(workflow.pk)}
        _audit_trigger(trigger, actor, "trigger.create" if created else "trigger.publish", data)
    return published


def _check_url_path(*, trigger: Trigger) -> None:
    """A webhook's `url_path` answers for one trigger of its organization."""
    path = (trigger.config or {}).get("url_path") if trigger.kind == TriggerKind.WEBHOOK else None
    if not path:
        return
    taken = Trigger.objects.filter(organization_id=trigger.organization_id, kind=TriggerKind.WEBHOOK)
    if taken.filter(config__url_path=path).exclude(pk=trigger.pk).exists():
        raise ValidationError({"config/url_path": [webhook_paths.URL_PATH_TAKEN.format(path=path)]})


def _check_secret(*, kind: str, secret: str) -> None:
    """A secret a user sets (the one GitHub, Stripe, Slack or a Standard Webhooks sender gave them)."""
    if not _has_secret(kind):
        raise ValidationError({"signing_secret": [SECRET_ONLY_WEBHOOK]})
    if len(secret.strip()) < SECRET_MIN_LENGTH:
        raise ValidationError({"signing_secret": [SECRET_TOO_SHORT.format(minimum=SECRET_MIN_LENGTH)]})


@transaction.atomic
def trigger_set_secret(*, trigger: Trigger, secret: str, actor: Actor = None) -> Trigger:
    """Set the signing secret a sender gave (GitHub, Stripe...) on a webhook trigger (audited: `trigger.set_secret`)."""
    trigger = trigger_update(trigger=trigger, signing_secret=secret)
    _audit_trigger(trigger, actor, "trigger.set_secret")
    return trigger


@transaction.atomic
def trigger_rotate_secret(*, trigger: Trigger, actor: Actor = None) -> Trigger:
    trigger.signing_secret = _signing_secret()
    trigger.save(update_fields=["signing_secret", "updated_at"])
    _audit_trigger(trigger, actor, "trigger.rotate_secret")
    return trigger


@transaction.atomic
def trigger_delete(*, trigger: Trigger, actor: Actor = None) -> None:
    _audit_trigger(trigger, actor, "trigger.delete")
    schedule_remove(trigger=trigger)
    trigger.delete()


def _schedule_name(trigger: Trigger) -> str:
    return f"trigger:{trigger.pk}"


def schedule_remove(*, trigger: Trigger) -> None:
    PeriodicTask.objects.filter(name=_schedule_name(trigger)).delete()


def schedule_sync(*, trigger: Trigger, definition: dict | None = None) -> None:
    """Mirror a schedule trigger into django-celery-beat: enabled only while trigger and workflow are active.

    The cron is the schedule start node's in the running version (`definition`, read when not given), or the
    record's for a manual start; a schedule beat cannot run (none, or an expression) has no periodic task.
    """
    schedule = trigger_schedule(trigger=trigger, definition=definition)
    if schedule is None or schedule.problem():
        schedule_remove(trigger=trigger)
        return
    minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=schedule.timezone,
    )
    enabled = trigger.is_active and trigger.workflow.status == WorkflowStatus.ACTIVE
    PeriodicTask.objects.update_or_create(
        name=_schedule_name(trigger),
        defaults={
            "task": SCHEDULE_TASK,
            "crontab": crontab,
            "interval": None,
            "kwargs": json.dumps({"trigger_id": str(trigger.pk)}),
            "enabled": enabled,
            "description": f"Schedule trigger of workflow {trigger.workflow.name}",
        },
    )


def schedules_sync(*, workflow: Workflow) -> None:
    """After a version is recorded: the workflow's schedule triggers follow its schedule start node's cron.

    A trigger record's own cron is dropped once the running version starts with a schedule node (one truth).
    Each periodic task is written with `save()`, so beat's change signal fires.
    """
    definition = runnable_definition(workflow=workflow)
    has_node = schedule_node(definition=definition) is not None
    for trigger in workflow.triggers.filter(kind=TriggerKind.SCHEDULE).select_related("workflow"):
        if has_node and trigger.config:
            trigger.config = {}
            trigger.save(update_fields=["config", "updated_at"])
        schedule_sync(trigger=trigger, definition=definition)


# --- form submissions ----------------------------------------------------------------------------------------


def form_errors(*, form_node: dict, data: object) -> list[dict]:
    """Per-field errors of a submission against the form node's fields, worded for the public ({path, message})."""
    node_class = cast("type[FormTrigger]", registry.get("form"))
    return [error.as_dict() for error in node_class.submission_errors(form_node.get("config") or {}, data)]


@transaction.atomic
def form_submission_create(
    *, trigger: Trigger, data: object, form_node: dict, remote_addr: str | None = None
) -> FormSubmission:
    """Store a submission with its per-field errors (an empty list when valid): the one check it gets."""
    submission = FormSubmission(
        organization_id=trigger.organization_id,
        trigger=trigger,
        data=data if isinstance(data, dict) else {"value": data},
        errors=form_errors(form_node=form_node, data=data),
        remote_addr=remote_addr,
    )
    # An empty submission is stored too (with its errors): `data` may be blank.
    submission.full_clean(exclude=["data"])
    submission.save()
    return submission


@transaction.atomic
def form_submission_delete(*, submission: FormSubmission, actor: Actor = None) -> None:
    """Remove a submission (personal data) for good."""
    data = {"trigger": str(submission.trigger_id)}
    audit(
        actor=actor, organization=submission.organization, action="form_submission.delete", target=submission, data=data
    )
    submission.delete()


@transaction.atomic
def form_submission_link(*, submission: FormSubmission, execution_id) -> FormSubmission:
    submission.execution_id = execution_id
    submission.save(update_fields=["execution_id", "updated_at"])
    return submission
