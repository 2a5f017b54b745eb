"""The base viewset: every queryset comes from a selector given the caller's Access, so none can forget scoping."""

import uuid

from rest_framework import exceptions, viewsets
from rest_framework.request import Request

from apps.orgs.selectors import Access
from apps.orgs.services import audit_log_record

from .access import request_access
from .pagination import ApiCursorPagination
from .parsers import check_declared_length
from .permissions import DEFAULT_ACTION_PERMISSIONS, VIEW, ActionPermission, role_permissions

NO_ROLE = "Your role in this organization does not allow this."


class ScopedViewSet(viewsets.GenericViewSet):
    """Subclasses set `selector` (a function taking `access=`) and, for extra actions, `action_permissions`."""

    selector = None
    permission_classes = [ActionPermission]
    pagination_class = ApiCursorPagination
    action_permissions: dict[str, str] = {}

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in ("POST", "PUT", "PATCH"):
            check_declared_length(request.META)

    @property
    def access(self) -> Access:
        return request_access(self.request)

    def get_queryset(self):
        return type(self).selector(access=self.access)

    def get_object(self):
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        try:
            uuid.UUID(str(lookup))
        except ValueError as error:
            raise exceptions.NotFound() from error
        return super().get_object()

    def required_permission(self) -> str:
        return self.action_permissions.get(self.action) or DEFAULT_ACTION_PERMISSIONS.get(self.action, VIEW)

    def object_permissions(self, obj) -> frozenset[str]:
        """What the caller may do with `obj`; by default what their role in its organization allows."""
        return role_permissions(self.access.role(obj.organization_id))

    def require_role_permission(self, *, organization_id, permission: str) -> None:
        """For actions without an object yet (create): the caller's role in the target organization."""
        if permission not in role_permissions(self.access.role(organization_id)):
            raise exceptions.PermissionDenied(NO_ROLE)

    def audit(self, *, organization, action: str, target=None, data: dict | None = None) -> None:
        data = dict(data or {})
        if self.access.api_key is not None:
            data.setdefault("api_key", self.access.api_key.prefix)
        audit_log_record(organization=organization, actor=self.access.person, action=action, target=target, data=data)
