"""Trigger nodes: where an execution starts. They have no input port; the engine hands them the trigger
data (a manual run's input, a webhook request, a schedule tick, a form submission) in `ctx.inputs["main"]`,
and they output it, checked and normalised, on "main"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from apps.nodes.base import Node, NodeContext, NodeError, NodeResult
from apps.nodes.choices import Category
from apps.nodes.expressions import has_expression, pointer_join
from apps.nodes.registry import register, schema_errors
from apps.nodes.validation import ConfigError, instance_errors

INPUT_INVALID = "The trigger input does not match the input schema: {errors}"
INPUT_NOT_OBJECT = "The trigger input must be an object to apply defaults (got {kind})."
METHOD_NOT_ALLOWED = "This webhook accepts {allowed}, not {method}."
INVALID_CRON = "Invalid cron expression {cron!r}."
UNKNOWN_TIMEZONE = "Unknown time zone {timezone!r}."
INVALID_FIRED_AT = "The schedule tick time {value!r} is not an ISO 8601 date-time."
FIELDS_NOT_OBJECT_SCHEMA = 'The form fields must be a JSON Schema with "type": "object".'
SUBMISSION_INVALID = "The form submission is invalid: {errors}"

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _summary(errors: list[ConfigError]) -> str:
    return "; ".join(f"{error.path or '/'}: {error.message}" for error in errors)


def _embedded_schema_errors(schema: Any, pointer: str) -> list[tuple[str, str]]:
    """Metaschema errors of a JSON Schema held in a config, addressed from the config's root."""
    return [(pointer + where, message) for where, message in schema_errors(schema)]


def _zone_error(timezone: Any, pointer: str) -> list[tuple[str, str]]:
    if not isinstance(timezone, str) or has_expression(timezone):
        return []
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return [(pointer, UNKNOWN_TIMEZONE.format(timezone=timezone))]
    return []


