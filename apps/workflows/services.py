"""Writes for workflows: create, update (a new definition makes a new version), credentials."""

import json
from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm, remove_perm

from apps.core.errors import Conflict
from apps.core.live import access_changed, user_access_group
from apps.core.params import UNSET, Unset, given
from apps.nodes import credential_kinds
from apps.nodes.models import NodeType
from apps.nodes.registry import registry
from apps.orgs.models import Organization
from apps.orgs.services import Actor, audit

from .choices import WorkflowStatus
from .models import Credential, Workflow, WorkflowVersion
from .n8n import translate_workflow
from .triggers import (  # noqa: F401  (re-exported: the trigger and form services live beside the trigger kinds)
    CRON_INVALID,
    SCHEDULE_NEEDS_CRON,
    TIMEZONE_INVALID,
    form_errors,
    form_submission_create,
    form_submission_link,
    schedule_remove,
    schedule_sync,
    schedules_sync,
    trigger_create,
    trigger_delete,
    trigger_imported_config,
    trigger_publish,
    trigger_rotate_secret,
    trigger_update,
)
from .validation import definition_draft_problems, definition_validate


def _prepared(definition: dict) -> dict:
    """The definition as stored: each node's config through its type's `prepare_config` (a form's field order)."""
    if not isinstance(definition, dict) or not isinstance(definition.get("nodes"), list):
        return definition
    nodes = [
        {**node, "config": registry.get(node["type"]).prepare_config(node["config"])}
        if isinstance(node, dict) and node.get("type") in registry and isinstance(node.get("config"), dict)
        else node
        for node in definition["nodes"]
    ]
    return {**definition, "nodes": nodes}


WORKFLOW_STALE = (
    "Someone saved this workflow after revision {expected} (it is now at revision {current}): "
    "reload it and apply your change again."
)
LEGACY_VARIABLES_NOT_OBJECT = "Must be a JSON object (an old export's top-level variables)."


def _next_version(*, workflow: Workflow, created_by: User | None) -> WorkflowVersion | None:
    """Record the working definition as a new version, unless the latest version already holds it."""
    latest = workflow.versions.order_by("-number").values_list("number", "definition").first()
    if latest is not None and latest[1] == workflow.definition:
        return None
    version = WorkflowVersion(
        organization_id=workflow.organization_id,
        workflow=workflow,
        number=(latest[0] if latest else 0) + 1,
        definition=workflow.definition,
        created_by=created_by,
    )
    version.full_clean()
    version.save()
    schedules_sync(workflow=workflow)
    return version


@transaction.atomic
def workflow_create(
    *,
    organization: Organization,
    name: str,
    definition: dict,
    description: str = "",
    max_concurrent_executions: int | None = None,
    created_by: User | None = None,
    pins: dict | None = None,
    error_workflow: Workflow | None = None,
    is_default_error_workflow: bool = False,
    actor: Actor = None,
) -> Workflow:
    """Create a workflow; a valid definition is recorded as version 1, one with problems stays a draft.

    Raises DefinitionInvalid (a ValidationError on `definition`) only for what is not a definition at all
    (see validation.definition_draft_problems); graph and config problems are saved with the draft.
    """
    definition = _prepared(definition)
    problems = definition_draft_problems(definition)
    workflow = Workflow(
        organization=organization,
        name=name,
        description=description,
        definition=definition,
        max_concurrent_executions=max_concurrent_executions,
        created_by=created_by,
        pins=pins or {},
        error_workflow=error_workflow,
        is_default_error_workflow=is_default_error_workflow,
    )
    if pins:
        pins_check(pins)
    if is_default_error_workflow:
        _clear_default_error_workflow(workflow)
    workflow.full_clean()
    workflow.save()
    if not problems:
        _next_version(workflow=workflow, created_by=created_by)
    audit(actor=actor, organization=organization, action="workflow.create", target=workflow)
    return workflow


def _clear_default_error_workflow(workflow: Workflow) -> None:
    """An organization has one default error workflow: the one being set replaces the previous one."""
    others = Workflow.objects.filter(organization_id=workflow.organization_id, is_default_error_workflow=True)
    others.exclude(pk=workflow.pk).update(is_default_error_workflow=False)


