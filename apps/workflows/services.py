"""Writes for workflows: create, update (a new definition makes a new version), credentials."""

import json
import secrets
import zoneinfo

from croniter import croniter
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask
from guardian.shortcuts import assign_perm, remove_perm
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from apps.nodes.models import NodeType
from apps.orgs.models import Organization

from .choices import TriggerKind, WorkflowStatus
from .models import Credential, FormSubmission, Trigger, Workflow, WorkflowVersion
from .validation import definition_validate


def _next_version(*, workflow: Workflow, created_by: AbstractBaseUser | None) -> WorkflowVersion:
    last = workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = WorkflowVersion(
        organization_id=workflow.organization_id,
        workflow=workflow,
        number=last + 1,
        definition=workflow.definition,
        created_by=created_by,
    )
    version.full_clean()
    version.save()
    return version


@transaction.atomic
def workflow_create(
    *,
    organization: Organization,
    name: str,
    definition: dict,
    description: str = "",
    variables: dict | None = None,
    created_by: AbstractBaseUser | None = None,
    validate: bool = True,
) -> Workflow:
    """Create a workflow and its first version.

    With `validate` (the default) an invalid definition raises ValidationError({"definition": [...]}), one
    message per problem, each starting with its JSON pointer (see apps/workflows/validation.py).
    """
    if validate:
        definition_validate(definition)
    workflow = Workflow(
        organization=organization,
        name=name,
        description=description,
        definition=definition,
        variables=variables if variables is not None else definition.get("variables", {}),
        created_by=created_by,
    )
    workflow.full_clean()
    workflow.save()
    _next_version(workflow=workflow, created_by=created_by)
    return workflow


@transaction.atomic
def workflow_update(
    *, workflow: Workflow, user: AbstractBaseUser | None = None, validate: bool = True, **fields
) -> Workflow:
    """Change a workflow's fields; a changed definition is validated (unless `validate=False`) and recorded
    as a new version."""
    definition_changed = "definition" in fields and fields["definition"] != workflow.definition
    if validate and definition_changed:
        definition_validate(fields["definition"])
    for name, value in fields.items():
        setattr(workflow, name, value)
    workflow.full_clean()
    workflow.save()
    if definition_changed:
        _next_version(workflow=workflow, created_by=user)
    return workflow


@transaction.atomic
def credential_create(
    *, organization: Organization, name: str, kind: str, data: dict, created_by: AbstractBaseUser | None = None
) -> Credential:
    credential = Credential(organization=organization, name=name, kind=kind, data=data, created_by=created_by)
    credential.full_clean()
    credential.save()
    return credential


def credential_rotate_all() -> int:
    """Re-encrypt every credential with the newest key; returns how many were rewritten."""
    count = 0
    for credential in Credential.objects.iterator():
        with transaction.atomic():
            credential.save(update_fields=["data", "updated_at"])
        count += 1
    return count


# --- lifecycle, versions, export/import ------------------------------------------------------------------

EXPORT_FORMAT = "concertmaster.workflow/1"
IMPORT_BAD_FORMAT = "This is not a ConcertMaster workflow export (expected format {expected!r})."
VERSION_OTHER_WORKFLOW = "The version belongs to another workflow."


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    for trigger in workflow.triggers.all():
        _schedule_remove(trigger=trigger)
    workflow.delete()


@transaction.atomic
def workflow_set_status(*, workflow: Workflow, status: str) -> Workflow:
    """Activate or deactivate a workflow; schedules follow (a schedule fires only while its workflow is active)."""
    workflow.status = status
    workflow.full_clean()
    workflow.save(update_fields=["status", "updated_at"])
    for trigger in workflow.triggers.all():
        _schedule_sync(trigger=trigger)
    return workflow


def workflow_activate(*, workflow: Workflow) -> Workflow:
    return workflow_set_status(workflow=workflow, status=WorkflowStatus.ACTIVE)


def workflow_deactivate(*, workflow: Workflow) -> Workflow:
    return workflow_set_status(workflow=workflow, status=WorkflowStatus.INACTIVE)


