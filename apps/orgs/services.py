"""Writes for organizations, memberships, API keys and the audit log.

Every mutating service of every app takes `actor` (a user, an API key, the API caller's Access) and writes its own
audit row with `audit_log_record` when one is given, so a write from a view, the admin, a task, a command or a
consumer is recorded alike. Without an actor (the platform acting on its own, or a service called by another
service) no row is written: the outer call records the whole change once.
"""

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .choices import Role
from .models import ApiKey, AuditLog, Membership, Organization
from .selectors import Access

API_KEY_PREFIX = "cm_"

#: Who does a write, for its audit row: a user; an API key (its creator is the row's actor, its prefix in the
#: data); the API caller's Access (whichever of the two it holds); None: no audit row.
Actor = User | ApiKey | Access | None

#: The interface a write comes through when it is not the API ("admin", "command"...): recorded as `via`.
_via: ContextVar[str] = ContextVar("audit_via", default="")


@contextmanager
def audit_via(via: str) -> Iterator[None]:
    """Audit rows written inside this block say they came `via` this interface (the admin wraps its views)."""
    token = _via.set(via)
    try:
        yield
    finally:
        _via.reset(token)


def _hash_secret(secret: str) -> str:
    # The secret is 32 random bytes: a fast hash suffices, there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def organization_create(
    *,
    name: str,
    slug: str,
    owner: User | None = None,
    settings: dict | None = None,
    actor: Actor = None,
) -> Organization:
    organization = Organization(name=name, slug=slug, settings=settings if settings is not None else {})
    organization.full_clean()
    organization.save()
    if owner is not None:
        membership_set(organization=organization, user=owner, role=Role.OWNER)
    audit(actor=actor, organization=organization, action="organization.create", target=organization)
    return organization


@transaction.atomic
def membership_set(*, organization: Organization, user: User, role: str, actor: Actor = None) -> Membership:
    """Give `user` the `role` in `organization`, creating the membership if needed."""
    membership = Membership.objects.filter(organization=organization, user=user).first()
    created = membership is None
    membership = membership or Membership(organization=organization, user=user)
    membership.role = role
    membership.full_clean()
    membership.save()
    audit(
        actor=actor,
        organization=organization,
        action="membership.create" if created else "membership.update",
        target=membership,
        data={"user": user.get_username(), "role": role} if created else {"role": role},
    )
    return membership


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    created_by: User | None = None,
    actor: Actor = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw key string, which is never stored and shown only now."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey(
        organization=organization,
        name=name,
        prefix=prefix,
        hashed_secret=_hash_secret(secret),
        scopes=scopes or [],
        expires_at=expires_at,
        created_by=created_by,
    )
    api_key.full_clean()
    api_key.save()
    data = {"name": api_key.name, "scopes": api_key.scopes}
    audit(actor=actor, organization=organization, action="api_key.create", target=api_key, data=data)
    return api_key, f"{API_KEY_PREFIX}{prefix}_{secret}"


@transaction.atomic
def api_key_update(
    *, api_key: ApiKey, name: str, scopes: list[str], expires_at: datetime | None, actor: Actor = None
) -> ApiKey:
    """Rename a key, change its scopes or expiry (its secret never changes: revoke it and create another)."""
    changed = sorted(
        field
        for field, value in (("name", name), ("scopes", scopes), ("expires_at", expires_at))
        if getattr(api_key, field) != value
    )
    api_key.name, api_key.scopes, api_key.expires_at = name, scopes, expires_at
    api_key.full_clean()
    api_key.save()
    data = {"fields": changed}
    audit(actor=actor, organization=api_key.organization, action="api_key.update", target=api_key, data=data)
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching `raw_key`, with its last use recorded; None for anything else."""
    if not raw_key.startswith(API_KEY_PREFIX):
        return None
    prefix, _, secret = raw_key[len(API_KEY_PREFIX) :].partition("_")
    api_key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    if api_key is None or not api_key.is_active:
        return None
    if not secrets.compare_digest(api_key.hashed_secret, _hash_secret(secret)):
        return None
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return api_key


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: Actor = None) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    audit(actor=actor, organization=api_key.organization, action="api_key.revoke", target=api_key)
    return api_key


def audit_log_record(
    *,
    organization: Organization,
    actor: Actor,
    action: str,
    target: object | None = None,
    data: dict | None = None,
) -> AuditLog:
    data = dict(data or {})
    if isinstance(actor, Access):
        actor = actor.api_key if actor.api_key is not None else actor.user
    if isinstance(actor, ApiKey):
        data.setdefault("api_key", actor.prefix)
        actor = actor.created_by
    if _via.get():
        data.setdefault("via", _via.get())
    actor = actor if actor is not None and actor.is_authenticated else None
    return AuditLog.objects.create(
        organization=organization,
        actor=actor,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(getattr(target, "pk", "")) if target is not None else "",
        data=data,
    )


def audit(
    *, actor: Actor, organization: Organization, action: str, target: object | None = None, data: dict | None = None
) -> None:
    """What a service calls after its write: the audit row, when an actor is given (see the module's docstring)."""
    if actor is not None:
        audit_log_record(organization=organization, actor=actor, action=action, target=target, data=data)


LAST_OWNER = "An organization keeps at least one owner."


@transaction.atomic
def organization_update(
    *,
    organization: Organization,
    name: str | None = None,
    slug: str | None = None,
    settings: dict | None = None,
    actor: Actor = None,
) -> Organization:
    """Change what is given (None leaves a field as it is)."""
    changed = {"name": name, "slug": slug, "settings": settings}
    changed = {field: value for field, value in changed.items() if value is not None}
    for field, value in changed.items():
        setattr(organization, field, value)
    organization.full_clean()
    organization.save()
    data = {"fields": sorted(changed)}
    audit(actor=actor, organization=organization, action="organization.update", target=organization, data=data)
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization) -> None:
    """Delete an organization and everything in it, its audit log too: there is nothing left to write a row in."""
    organization.delete()


def _check_keeps_owner(*, membership: Membership, new_role: str | None) -> None:
    if membership.role != Role.OWNER or new_role == Role.OWNER:
        return
    owners = Membership.objects.select_for_update().filter(organization_id=membership.organization_id, role=Role.OWNER)
    if owners.exclude(pk=membership.pk).count() == 0:
        raise ValidationError({"role": [LAST_OWNER]})


@transaction.atomic
def membership_update(*, membership: Membership, role: str, actor: Actor = None) -> Membership:
    _check_keeps_owner(membership=membership, new_role=role)
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role", "updated_at"])
    organization = membership.organization
    audit(actor=actor, organization=organization, action="membership.update", target=membership, data={"role": role})
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership, actor: Actor = None) -> None:
    _check_keeps_owner(membership=membership, new_role=None)
    data = {"user": membership.user.get_username(), "membership_id": str(membership.pk)}
    audit(actor=actor, organization=membership.organization, action="membership.delete", data=data)
    membership.delete()