@transaction.atomic
def workflow_update(
    *,
    workflow: Workflow,
    user: User | None = None,
    revision: int | None = None,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    definition: dict | Unset = UNSET,
    max_concurrent_executions: int | Unset | None = UNSET,
    pins: dict | Unset = UNSET,
    error_workflow: Workflow | Unset | None = UNSET,
    is_default_error_workflow: bool | Unset = UNSET,
    actor: Actor = None,
) -> Workflow:
    """Change the given fields of a workflow and bump its revision; a valid new definition becomes a new version.

    `revision` is the one the change was based on: when someone saved since, Conflict (409) names the
    current one; None saves whatever happened in between. A definition with graph or config problems is
    stored as a draft (no version: the latest version keeps running); one that is not a definition at all
    raises DefinitionInvalid.
    """
    fields = given(
        name=name,
        description=description,
        definition=definition,
        max_concurrent_executions=max_concurrent_executions,
        pins=pins,
        error_workflow=error_workflow,
        is_default_error_workflow=is_default_error_workflow,
    )
    current = Workflow.objects.select_for_update().values_list("revision", flat=True).get(pk=workflow.pk)
    if revision is not None and revision != current:
        raise Conflict(WORKFLOW_STALE.format(expected=revision, current=current), extra={"current_revision": current})
    if "pins" in fields:
        pins_check(fields["pins"])
    problems = None
    if "definition" in fields:
        fields["definition"] = _prepared(fields["definition"])
        problems = definition_draft_problems(fields["definition"])
    for field, value in fields.items():
        setattr(workflow, field, value)
    workflow.revision = current + 1
    if fields.get("is_default_error_workflow"):
        _clear_default_error_workflow(workflow)
    workflow.full_clean()
    workflow.save(update_fields=[*fields, "revision", "updated_at"])
    if problems == []:
        _next_version(workflow=workflow, created_by=user)
    data = {"fields": sorted(fields)}
    audit(actor=actor, organization=workflow.organization, action="workflow.update", target=workflow, data=data)
    return workflow


PINS_NOT_OBJECT = "Must be a JSON object: node id -> the output a test run uses instead of running the node."
PIN_BAD_NODE_ID = "A node id is a non-empty string of at most 100 characters."
PINS_TOO_LARGE = "The pins are {size} bytes of JSON, over the limit of {limit} bytes (CONCERTMASTER_PINS_MAX_BYTES)."
#: Default of CONCERTMASTER_PINS_MAX_BYTES.
PINS_MAX_BYTES = 1024 * 1024


def pins_check(pins: object) -> None:
    """Pins are checked for shape only: an object of node ids to any JSON, within the size bound.

    A pin of a node not in the definition is allowed (the draft may be mid-edit); runs ignore it.
    """
    if not isinstance(pins, dict):
        raise ValidationError({"pins": [PINS_NOT_OBJECT]})
    for node_id in pins:
        if not isinstance(node_id, str) or not node_id or len(node_id) > 100:
            raise ValidationError({"pins": [PIN_BAD_NODE_ID]})
    size = len(json.dumps(pins).encode())
    limit = getattr(settings, "CONCERTMASTER_PINS_MAX_BYTES", PINS_MAX_BYTES)
    if size > limit:
        raise ValidationError({"pins": [PINS_TOO_LARGE.format(size=size, limit=limit)]})


def _credential_check_data(credential: Credential) -> None:
    """A credential of a registered kind holds what its kind's schema says (errors under `data`, naming the field)."""
    errors = credential_kinds.validate_data(credential.kind, credential.data)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def credential_create(
    *,
    organization: Organization,
    name: str,
    kind: str,
    data: dict,
    allow_private: bool = False,
    created_by: User | None = None,
    actor: Actor = None,
) -> Credential:
    """`allow_private` marks the credential internal (nodes may reach private addresses with it): admin only."""
    credential = Credential(
        organization=organization, name=name, kind=kind, data=data, allow_private=allow_private, created_by=created_by
    )
    credential.full_clean()
    _credential_check_data(credential)
    credential.save()
    record: dict = {"name": credential.name, "kind": credential.kind}
    if credential.allow_private:
        record["allow_private"] = True
    audit(actor=actor, organization=organization, action="credential.create", target=credential, data=record)
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
def workflow_delete(*, workflow: Workflow, actor: Actor = None) -> None:
    data = {"name": workflow.name}
    audit(actor=actor, organization=workflow.organization, action="workflow.delete", target=workflow, data=data)
    for trigger in workflow.triggers.all():
        schedule_remove(trigger=trigger)
    workflow.delete()


