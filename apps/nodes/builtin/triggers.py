"""Trigger nodes: where an execution starts. They have no input port; the engine hands them the trigger
data (a manual run's input, a webhook request, a schedule tick, a form submission) in `ctx.inputs["main"]`,
and they output it, checked and normalised, on "main"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from jsonschema import Draft202012Validator

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
#: What a person filling in a public form reads for each kind of problem (JSON Schema keyword -> text).
FIELD_REQUIRED = "This field is required."
FIELD_TOO_SHORT = "Please enter at least {limit} characters."
FIELD_TOO_SHORT_ONE = "Please enter at least 1 character."
FIELD_TOO_LONG = "Please enter at most {limit} characters."
FIELD_TOO_SMALL = "Please enter a number of at least {limit}."
FIELD_TOO_LARGE = "Please enter a number of at most {limit}."
FIELD_NOT_ABOVE = "Please enter a number greater than {limit}."
FIELD_NOT_BELOW = "Please enter a number less than {limit}."
FIELD_NOT_WHOLE = "Please enter a whole number."
FIELD_NOT_NUMBER = "Please enter a number."
FIELD_NOT_CHOICE = "Please choose one of the options."
FIELD_PATTERN = "Please enter a value in the expected format."
FIELD_UNKNOWN = "This form has no field named {name!r}."
FIELD_INVALID = "Please enter a valid value."
FIELD_FORMATS = {
    "email": "Enter a valid email address.",
    "uri": "Enter a valid URL, starting with https://.",
    "date": "Enter a valid date (YYYY-MM-DD).",
    "date-time": "Enter a valid date and time.",
    "time": "Enter a valid time.",
}
FIELD_ORDER_UNKNOWN = "field_order names {name!r}, which is not one of the form's fields."

HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: How a signed webhook call is checked (apps/executions/signatures.py verifies each).
SIGNATURE_SCHEMES = ["concertmaster", "standard_webhooks", "github", "stripe", "slack"]


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
        "Starts a workflow when an HTTP request reaches the workflow's webhook URL (published from the triggers "
        "dialog or `POST /api/v1/triggers/publish/`). It outputs the request as `{method, headers, query, body}` "
        "(header names in lower case), so later nodes read `trigger.body.amount`. This node's config is the "
        "webhook's: `methods` lists the accepted HTTP methods; `require_signature` demands an HMAC-SHA256 "
        "signature made with the trigger's signing secret (unsigned calls get 401), checked by `signature_scheme`: "
        '"concertmaster" (X-ConcertMaster-Signature), "standard_webhooks" (webhook-id, webhook-timestamp, '
        'webhook-signature), or the "github", "stripe" and "slack" presets for those senders (set the secret they '
        "gave you on the trigger); a signed message is accepted once; `response_mode` chooses "
        'between answering at once with 202 ("immediate") and waiting up to `response_timeout_seconds` for a '
        'webhook_response node ("response_node"; a failed run answers 502, a run still going 504).'
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
            "signature_scheme": {
                "enum": SIGNATURE_SCHEMES,
                "default": "concertmaster",
                "description": "How require_signature checks a call: ConcertMaster's header, Standard Webhooks, or "
                "the GitHub, Stripe or Slack sender's own.",
            },
            "response_timeout_seconds": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 300,
                "default": 10,
                "description": "response_node mode: how long the caller waits for the response.",
            },
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
        output = {
            "method": method,
            "headers": {str(name).lower(): value for name, value in headers.items()},
            "query": request.get("query") or {},
            "body": request.get("body"),
        }
        if request.get("event_type"):  # the trigger's event_type (POST /api/v1/webhooks)
            output["event_type"] = request["event_type"]
        return NodeResult.single(output)


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
        "Starts a workflow when someone submits the workflow's public form (published from the triggers "
        "dialog or `POST /api/v1/triggers/publish/`). This node's config is the form: `title`, `description`, "
        "`fields` (a JSON Schema of type object: its properties are the inputs, with titles, formats, enums "
        "and `required`), `field_order` (the order the inputs are shown in; filled from the order of "
        "`fields.properties` when the workflow is saved, new fields are appended), `submit_label` and "
        "`success_message`. A public submission is checked against `fields` when it arrives: an invalid one is "
        "refused with a message per field and starts nothing; a valid one is the node's output as it is. The "
        "node applies the same check to a run started another way (the API's execute, the Run button)."
    )
    inputs = ()
    config_schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": {"type": "string", "maxLength": 2000},
            "fields": {"type": "object", "description": "JSON Schema (type object) of the submission."},
            "field_order": {
                "type": "array",
                "items": {"type": "string"},
                "uniqueItems": True,
                "description": "Names of the fields in the order the form shows them.",
            },
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
        properties = fields.get("properties") if isinstance(fields.get("properties"), dict) else {}
        for index, name in enumerate(config.get("field_order", [])):
            if name not in properties:
                errors.append((f"/field_order/{index}", FIELD_ORDER_UNKNOWN.format(name=name)))
        return errors

    @classmethod
    def prepare_config(cls, config: dict) -> dict:
        """Record the author's field order in `field_order` before the config is stored.

        PostgreSQL's jsonb keeps object keys sorted by length, so the order of `fields.properties` is lost
        once stored; a list keeps it. Names already listed keep their place, new fields follow in the order
        given, removed ones are dropped.
        """
        fields = config.get("fields")
        if not isinstance(fields, dict) or not isinstance(fields.get("properties"), dict):
            return config
        names = list(fields["properties"])
        listed = config.get("field_order")
        listed = [name for name in listed if name in names] if isinstance(listed, list) else []
        order = list(dict.fromkeys([*listed, *names]))
        return {**config, "field_order": order}

    @classmethod
    def ordered_fields(cls, config: dict) -> list[tuple[str, dict, bool]]:
        """(name, JSON Schema of the field, required) for every field, in the author's order."""
        fields = config.get("fields") or {}
        properties = cast(dict, fields.get("properties")) if isinstance(fields.get("properties"), dict) else {}
        required = set(fields.get("required") or [])
        listed = [name for name in config.get("field_order") or [] if name in properties]
        names = list(dict.fromkeys([*listed, *properties]))
        return [
            (name, properties[name] if isinstance(properties[name], dict) else {}, name in required) for name in names
        ]

    @classmethod
    def submission_errors(cls, config: dict, submission: Any) -> list[ConfigError]:
        """Every problem of a form submission, each at the JSON pointer of its field, worded for the public."""
        validator = Draft202012Validator(config["fields"], format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = []
        for error in validator.iter_errors(submission):
            path = [str(part) for part in error.absolute_path]
            if error.validator == "required":
                # One error per missing field; its message is "<repr of the name> is a required property".
                absent = [name for name in error.validator_value if name not in error.instance]
                path.append(next((name for name in absent if error.message.startswith(repr(name))), absent[0]))
            elif error.validator == "additionalProperties":
                extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
                path.append(extra[0] if extra else "")
            errors.append(ConfigError("".join(f"/{part}" for part in path), _public_message(error)))
        return sorted(errors, key=lambda error: (error.path, error.message))

    def run(self, ctx: NodeContext) -> NodeResult:
        # A public submission was checked when it arrived; an execute call or a test run is checked here.
        submission = {} if ctx.input is None else ctx.input
        errors = self.submission_errors(ctx.config, submission)
        if errors:
            raise NodeError(
                SUBMISSION_INVALID.format(errors=_summary(errors)),
                retryable=False,
                data={"errors": [error.as_dict() for error in errors]},
            )
        return NodeResult.single(submission)


def _public_message(error: Any) -> str:
    """The text a person filling in the form reads for one jsonschema error."""
    keyword, limit = error.validator, error.validator_value
    if keyword == "required":
        return FIELD_REQUIRED
    if keyword == "minLength":
        return FIELD_TOO_SHORT_ONE if limit == 1 else FIELD_TOO_SHORT.format(limit=limit)
    if keyword == "maxLength":
        return FIELD_TOO_LONG.format(limit=limit)
    if keyword == "format":
        return FIELD_FORMATS.get(limit, FIELD_INVALID)
    if keyword in ("enum", "const"):
        return FIELD_NOT_CHOICE
    if keyword == "pattern":
        return FIELD_PATTERN
    if keyword == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return FIELD_UNKNOWN.format(name=extra[0] if extra else "")
    if keyword == "type":
        kinds = limit if isinstance(limit, list) else [limit]
        if "integer" in kinds:
            return FIELD_NOT_WHOLE
        if "number" in kinds:
            return FIELD_NOT_NUMBER
        return FIELD_INVALID
    numeric = {
        "minimum": FIELD_TOO_SMALL,
        "maximum": FIELD_TOO_LARGE,
        "exclusiveMinimum": FIELD_NOT_ABOVE,
        "exclusiveMaximum": FIELD_NOT_BELOW,
    }
    if keyword in numeric:
        return numeric[keyword].format(limit=limit)
    return FIELD_INVALID
