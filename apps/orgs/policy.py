"""The one authorisation policy: may this actor do this action to this target?

Every interface asks here: the API's permission class and viewsets (`apps/orgs/api/`), the admin's scoping
mixin (`apps/orgs/admin_scoping.py`) and the live streams (`apps/executions/selectors.py`). The actor is
an `Access` (a user's memberships, or an API key's scopes as a role); the target is an organization, an
organization id, or a row. A row's permissions come from its organization's role table below, unless its app
registered a provider for its model (workflows add guardian shares; executions and webhook deliveries take
their workflow's): `register(Model, provider)` in the app's `AppConfig.ready()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.db import models
from rest_framework import exceptions

from .choices import Role
from .models import Organization
from .selectors import Access

VIEW = "view"
CREATE = "create"
CHANGE = "change"
EXECUTE = "execute"
DELETE = "delete"
MANAGE = "manage"
OWN = "own"

ROLE_PERMISSIONS = {
    Role.VIEWER: frozenset({VIEW}),
    Role.MEMBER: frozenset({VIEW, CREATE, CHANGE, EXECUTE}),
    Role.ADMIN: frozenset({VIEW, CREATE, CHANGE, EXECUTE, DELETE, MANAGE}),
    Role.OWNER: frozenset({VIEW, CREATE, CHANGE, EXECUTE, DELETE, MANAGE, OWN}),
}

NO_ROLE = "Your role in this organization does not allow this."

#: provider(access, obj, memo) -> the actions `access` may take on `obj`; memo is a per-caller dict or None.
Provider = Callable[[Access, Any, dict | None], frozenset[str]]  # Any: each provider takes its own model
_providers: dict[type[models.Model], Provider] = {}


def role_permissions(role: str | None) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())  # type: ignore[call-overload]  # no role (None) has none


def roles_allowed(action: str) -> frozenset[str]:
    """The roles whose permissions include `action` (the admin scopes its querysets with these)."""
    return frozenset(role for role, actions in ROLE_PERMISSIONS.items() if action in actions)


def register(model: type[models.Model], provider: Provider) -> None:
    """Let `provider` say what may be done to rows of `model` (and its subclasses) instead of the role table."""
    known = _providers.get(model)
    if known is not None and (known.__module__, known.__qualname__) != (provider.__module__, provider.__qualname__):
        raise ValueError(f"A policy provider for {model.__name__} is already registered.")
    _providers[model] = provider


def organization_id_of(target: object):
    """The organization `target` belongs to: itself for an Organization (or an id), else its `organization_id`."""
    if isinstance(target, Organization):
        return target.pk
    if isinstance(target, uuid.UUID | str):
        return uuid.UUID(str(target))
    return target.organization_id  # type: ignore[attr-defined]  # a tenant row


def permissions(actor: Access, target: object, *, memo: dict | None = None) -> frozenset[str]:
    """Every action `actor` may take on `target`. Pass one `memo` dict for many targets of one caller."""
    if isinstance(target, models.Model) and not isinstance(target, Organization):
        for cls in type(target).__mro__:
            if cls in _providers:
                return _providers[cls](actor, target, memo)
    return role_permissions(actor.role(organization_id_of(target)))


def can(actor: Access, action: str, target: object, *, memo: dict | None = None) -> bool:
    """Whether `actor` may take `action` (VIEW, CREATE, ...) on `target` (an organization, its id, or a row).

    Creating is asked of the organization the new row goes to: `can(access, CREATE, organization)`.
    """
    return action in permissions(actor, target, memo=memo)


def require(actor: Access, action: str, target: object, *, message: str = NO_ROLE) -> None:
    """`can`, or PermissionDenied (a 403 in the API) naming why."""
    if not can(actor, action, target):
        raise exceptions.PermissionDenied(message)