@transaction.atomic
def workflow_set_status(*, workflow: Workflow, status: str, actor: Actor = None) -> Workflow:
    """Activate or deactivate a workflow; schedules follow (a schedule fires only while its workflow is active).

    Activating needs a valid working definition (DefinitionInvalid lists its problems otherwise).
    """
    if status == WorkflowStatus.ACTIVE:
        definition_validate(workflow.definition)
    workflow.status = status
    workflow.full_clean()
    workflow.save(update_fields=["status", "updated_at"])
    for trigger in workflow.triggers.all():
        schedule_sync(trigger=trigger)
    verb = "activate" if status == WorkflowStatus.ACTIVE else "deactivate"
    audit(actor=actor, organization=workflow.organization, action=f"workflow.{verb}", target=workflow)
    return workflow


def workflow_activate(*, workflow: Workflow, actor: Actor = None) -> Workflow:
    return workflow_set_status(workflow=workflow, status=WorkflowStatus.ACTIVE, actor=actor)


def workflow_deactivate(*, workflow: Workflow, actor: Actor = None) -> Workflow:
    return workflow_set_status(workflow=workflow, status=WorkflowStatus.INACTIVE, actor=actor)


@transaction.atomic
def workflow_version_restore(
    *, workflow: Workflow, version: WorkflowVersion, user: User | None = None, actor: Actor = None
) -> Workflow:
    """Make an old version's definition the working copy again (recorded as a new version)."""
    if version.workflow_id != workflow.pk:
        raise ValidationError({"version": [VERSION_OTHER_WORKFLOW]})
    workflow = workflow_update(workflow=workflow, user=user, definition=version.definition)
    data = {"version": version.number}
    audit(actor=actor, organization=workflow.organization, action="workflow.restore", target=workflow, data=data)
    return workflow


def workflow_export(*, workflow: Workflow) -> dict:
    """A self-contained JSON document: the definition, the node types it uses, and its triggers (no secrets)."""
    type_names = sorted({node.get("type") for node in workflow.definition.get("nodes", []) if node.get("type")})
    versions = dict(NodeType.objects.filter(name__in=type_names).values_list("name", "version"))
    return {
        "format": EXPORT_FORMAT,
        "name": workflow.name,
        "description": workflow.description,
        "definition": workflow.definition,
        "pins": workflow.pins,
        "node_types": [{"type": name, "version": versions.get(name)} for name in type_names],
        "triggers": [
            {"kind": t.kind, "name": t.name, "config": t.config, "is_active": t.is_active}
            for t in workflow.triggers.order_by("created_at")
        ],
    }


@transaction.atomic
def workflow_import(
    *,
    organization: Organization,
    document: dict,
    created_by: User | None = None,
    name: str = "",
    actor: Actor = None,
) -> Workflow:
    """Create a workflow and its triggers from `workflow_export` output (webhooks get fresh tokens and secrets).

    An export made before variables lived only in the definition has them at the top level: they are merged
    into `definition.variables` (winning over the definition's, as they did at run time).
    """
    if document.get("format") != EXPORT_FORMAT:
        raise ValidationError({"format": [IMPORT_BAD_FORMAT.format(expected=EXPORT_FORMAT)]})
    definition = _with_legacy_variables(document.get("definition") or {}, document.get("variables"))
    pins = document.get("pins") or {}
    pins_check(pins)
    workflow = workflow_create(
        organization=organization,
        name=name or document.get("name") or "Imported workflow",
        description=document.get("description", ""),
        definition=definition,
        created_by=created_by,
        pins=pins,
    )
    for index, raw in enumerate(document.get("triggers") or []):
        try:
            trigger_create(
                workflow=workflow,
                kind=raw.get("kind", ""),
                name=raw.get("name", ""),
                config=trigger_imported_config(workflow=workflow, kind=raw.get("kind"), config=raw.get("config") or {}),
                is_active=raw.get("is_active", True),
            )
        except ValidationError as error:
            raise ValidationError({f"triggers/{index}/{k}": v for k, v in error.message_dict.items()}) from error
    audit(actor=actor, organization=organization, action="workflow.import", target=workflow)
    return workflow


N8N_REFUSED = "The n8n workflow {name!r} could not be imported: {reasons}"
N8N_NOTHING = "The document holds no n8n workflow."


def _n8n_workflows(document: object) -> list[dict]:
    if isinstance(document, dict) and isinstance(document.get("workflows"), list):
        document = document["workflows"]
    return [w for w in (document if isinstance(document, list) else [document]) if isinstance(w, dict)]


def _calls_no_other(workflow: dict) -> bool:
    return not any(
        isinstance(n, dict) and n.get("type") == "n8n-nodes-base.executeWorkflow" for n in workflow.get("nodes") or []
    )