@register
class ManualTrigger(Node):
    type_name = "manual"
    category = Category.TRIGGERS
    display_name = "Manual trigger"
    icon = "play"
    description = (
        "Starts a workflow by hand, from the editor's Run button or the API's execute endpoint. It outputs "
        "the input given with the run, with `defaults` filled in for missing keys. With `input_schema` set, "
        "an input that does not match that JSON Schema fails the run at once, listing every problem."
    )
    inputs = ()
    config_schema = {
        "type": "object",
        "properties": {
            "defaults": {"type": "object", "description": "Values used for keys the run's input lacks."},
            "input_schema": {"type": "object", "description": "JSON Schema (Draft 2020-12) the input must match."},
        },
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        if "input_schema" not in config:
            return []
        return _embedded_schema_errors(config["input_schema"], "/input_schema")

    def run(self, ctx: NodeContext) -> NodeResult:
        payload = {} if ctx.input is None else ctx.input
        defaults = ctx.config.get("defaults")
        if defaults:
            if not isinstance(payload, dict):
                raise NodeError(INPUT_NOT_OBJECT.format(kind=type(payload).__name__), retryable=False)
            payload = {**defaults, **payload}
        if "input_schema" in ctx.config:
            errors = instance_errors(ctx.config["input_schema"], payload)
            if errors:
                raise NodeError(
                    INPUT_INVALID.format(errors=_summary(errors)),
                    retryable=False,
                    data={"errors": [error.as_dict() for error in errors]},
                )
        return NodeResult.single(payload)


@register
class WebhookTrigger(Node):
    type_name = "webhook"
    category = Category.TRIGGERS
    display_name = "Webhook"
    icon = "webhook"
    description = (
        "Starts a workflow when an HTTP request reaches the workflow's webhook URL. It outputs the request as "
        "`{method, headers, query, body}` (header names in lower case), so later nodes read "
        "`trigger.body.amount`. `methods` lists the accepted HTTP methods; `require_signature` demands an "
        "HMAC-SHA256 signature made with the trigger's signing secret; `response_mode` chooses between "
        'answering at once ("immediate") and waiting for a webhook_response node ("response_node").'
    )
    inputs = ()
    config_schema = {
        "type": "object",
        "properties": {
            "methods": {
                "type": "array",
                "items": {"enum": HTTP_METHODS},
                "minItems": 1,
                "uniqueItems": True,
                "default": ["POST"],
            },
            "response_mode": {"enum": ["immediate", "response_node"], "default": "immediate"},
            "require_signature": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        request = ctx.input if isinstance(ctx.input, dict) else {"body": ctx.input}
        method = str(request.get("method") or "POST").upper()
        allowed = ctx.config.get("methods", ["POST"])
        if method not in allowed:
            raise NodeError(METHOD_NOT_ALLOWED.format(allowed=", ".join(allowed), method=method), retryable=False)
        headers = request.get("headers") or {}
        return NodeResult.single(
            {
                "method": method,
                "headers": {str(name).lower(): value for name, value in headers.items()},
                "query": request.get("query") or {},
                "body": request.get("body"),
            }
        )


@register
class ScheduleTrigger(Node):
    type_name = "schedule"
    category = Category.TRIGGERS
    display_name = "Schedule"
    icon = "clock"
    description = (
        "Starts a workflow on a cron schedule (five fields: minute, hour, day of month, month, day of week) "
        "read in `timezone`, so `0 9 * * 1-5` means 9:00 local time on weekdays, daylight saving included. "
        "It outputs `payload` merged with `{cron, timezone, fired_at, next_run}`, both times in ISO 8601 in "
        "that time zone."
    )
    inputs = ()
    config_schema = {
        "type": "object",
        "properties": {
            "cron": {"type": "string", "minLength": 1, "maxLength": 200, "description": "e.g. */15 * * * *"},
            "timezone": {"type": "string", "minLength": 1, "default": "UTC", "description": "IANA name."},
            "payload": {"type": "object", "description": "Extra data every tick outputs."},
        },
        "required": ["cron"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        errors = _zone_error(config.get("timezone"), "/timezone")
        cron = config["cron"]
        if not has_expression(cron) and not croniter.is_valid(cron):
            errors.append(("/cron", INVALID_CRON.format(cron=cron)))
        return errors

    @classmethod
    def next_runs(cls, config: dict, *, after: datetime, count: int = 1) -> list[datetime]:
        """The next `count` fire times strictly after `after`, as aware datetimes in the config's time zone."""
        zone = ZoneInfo(config.get("timezone", "UTC"))
        schedule = croniter(config["cron"], after.astimezone(zone))
        return [schedule.get_next(datetime) for _ in range(count)]

    def run(self, ctx: NodeContext) -> NodeResult:
        cron, timezone = ctx.config["cron"], ctx.config.get("timezone", "UTC")
        problems = self.check_config({"cron": cron, "timezone": timezone})
        if problems:
            raise NodeError(problems[0][1], retryable=False)
        tick = ctx.input if isinstance(ctx.input, dict) else {}
        fired_at = self._fired_at(tick.get("fired_at")).astimezone(ZoneInfo(timezone))
        (next_run,) = self.next_runs(ctx.config, after=fired_at)
        return NodeResult.single(
            {
                **ctx.config.get("payload", {}),
                "cron": cron,
                "timezone": timezone,
                "fired_at": fired_at.isoformat(),
                "next_run": next_run.isoformat(),
            }
        )

    @staticmethod
    def _fired_at(value: Any) -> datetime:
        if value is None:
            return datetime.now(UTC)
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise NodeError(INVALID_FIRED_AT.format(value=value), retryable=False) from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@register
class FormTrigger(Node):
    type_name = "form"
    category = Category.TRIGGERS
    display_name = "Form"
    icon = "form"
    description = (
        "Starts a workflow when someone submits the workflow's public form. `fields` is a JSON Schema of "
        "type object: its properties are the form's inputs (titles, formats, enums and `required` included), "
        "and the editor and the public page draw the form from it. A submission that does not match the "
        "schema is refused with every problem listed; a valid one is output as it is."
    )
    inputs = ()
    config_schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
            "fields": {"type": "object", "description": "JSON Schema (type object) of the submission."},
            "submit_label": {"type": "string", "minLength": 1, "maxLength": 50, "default": "Submit"},
            "success_message": {"type": "string", "maxLength": 500},
        },
        "required": ["title", "fields"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        fields = config["fields"]
        errors = _embedded_schema_errors(fields, "/fields")
        if not errors and fields.get("type") != "object":
            errors.append((pointer_join("/fields", "type"), FIELDS_NOT_OBJECT_SCHEMA))
        return errors

    @classmethod
    def submission_errors(cls, config: dict, submission: Any) -> list[ConfigError]:
        """Every problem of a form submission, each with a JSON pointer to the field at fault."""
        return instance_errors(config["fields"], submission)

    def run(self, ctx: NodeContext) -> NodeResult:
        submission = {} if ctx.input is None else ctx.input
        errors = self.submission_errors(ctx.config, submission)
        if errors:
            raise NodeError(
                SUBMISSION_INVALID.format(errors=_summary(errors)),
                retryable=False,
                data={"errors": [error.as_dict() for error in errors]},
            )
        return NodeResult.single(submission)
