"""What each role may do, and the permission class every viewset uses.

Object access is decided by the viewset's `object_permissions(obj)` (roles from Membership, plus
guardian object permissions for workflows), never by DRF's `DjangoObjectPermissions`: that class
also demands the model-level permission, so a user given only an object permission would get 403.
Lists are scoped in selectors, so another organization's object is a 404 before this runs.
"""

from rest_framework import permissions

from apps.orgs.choices import Role

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

#: The permission each standard action needs on its object, unless a viewset says otherwise.
DEFAULT_ACTION_PERMISSIONS = {
    "retrieve": VIEW,
    "update": CHANGE,
    "partial_update": CHANGE,
    "destroy": DELETE,
}


def role_permissions(role: str | None) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


class ActionPermission(permissions.IsAuthenticated):
    """Authenticated, and holding on the object the permission the view's action needs."""

    def has_object_permission(self, request, view, obj) -> bool:
        required = view.required_permission()
        return required in view.object_permissions(obj)
