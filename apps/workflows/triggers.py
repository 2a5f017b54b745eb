"""Trigger kinds and the services that write triggers and form submissions.

A trigger record publishes a workflow's start node: it holds the public token, the webhook signing secret and
the on/off switch. What the form asks and how the webhook answers is the start node's config (the `form`
and `webhook` nodes), read from the version that runs; a schedule keeps its cron on the record, since beat
reads it there. `TRIGGER_KINDS` declares which start nodes each kind fits; a trigger that does not fit its
workflow is refused when it is created or switched on. How executions start is apps/executions/triggers.py.
"""

from __future__ import annotations

import json
import secrets
import zoneinfo
from dataclasses import dataclass
from typing import Any

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from apps.nodes.registry import registry

from .choices import TriggerKind, WorkflowStatus
from .models import FormSubmission, Trigger, Workflow
from .validation import definition_validate

CRON_INVALID = "Not a valid 5-field cron expression (minute hour day-of-month month day-of-week)."
TIMEZONE_INVALID = "Unknown time zone {value!r}."
SCHEDULE_NEEDS_CRON = "A schedule trigger needs a cron expression."
CONFIG_NOT_OBJECT = "Must be an object."
KIND_DOES_NOT_FIT = "A {kind} trigger needs a workflow that starts with a {wanted} node; this one starts with {found}."
CONFIG_BELONGS_TO_NODE = (
    "A {kind} trigger keeps no config: the workflow's {node} node defines it. Move {keys} into that node's config."
)
PUBLISH_NEEDS_VALID_DEFINITION = "The workflow's definition has problems; fix them before publishing a trigger."
PUBLISH_NOTHING = "The workflow starts with no form or webhook node: there is nothing to publish."
SCHEDULE_TASK = "concertmaster.schedule_trigger_fire"

STATE_LIVE = "live"
STATE_INACTIVE = "inactive"
STATE_WORKFLOW_INACTIVE = "workflow_inactive"
STATE_NO_START_NODE = "start_node_missing"
STATE_DETAIL = {
    STATE_INACTIVE: "This trigger is switched off: it starts nothing until it is switched on again.",
    STATE_WORKFLOW_INACTIVE: (
        "The workflow is not active (it is {status}): activate it to start runs from this trigger."
    ),
    STATE_NO_START_NODE: "The workflow no longer starts with a {wanted} node: this trigger starts nothing.",
}
LIVE_DETAIL = {
    TriggerKind.FORM: "Live: the form accepts submissions at its URL.",
    TriggerKind.WEBHOOK: "Live: the webhook accepts calls at its URL.",
    TriggerKind.SCHEDULE: "Live: runs on its schedule ({cron}, {timezone}).",
}
LIVE_DEFAULT = "Live: the workflow can be started this way."


@dataclass(frozen=True)
class TriggerKindSpec:
    """What a trigger kind needs: the start node types it fits, whether it has a public URL, what config it keeps."""

    kind: str
    start_nodes: tuple[str, ...]
    public: bool = False
    keeps_config: bool = True


#: Which start nodes each trigger kind fits. The first listed is the node whose config the trigger publishes.
TRIGGER_KINDS: dict[str, TriggerKindSpec] = {
    TriggerKind.MANUAL: TriggerKindSpec(TriggerKind.MANUAL, ("manual",)),
    TriggerKind.API: TriggerKindSpec(TriggerKind.API, ("manual", "webhook")),
    TriggerKind.SCHEDULE: TriggerKindSpec(TriggerKind.SCHEDULE, ("schedule", "manual")),
    TriggerKind.WEBHOOK: TriggerKindSpec(TriggerKind.WEBHOOK, ("webhook",), public=True, keeps_config=False),
    TriggerKind.FORM: TriggerKindSpec(TriggerKind.FORM, ("form",), public=True, keeps_config=False),
}


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
    wanted = TRIGGER_KINDS[kind].start_nodes
    return next((node for node in _trigger_nodes(definition) if node.get("type") in wanted), None)


def runnable_definition(*, workflow: Workflow) -> dict:
    """The definition executions of the workflow run: its latest version's (what execution_start pins)."""
    version = workflow.latest_version
    return version.definition if version is not None else {}


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
    if start_node(definition=workflow.definition, kind=trigger.kind) is None:
        wanted = " or ".join(TRIGGER_KINDS[trigger.kind].start_nodes)
        return STATE_NO_START_NODE, STATE_DETAIL[STATE_NO_START_NODE].format(wanted=wanted)
    template = LIVE_DETAIL.get(trigger.kind, LIVE_DEFAULT)
    return STATE_LIVE, template.format(
        cron=trigger.config.get("cron", ""), timezone=trigger.config.get("timezone", "UTC")
    )


# --- checks --------------------------------------------------------------------------------------------------


def _check_fits(*, workflow: Workflow, kind: str) -> None:
    """Refuse a trigger whose kind does not fit the workflow's start nodes (error on `kind`)."""
    spec = TRIGGER_KINDS.get(kind)
    if spec is None or start_node(definition=workflow.definition, kind=kind) is not None:
        return  # an unknown kind is reported by the model's choices
    found = sorted({node.get("type") for node in _trigger_nodes(workflow.definition)}) or ["no trigger node"]
    message = KIND_DOES_NOT_FIT.format(kind=kind, wanted=" or ".join(spec.start_nodes), found=", ".join(found))
    raise ValidationError({"kind": [message]})


