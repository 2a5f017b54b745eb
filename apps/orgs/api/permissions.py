"""The permission class every viewset uses; it asks the policy (`apps/orgs/policy.py`).

Object access is decided by `policy.can(access, action, obj)` (roles from Membership, plus guardian object
permissions for workflows), never by DRF's `DjangoObjectPermissions`: that class also demands the
model-level permission, so a user given only an object permission would get 403. Lists are scoped in
selectors, so another organization's object is a 404 before this runs.
"""

from rest_framework import permissions

from apps.orgs.policy import CHANGE, DELETE, VIEW

#: The permission each standard action needs on its object, unless a viewset says otherwise.
DEFAULT_ACTION_PERMISSIONS = {
    "retrieve": VIEW,
    "update": CHANGE,
    "partial_update": CHANGE,
    "destroy": DELETE,
}


class ActionPermission(permissions.IsAuthenticated):
    """Authenticated, and holding on the object the permission the view's action needs."""

    def has_object_permission(self, request, view, obj) -> bool:
        required = view.required_permission()
        return required in view.object_permissions(obj)
