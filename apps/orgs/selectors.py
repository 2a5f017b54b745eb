"""Reads for organizations: which organizations a user belongs to and with which role."""

from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from .choices import MANAGER_ROLES, Role
from .models import ApiKey, AuditLog, Membership, Organization


def organization_ids_for_user(*, user: User, roles: frozenset[str] | None = None) -> set:
    """Ids of the organizations where `user` holds one of `roles` (any role when None)."""
    memberships = Membership.objects.filter(user=user)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return set(memberships.values_list("organization_id", flat=True))


#: What an API key's scopes let it do, as the role it acts with (the highest scope wins).
API_KEY_SCOPE_ROLES = {"read": Role.VIEWER, "write": Role.MEMBER, "admin": Role.ADMIN}
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


@dataclass(frozen=True)
class Access:
    """Who is calling and the role they hold in each organization they may see.

    A user's roles come from Membership (a superuser is owner everywhere). An API key acts in its own
    organization only, with the role its scopes grant (`member` when it has none).
    """

    user: User | None
    roles: Mapping
    api_key: ApiKey | None = None

    def organization_ids(self, roles: frozenset[str] | None = None) -> set:
        return {org_id for org_id, role in self.roles.items() if roles is None or role in roles}

    def role(self, organization_id) -> str | None:
        return self.roles.get(organization_id)

    def has_role(self, organization_id, roles: frozenset[str]) -> bool:
        return self.roles.get(organization_id) in roles

    @property
    def person(self) -> User | None:
        """The human behind the call, for `created_by` and the audit log (the key's creator for API keys)."""
        if self.api_key is not None:
            return self.api_key.created_by
        return self.user


def access_for_user(*, user: User | AnonymousUser) -> Access:
    if not user.is_authenticated:
        return Access(user=None, roles={})
    if user.is_superuser:
        return Access(user=user, roles=dict.fromkeys(Organization.objects.values_list("id", flat=True), Role.OWNER))
    return Access(user=user, roles=dict(Membership.objects.filter(user=user).values_list("organization_id", "role")))


def access_for_api_key(*, api_key: ApiKey) -> Access:
    granted = [API_KEY_SCOPE_ROLES[scope] for scope in api_key.scopes if scope in API_KEY_SCOPE_ROLES]
    role = max(granted, key=ROLE_RANK.__getitem__) if granted else Role.MEMBER
    return Access(user=None, roles={api_key.organization_id: role}, api_key=api_key)


def access_current(*, user: User | None, api_key: ApiKey | None) -> Access | None:
    """The access of a caller authenticated earlier (an open live stream), as the database says now: None when
    the API key was revoked, expired or deleted, or the user deleted or deactivated."""
    if api_key is not None:
        fresh = ApiKey.objects.filter(pk=api_key.pk).first()
        return access_for_api_key(api_key=fresh) if fresh is not None and fresh.is_active else None
    users = get_user_model()._default_manager
    fresh_user = users.filter(pk=user.pk, is_active=True).first() if user is not None else None
    return access_for_user(user=fresh_user) if fresh_user is not None else None


def organization_list_for(*, access: Access) -> QuerySet[Organization]:
    return Organization.objects.filter(id__in=access.organization_ids())


def membership_list(*, access: Access) -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id__in=access.organization_ids()).select_related("user")


def api_key_list(*, access: Access) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(organization_id__in=access.organization_ids(MANAGER_ROLES))


def audit_log_list(*, access: Access) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(organization_id__in=access.organization_ids(MANAGER_ROLES)).select_related("actor")