def _check_publishable(*, workflow: Workflow) -> None:
    """Refuse to publish a trigger of a workflow whose working definition has problems, listing them."""
    try:
        definition_validate(workflow.definition)
    except ValidationError as error:
        raise ValidationError({"workflow": [PUBLISH_NEEDS_VALID_DEFINITION], **error.error_dict}) from error


def _validate_config(*, kind: str, config: Any) -> dict:
    """Check the config a trigger record keeps; returns it normalised."""
    if not isinstance(config, dict):
        raise ValidationError({"config": [CONFIG_NOT_OBJECT]})
    spec = TRIGGER_KINDS.get(kind)
    if spec is not None and not spec.keeps_config and config:
        keys = ", ".join(sorted(config))
        raise ValidationError(
            {"config": [CONFIG_BELONGS_TO_NODE.format(kind=kind, node=spec.start_nodes[0], keys=keys)]}
        )
    if kind != TriggerKind.SCHEDULE:
        return config
    cron = config.get("cron")
    if not cron:
        raise ValidationError({"config/cron": [SCHEDULE_NEEDS_CRON]})
    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ValidationError({"config/cron": [CRON_INVALID]})
    tz_name = config.get("timezone") or "UTC"
    try:
        zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValidationError({"config/timezone": [TIMEZONE_INVALID.format(value=tz_name)]}) from error
    return {**config, "cron": " ".join(cron.split()), "timezone": tz_name}


# --- trigger services ----------------------------------------------------------------------------------------


def _signing_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


@transaction.atomic
def trigger_create(
    *, workflow: Workflow, kind: str, name: str = "", config: dict | None = None, is_active: bool = True
) -> Trigger:
    """Publish a start node: the workflow's definition must be valid and start with a node the kind fits.

    A webhook gets a signing secret (its node's `require_signature` decides whether calls must use it).
    Schedules sync to beat.
    """
    trigger = Trigger(
        organization_id=workflow.organization_id,
        workflow=workflow,
        kind=kind,
        name=name,
        is_active=is_active,
        signing_secret=_signing_secret() if kind == TriggerKind.WEBHOOK else "",
    )
    trigger.full_clean(exclude=["config"])
    trigger.config = _validate_config(kind=kind, config=config if config is not None else {})
    _check_fits(workflow=workflow, kind=kind)
    _check_publishable(workflow=workflow)
    trigger.save()
    schedule_sync(trigger=trigger)
    return trigger


@transaction.atomic
def trigger_update(*, trigger: Trigger, **fields) -> Trigger:
    """Change a trigger's name, config or switch; switching it on checks it as `trigger_create` does."""
    switched_on = fields.get("is_active") is True and not trigger.is_active
    for name, value in fields.items():
        setattr(trigger, name, value)
    trigger.full_clean(exclude=["config"])
    trigger.config = _validate_config(kind=trigger.kind, config=trigger.config)
    if switched_on:
        _check_fits(workflow=trigger.workflow, kind=trigger.kind)
        _check_publishable(workflow=trigger.workflow)
    trigger.save()
    schedule_sync(trigger=trigger)
    return trigger


@transaction.atomic
def trigger_publish(*, workflow: Workflow) -> list[tuple[Trigger, bool]]:
    """Give each public start node (form, webhook) of the workflow a live trigger: create it or switch it on.

    Returns (trigger, created) pairs. The definition must be valid.
    """
    kinds = [kind for kind, spec in TRIGGER_KINDS.items() if spec.public]
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
    return published


@transaction.atomic
def trigger_rotate_secret(*, trigger: Trigger) -> Trigger:
    trigger.signing_secret = _signing_secret()
    trigger.save(update_fields=["signing_secret", "updated_at"])
    return trigger


@transaction.atomic
def trigger_delete(*, trigger: Trigger) -> None:
    schedule_remove(trigger=trigger)
    trigger.delete()


def _schedule_name(trigger: Trigger) -> str:
    return f"trigger:{trigger.pk}"


def schedule_remove(*, trigger: Trigger) -> None:
    PeriodicTask.objects.filter(name=_schedule_name(trigger)).delete()


def schedule_sync(*, trigger: Trigger) -> None:
    """Mirror a schedule trigger into django-celery-beat: enabled only while trigger and workflow are active."""
    if trigger.kind != TriggerKind.SCHEDULE:
        schedule_remove(trigger=trigger)
        return
    minute, hour, day_of_month, month_of_year, day_of_week = trigger.config["cron"].split()
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=trigger.config.get("timezone", "UTC"),
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


# --- form submissions ----------------------------------------------------------------------------------------


def form_errors(*, form_node: dict, data: object) -> list[dict]:
    """Per-field errors of a submission against the form node's fields, worded for the public ({path, message})."""
    node_class = registry.get("form")
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
def form_submission_link(*, submission: FormSubmission, execution_id) -> FormSubmission:
    submission.execution_id = execution_id
    submission.save(update_fields=["execution_id", "updated_at"])
    return submission
