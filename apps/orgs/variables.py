"""Organization variables and secrets: writes (audited), reads, and what the engine gives nodes.

Variables are read in expressions as `org.vars.NAME` (`org_expression_context`). Secrets are never rendered: a
credential field whose whole value is `{{ org.secrets.NAME }}` takes the secret's value when a node receives the
credential (`org_secrets_apply`), so configs, rendered configs, events, logs and API answers hold the reference,
never the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from .models import Organization, OrganizationSecret, OrganizationVariable
from .selectors import Access
from .services import Actor, audit

#: A credential field that is exactly this takes the named secret's value when a node runs.
SECRET_REFERENCE = re.compile(r"^\{\{\s*org\.secrets\.([A-Za-z_][A-Za-z0-9_]{0,99})\s*\}\}$")

SECRET_EMPTY = "A secret's value is a non-empty string."
SECRET_TOO_LONG = "A secret's value is at most 8000 characters."
SECRET_MISSING = "The credential {credential!r} names org secret {name!r}, which this organization does not have."
SECRET_UNKNOWN = "No org secret named {name!r} in this organization."
SECRET_MAX_LENGTH = 8000
NAME_TAKEN = "This organization already has one named {name!r}."


def secret_reference(name: str) -> str:
    """What a credential field holds to take the secret `name`."""
    return "{{ org.secrets." + name + " }}"


# --- reads -------------------------------------------------------------------------------------------------------


def org_variable_list(*, access: Access) -> QuerySet[OrganizationVariable]:
    return OrganizationVariable.objects.filter(organization_id__in=access.organization_ids())


def org_secret_list(*, access: Access) -> QuerySet[OrganizationSecret]:
    """Secrets' names are visible to every member (to pick one in a credential); their values never are."""
    return OrganizationSecret.objects.filter(organization_id__in=access.organization_ids()).defer("value")


def org_expression_context(organization_id: Any) -> dict:
    """`org` in the expression context: `{"vars": {NAME: value}}` (secrets are not part of it)."""
    rows = OrganizationVariable.objects.filter(organization_id=organization_id).values_list("name", "value")
    return {"vars": dict(rows)}


def secret_references(data: Any) -> set[str]:
    """The org secret names the string values of a credential's data refer to."""
    if not isinstance(data, dict):
        return set()
    found = (SECRET_REFERENCE.match(value) for value in data.values() if isinstance(value, str))
    return {match.group(1) for match in found if match}


def org_secrets_missing(*, organization_id: Any, data: Any) -> list[str]:
    """The names `data` refers to that the organization has no secret of (a credential's check on save)."""
    names = secret_references(data)
    if not names:
        return []
    known = set(
        OrganizationSecret.objects.filter(organization_id=organization_id, name__in=names).values_list(
            "name", flat=True
        )
    )
    return sorted(names - known)


def org_secrets_apply(*, organization_id: Any, credentials: Iterable[Any]) -> str | None:
    """Put the referenced secrets' values into the credentials' `data` (in memory: the rows are never saved with
    them). Returns the error of a reference to a missing secret, else None. One query for all credentials."""
    credentials = list(credentials)
    names = set().union(*(secret_references(c.data) for c in credentials)) if credentials else set()
    if not names:
        return None
    values = dict(
        OrganizationSecret.objects.filter(organization_id=organization_id, name__in=names).values_list("name", "value")
    )
    for credential in credentials:
        resolved = {}
        for key, value in credential.data.items():
            match = SECRET_REFERENCE.match(value) if isinstance(value, str) else None
            if match is None:
                resolved[key] = value
            elif match.group(1) in values:
                resolved[key] = values[match.group(1)]
            else:
                return SECRET_MISSING.format(credential=credential.name, name=match.group(1))
        credential.data = resolved
    return None


# --- writes ------------------------------------------------------------------------------------------------------


@transaction.atomic
def org_variable_create(
    *, organization: Organization, name: str, value: str = "", description: str = "", actor: Actor = None
) -> OrganizationVariable:
    variable = OrganizationVariable(organization=organization, name=name, value=value, description=description)
    _check_name_free(variable)
    variable.full_clean()
    variable.save()
    audit(actor=actor, organization=organization, action="org_variable.create", target=variable, data={"name": name})
    return variable


@transaction.atomic
def org_variable_update(*, variable: OrganizationVariable, actor: Actor = None, **changes: str) -> OrganizationVariable:
    """Change `name`, `value` or `description` (the organization never changes)."""
    for field in ("name", "value", "description"):
        if field in changes:
            setattr(variable, field, changes[field])
    _check_name_free(variable)
    variable.full_clean()
    variable.save()
    record = {"name": variable.name, "fields": sorted(changes)}
    audit(actor=actor, organization=variable.organization, action="org_variable.update", target=variable, data=record)
    return variable


@transaction.atomic
def org_variable_delete(*, variable: OrganizationVariable, actor: Actor = None) -> None:
    audit(
        actor=actor,
        organization=variable.organization,
        action="org_variable.delete",
        target=variable,
        data={"name": variable.name},
    )
    variable.delete()


def _check_name_free(row: OrganizationVariable | OrganizationSecret) -> None:
    """A clear error under `name` (a unique constraint's own names no field)."""
    others = type(row).objects.filter(organization_id=row.organization_id, name=row.name).exclude(pk=row.pk)
    if others.exists():
        raise ValidationError({"name": [NAME_TAKEN.format(name=row.name)]})


def _check_secret_value(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError({"value": [SECRET_EMPTY]})
    if len(value) > SECRET_MAX_LENGTH:
        raise ValidationError({"value": [SECRET_TOO_LONG]})


@transaction.atomic
def org_secret_create(
    *,
    organization: Organization,
    name: str,
    value: str,
    description: str = "",
    created_by: Any = None,
    actor: Actor = None,
) -> OrganizationSecret:
    """The audit row names the secret, never its value."""
    _check_secret_value(value)
    secret = OrganizationSecret(
        organization=organization, name=name, value=value, description=description, created_by=created_by
    )
    _check_name_free(secret)
    secret.full_clean()
    secret.save()
    audit(actor=actor, organization=organization, action="org_secret.create", target=secret, data={"name": name})
    return secret


@transaction.atomic
def org_secret_update(*, secret: OrganizationSecret, actor: Actor = None, **changes: str) -> OrganizationSecret:
    """Change `value` (replaced, never read back) or `description`. A secret is renamed by making a new one: the
    credentials that name it would otherwise break silently."""
    if "value" in changes:
        _check_secret_value(changes["value"])
        secret.value = changes["value"]
    if "description" in changes:
        secret.description = changes["description"]
    secret.full_clean()
    secret.save()
    record = {"name": secret.name, "fields": sorted(changes)}
    audit(actor=actor, organization=secret.organization, action="org_secret.update", target=secret, data=record)
    return secret


@transaction.atomic
def org_secret_delete(*, secret: OrganizationSecret, actor: Actor = None) -> None:
    audit(
        actor=actor,
        organization=secret.organization,
        action="org_secret.delete",
        target=secret,
        data={"name": secret.name},
    )
    secret.delete()


def org_secret_rotate_all() -> int:
    """Re-encrypt every secret with the newest key (as `credential_rotate_all`); returns how many were rewritten."""
    count = 0
    for secret in OrganizationSecret.objects.iterator():
        secret.save(update_fields=["value", "updated_at"])
        count += 1
    return count
