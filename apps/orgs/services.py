"""Writes for organizations, memberships, API keys and the audit log."""

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .choices import Role
from .models import ApiKey, AuditLog, Membership, Organization

API_KEY_PREFIX = "cm_"


def _hash_secret(secret: str) -> str:
    # The secret is 32 random bytes: a fast hash suffices, there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def organization_create(
    *, name: str, slug: str, owner: AbstractBaseUser | None = None, settings: dict | None = None
) -> Organization:
    organization = Organization(name=name, slug=slug, settings=settings if settings is not None else {})
    organization.full_clean()
    organization.save()
    if owner is not None:
        membership_set(organization=organization, user=owner, role=Role.OWNER)
    return organization


@transaction.atomic
def membership_set(*, organization: Organization, user: AbstractBaseUser, role: str) -> Membership:
    """Give `user` the `role` in `organization`, creating the membership if needed."""
    membership = Membership.objects.filter(organization=organization, user=user).first()
    membership = membership or Membership(organization=organization, user=user)
    membership.role = role
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    created_by: AbstractBaseUser | None = None,
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
    return api_key, f"{API_KEY_PREFIX}{prefix}_{secret}"


def api_key_fill_secret(*, api_key: ApiKey) -> str:
    """Give an unsaved key (built by a form) a fresh prefix and secret; return the raw key string."""
    api_key.prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    api_key.hashed_secret = _hash_secret(secret)
    return f"{API_KEY_PREFIX}{api_key.prefix}_{secret}"


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


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
    return api_key


def audit_log_record(
    *,
    organization: Organization,
    actor: AbstractBaseUser | None,
    action: str,
    target: object | None = None,
    data: dict | None = None,
) -> AuditLog:
    actor = actor if actor is not None and actor.is_authenticated else None
    return AuditLog.objects.create(
        organization=organization,
        actor=actor,
        action=action,
        target_type=type(target).__name__ if target is not None else "",
        target_id=str(getattr(target, "pk", "")) if target is not None else "",
        data=data or {},
    )


LAST_OWNER = "An organization keeps at least one owner."


@transaction.atomic
def organization_update(*, organization: Organization, **fields) -> Organization:
    for name, value in fields.items():
        setattr(organization, name, value)
    organization.full_clean()
    organization.save()
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization) -> None:
    organization.delete()


def _check_keeps_owner(*, membership: Membership, new_role: str | None) -> None:
    if membership.role != Role.OWNER or new_role == Role.OWNER:
        return
    owners = Membership.objects.select_for_update().filter(organization_id=membership.organization_id, role=Role.OWNER)
    if owners.exclude(pk=membership.pk).count() == 0:
        raise ValidationError({"role": [LAST_OWNER]})


@transaction.atomic
def membership_update(*, membership: Membership, role: str) -> Membership:
    _check_keeps_owner(membership=membership, new_role=role)
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def membership_delete(*, membership: Membership) -> None:
    _check_keeps_owner(membership=membership, new_role=None)
    membership.delete()