@transaction.atomic
def workflow_import_n8n(
    *,
    organization: Organization,
    document: object,
    created_by: User | None = None,
    name: str = "",
    actor: Actor = None,
) -> list[tuple[Workflow | None, dict]]:
    """Import n8n workflow JSON (one workflow, a list of them, or {"workflows": [...]}) through the n8n translator:
    each becomes a draft with its report; one that cannot be translated at all gives (None, its report).
    Execute Workflow nodes find sub-workflows among the ones imported with them (those are imported first).
    A single workflow that cannot be translated raises ValidationError with the reasons."""
    workflows = _n8n_workflows(document)
    if not workflows:
        raise ValidationError({"document": [N8N_NOTHING]})
    available = {cls.type_name for cls in registry.all()}
    ids: dict[str, str] = {}
    results: list[tuple[Workflow | None, dict]] = []
    for raw in sorted(workflows, key=lambda w: 0 if _calls_no_other(w) else 1):
        translation = translate_workflow(raw, available_types=available, workflow_ids=ids)
        report = translation.as_dict()
        if translation.refused:
            if len(workflows) == 1:
                message = N8N_REFUSED.format(name=translation.name, reasons=" ".join(translation.reasons))
                raise ValidationError({"document": [message]})
            results.append((None, report))
            continue
        workflow = workflow_create(
            organization=organization,
            name=(name if len(workflows) == 1 and name else translation.name),
            description="Imported from n8n.",
            definition=cast(dict, translation.definition),  # set when the translation is not refused
            created_by=created_by,
        )
        if translation.n8n_id:
            ids[translation.n8n_id] = str(workflow.pk)
        audit(actor=actor, organization=organization, action="workflow.import", target=workflow, data={"from": "n8n"})
        results.append((workflow, report))
    return results


def _with_legacy_variables(definition: dict, legacy: object) -> dict:
    if legacy is None or legacy == {}:
        return definition
    if not isinstance(legacy, dict):
        raise ValidationError({"variables": [LEGACY_VARIABLES_NOT_OBJECT]})
    variables = definition.get("variables", {}) if isinstance(definition, dict) else None
    if not isinstance(variables, dict):
        return definition  # not a definition: workflow_create says so
    return {**definition, "variables": {**variables, **legacy}}


@transaction.atomic
def workflow_duplicate(
    *, workflow: Workflow, name: str = "", created_by: User | None = None, actor: Actor = None
) -> Workflow:
    """A draft copy with the same definition and triggers (new webhook tokens and secrets)."""
    document = workflow_export(workflow=workflow)
    copy = workflow_import(
        organization=workflow.organization,
        document=document,
        created_by=created_by,
        name=name or f"{workflow.name} (copy)",
    )
    data = {"source": str(workflow.pk)}
    audit(actor=actor, organization=workflow.organization, action="workflow.duplicate", target=copy, data=data)
    return copy


# --- credentials ----------------------------------------------------------------------------------------


@transaction.atomic
def credential_update(
    *,
    credential: Credential,
    name: str | Unset = UNSET,
    kind: str | Unset = UNSET,
    data: dict | Unset = UNSET,
    allow_private: bool | Unset = UNSET,
    actor: Actor = None,
) -> Credential:
    """Change what is given (the organization of a credential never changes)."""
    fields = given(name=name, kind=kind, data=data, allow_private=allow_private)
    for field, value in fields.items():
        setattr(credential, field, value)
    credential.full_clean()
    if "data" in fields or "kind" in fields:  # a rename keeps data stored before its kind had a schema
        _credential_check_data(credential)
    credential.save()
    record = {"fields": sorted(fields)}
    audit(actor=actor, organization=credential.organization, action="credential.update", target=credential, data=record)
    return credential


@transaction.atomic
def credential_delete(*, credential: Credential, actor: Actor = None) -> None:
    record = {"name": credential.name}
    audit(actor=actor, organization=credential.organization, action="credential.delete", target=credential, data=record)
    credential.delete()


# --- sharing (guardian object permissions) --------------------------------------------------------------

#: API permission names and the guardian codenames they stand for on one workflow.
SHARE_CODENAMES = {"view": "view_workflow", "change": "change_workflow", "execute": "execute_workflow"}


@transaction.atomic
def workflow_share_set(*, workflow: Workflow, user: User, permissions: list[str], actor: Actor = None) -> list[str]:
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
    access_changed(user_access_group(user.pk))  # open live streams of this user check their access again
    data = {"user": user.get_username(), "permissions": sorted(wanted)}
    audit(actor=actor, organization=workflow.organization, action="workflow.share", target=workflow, data=data)
    return sorted(wanted)
