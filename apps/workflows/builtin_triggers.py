"""The built-in trigger kinds: manual, webhook, schedule, form and api (imported by `WorkflowsConfig.ready()`).

Registration order is the order the API lists them in (its `TriggerKindEnum`).
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from croniter import croniter
from django.core.exceptions import ValidationError
from django.utils import timezone

from . import webhook_paths
from .choices import TriggerKind
from .models import Trigger, Workflow
from .trigger_kinds import ANY_CONFIG, TriggerKindSpec, register_trigger_kind
from .triggers import (
    CRON_INVALID,
    SCHEDULE_CONFIG_BELONGS_TO_NODE,
    SCHEDULE_NEEDS_CRON,
    SCHEDULE_NO_CRON,
    STATE_NO_SCHEDULE,
    TIMEZONE_INVALID,
    WEBHOOK_CONFIG_BELONGS_TO_NODE,
    schedule_definition,
    schedule_node,
    trigger_schedule,
)


@register_trigger_kind
class ManualKind(TriggerKindSpec):
    """A person starts the run (editor, admin, `run_workflow`)."""

    name = TriggerKind.MANUAL
    label = "Manual"
    start_nodes = ("manual",)
    config_schema = ANY_CONFIG


@register_trigger_kind
class WebhookKind(TriggerKindSpec):
    """A call to `/hooks/<token>`; the webhook start node's config says how calls are taken.

    The row may keep what the specification's `POST /api/v1/webhooks` sets (docs/api.md): an `event_type`, a
    `url_path` (a second address, `/hooks/<organization slug>/<url_path>`, unique in the organization) and an
    `authentication` the caller must pass besides the node's own signature rule. Everything else about the
    webhook is its start node's config.
    """

    name = TriggerKind.WEBHOOK
    label = "Webhook"
    start_nodes = ("webhook",)
    url_name = "webhook"
    has_signing_secret = True
    live_detail_text = "Live: the webhook accepts calls at its URL."
    config_schema = webhook_paths.CONFIG_SCHEMA

    def validate_config(self, config: dict, *, workflow: Workflow) -> dict:
        unknown = sorted(set(config) - set(webhook_paths.CONFIG_SCHEMA["properties"]))
        if unknown:
            raise ValidationError({"config": [WEBHOOK_CONFIG_BELONGS_TO_NODE.format(keys=", ".join(unknown))]})
        try:
            return webhook_paths.normalise(super().validate_config(config, workflow=workflow))
        except webhook_paths.WebhookPathError as error:
            raise ValidationError({error.field: [error.message]}) from error


@register_trigger_kind
class ScheduleKind(TriggerKindSpec):
    """Beat runs the cron of the workflow's schedule start node (or, on a manual start, the row's own)."""

    name = TriggerKind.SCHEDULE
    label = "Schedule"
    start_nodes = ("schedule", "manual")
    config_schema = {
        "type": "object",
        "properties": {"cron": {"type": "string"}, "timezone": {"type": "string"}},
    }

    def validate_config(self, config: dict, *, workflow: Workflow) -> dict:
        node = schedule_node(definition=schedule_definition(workflow))
        if node is not None and config:
            keys = ", ".join(sorted(config))
            raise ValidationError({"config": [SCHEDULE_CONFIG_BELONGS_TO_NODE.format(node=node.get("id"), keys=keys)]})
        if node is not None:
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

    def run_input(self, *, trigger: Trigger, payload: Any) -> Any:
        return {"scheduled_at": timezone.now().isoformat(), "trigger_id": str(trigger.pk)}

    def unusable(self, *, trigger: Trigger) -> tuple[str, str] | None:
        schedule = trigger_schedule(trigger=trigger)
        problem = SCHEDULE_NO_CRON if schedule is None else schedule.problem()
        return (STATE_NO_SCHEDULE, problem) if problem else None

    def live_detail(self, *, trigger: Trigger) -> str:
        schedule = trigger_schedule(trigger=trigger)
        if schedule is None:  # unusable() reports it first
            return super().live_detail(trigger=trigger)
        return f"Live: runs on its schedule ({schedule.cron}, {schedule.timezone})."


@register_trigger_kind
class FormKind(TriggerKindSpec):
    """A form at `/forms/<token>` (and its JSON endpoint); the form start node's config is the form."""

    name = TriggerKind.FORM
    label = "Form"
    start_nodes = ("form",)
    url_name = "form-page"
    live_detail_text = "Live: the form accepts submissions at its URL."


@register_trigger_kind
class ApiKind(TriggerKindSpec):
    """An API client's `execute` (an API key's start is recorded as `api`)."""

    name = TriggerKind.API
    label = "API"
    start_nodes = ("manual", "webhook")
    config_schema = ANY_CONFIG