@transaction.atomic
def workflow_version_restore(
    *, workflow: Workflow, version: WorkflowVersion, user: AbstractBaseUser | None = None
) -> Workflow:
    """Make an old version's definition the working copy again (recorded as a new version)."""
    if version.workflow_id != workflow.pk:
        raise ValidationError({"version": [VERSION_OTHER_WORKFLOW]})
    return workflow_update(workflow=workflow, user=user, definition=version.definition)


def workflow_export(*, workflow: Workflow) -> dict:
    """A self-contained JSON document: the definition, the node types it uses, and its triggers (no secrets)."""
    type_names = sorted({node.get("type") for node in workflow.definition.get("nodes", []) if node.get("type")})
    versions = dict(NodeType.objects.filter(name__in=type_names).values_list("name", "version"))
    return {
        "format": EXPORT_FORMAT,
        "name": workflow.name,
        "description": workflow.description,
        "definition": workflow.definition,
        "variables": workflow.variables,
        "node_types": [{"type": name, "version": versions.get(name)} for name in type_names],
        "triggers": [
            {"kind": t.kind, "name": t.name, "config": t.config, "is_active": t.is_active}
            for t in workflow.triggers.order_by("created_at")
        ],
    }


@transaction.atomic
def workflow_import(
    *, organization: Organization, document: dict, created_by: AbstractBaseUser | None = None, name: str = ""
) -> Workflow:
    """Create a workflow and its triggers from `workflow_export` output (webhooks get fresh tokens and secrets)."""
    if document.get("format") != EXPORT_FORMAT:
        raise ValidationError({"format": [IMPORT_BAD_FORMAT.format(expected=EXPORT_FORMAT)]})
    workflow = workflow_create(
        organization=organization,
        name=name or document.get("name") or "Imported workflow",
        description=document.get("description", ""),
        definition=document.get("definition") or {},
        variables=document.get("variables"),
        created_by=created_by,
    )
    for index, raw in enumerate(document.get("triggers") or []):
        try:
            trigger_create(
                workflow=workflow,
                kind=raw.get("kind", ""),
                name=raw.get("name", ""),
                config=raw.get("config") or {},
                is_active=raw.get("is_active", True),
            )
        except ValidationError as error:
            raise ValidationError({f"triggers/{index}/{k}": v for k, v in error.message_dict.items()}) from error
    return workflow


@transaction.atomic
def workflow_duplicate(*, workflow: Workflow, name: str = "", created_by: AbstractBaseUser | None = None) -> Workflow:
    """A draft copy with the same definition and triggers (new webhook tokens and secrets)."""
    document = workflow_export(workflow=workflow)
    return workflow_import(
        organization=workflow.organization,
        document=document,
        created_by=created_by,
        name=name or f"{workflow.name} (copy)",
    )


# --- triggers -------------------------------------------------------------------------------------------

CRON_INVALID = "Not a valid 5-field cron expression (minute hour day-of-month month day-of-week)."
TIMEZONE_INVALID = "Unknown time zone {value!r}."
SCHEDULE_NEEDS_CRON = "A schedule trigger needs a cron expression."
FORM_NEEDS_SCHEMA = "A form trigger needs a JSON Schema object with properties."
FORM_SCHEMA_INVALID = "The form schema is not valid JSON Schema: {error}"
WEBHOOK_RESPONSE_MODES = ("async", "wait")
WEBHOOK_MODE_INVALID = "response_mode must be one of: async, wait."
SCHEDULE_TASK = "concertmaster.schedule_trigger_fire"


def _signing_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


def _validate_trigger_config(*, kind: str, config: dict) -> dict:
    """Check the config of a trigger kind; returns it normalised."""
    if not isinstance(config, dict):
        raise ValidationError({"config": ["Must be an object."]})
    if kind == TriggerKind.SCHEDULE:
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
    if kind == TriggerKind.FORM:
        schema = config.get("schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            raise ValidationError({"config/schema": [FORM_NEEDS_SCHEMA]})
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            raise ValidationError({"config/schema": [FORM_SCHEMA_INVALID.format(error=error.message)]}) from error
    if kind == TriggerKind.WEBHOOK and config.get("response_mode", "async") not in WEBHOOK_RESPONSE_MODES:
        raise ValidationError({"config/response_mode": [WEBHOOK_MODE_INVALID]})
    return config


@transaction.atomic
def trigger_create(
    *,
    workflow: Workflow,
    kind: str,
    name: str = "",
    config: dict | None = None,
    is_active: bool = True,
    signed: bool = True,
) -> Trigger:
    """Create a trigger; a webhook gets a signing secret unless `signed` is false. Schedules sync to beat."""
    trigger = Trigger(
        organization_id=workflow.organization_id,
        workflow=workflow,
        kind=kind,
        name=name,
        is_active=is_active,
        signing_secret=_signing_secret() if kind == TriggerKind.WEBHOOK and signed else "",
    )
    trigger.full_clean(exclude=["config"])
    trigger.config = _validate_trigger_config(kind=kind, config=config or {})
    trigger.save()
    _schedule_sync(trigger=trigger)
    return trigger


@transaction.atomic
def trigger_update(*, trigger: Trigger, **fields) -> Trigger:
    for name, value in fields.items():
        setattr(trigger, name, value)
    trigger.full_clean(exclude=["config"])
    trigger.config = _validate_trigger_config(kind=trigger.kind, config=trigger.config)
    trigger.save()
    _schedule_sync(trigger=trigger)
    return trigger


@transaction.atomic
def trigger_rotate_secret(*, trigger: Trigger) -> Trigger:
    trigger.signing_secret = _signing_secret()
    trigger.save(update_fields=["signing_secret", "updated_at"])
    return trigger


@transaction.atomic
def trigger_delete(*, trigger: Trigger) -> None:
    _schedule_remove(trigger=trigger)
    trigger.delete()


def _schedule_name(trigger: Trigger) -> str:
    return f"trigger:{trigger.pk}"


def _schedule_remove(*, trigger: Trigger) -> None:
    PeriodicTask.objects.filter(name=_schedule_name(trigger)).delete()


def _schedule_sync(*, trigger: Trigger) -> None:
    """Mirror a schedule trigger into django-celery-beat: enabled only while trigger and workflow are active."""
    if trigger.kind != TriggerKind.SCHEDULE:
        _schedule_remove(trigger=trigger)
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


# --- credentials ----------------------------------------------------------------------------------------


@transaction.atomic
def credential_update(*, credential: Credential, **fields) -> Credential:
    for name, value in fields.items():
        setattr(credential, name, value)
    credential.full_clean()
    credential.save()
    return credential


@transaction.atomic
def credential_delete(*, credential: Credential) -> None:
    credential.delete()


# --- form submissions -----------------------------------------------------------------------------------


def form_errors(*, trigger: Trigger, data: object) -> list[dict]:
    """Per-field errors of a form submission against the trigger's JSON Schema ({"path", "message"})."""
    validator = Draft202012Validator(trigger.config["schema"], format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            path, message = [*path, missing], "This field is required."
        else:
            message = error.message
        errors.append({"path": "/" + "/".join(str(p) for p in path) if path else "", "message": message})
    return errors


@transaction.atomic
def form_submission_create(*, trigger: Trigger, data: object, remote_addr: str | None = None) -> FormSubmission:
    """Store a submission with its per-field errors (an empty list when valid)."""
    submission = FormSubmission(
        organization_id=trigger.organization_id,
        trigger=trigger,
        data=data if isinstance(data, dict) else {"value": data},
        errors=form_errors(trigger=trigger, data=data),
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


# --- sharing (guardian object permissions) --------------------------------------------------------------

#: API permission names and the guardian codenames they stand for on one workflow.
SHARE_CODENAMES = {"view": "view_workflow", "change": "change_workflow", "execute": "execute_workflow"}


@transaction.atomic
def workflow_share_set(*, workflow: Workflow, user: AbstractBaseUser, permissions: list[str]) -> list[str]:
    """Give `user` exactly `permissions` on `workflow` (an empty list removes the share); returns them sorted."""
    wanted = set(permissions)
    unknown = wanted - set(SHARE_CODENAMES)
    if unknown:
        raise ValidationError({"permissions": [f"Unknown permission: {', '.join(sorted(unknown))}."]})
    for name, codename in SHARE_CODENAMES.items():
        if name in wanted:
            assign_perm(f"workflows.{codename}", user, workflow)
        else:
            remove_perm(f"workflows.{codename}", user, workflow)
    return sorted(wanted)
