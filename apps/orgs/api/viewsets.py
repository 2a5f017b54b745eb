"""The base viewset: every queryset comes from a selector given the caller's Access, so none can forget scoping;
every permission comes from the policy (`apps/orgs/policy.py`)."""

import uuid
from collections.abc import Callable

from django.db.models import QuerySet
from rest_framework import exceptions, serializers, viewsets
from rest_framework.request import Request

from apps.core.api.pagination import ApiCursorPagination
from apps.core.api.parsers import check_declared_length
from apps.orgs import policy
from apps.orgs.selectors import Access
from apps.orgs.services import audit_log_record

from .access import request_access
from .permissions import DEFAULT_ACTION_PERMISSIONS, ActionPermission

NO_ROLE = policy.NO_ROLE


class ScopedViewSet(viewsets.GenericViewSet):
    """Subclasses set `selector` (a function taking `access=`) and, for extra actions, `action_permissions`."""

    selector: Callable[..., QuerySet] | None = None
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

    def get_serializer_class(self):
        """Action-only viewsets (re-run, preview, sync) declare their bodies per action, not a class: OPTIONS then
        describes an empty form instead of failing on DRF's assertion."""
        return self.serializer_class or serializers.Serializer

    def get_object(self):
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        try:
            uuid.UUID(str(lookup))
        except ValueError as error:
            raise exceptions.NotFound() from error
        return super().get_object()

    def required_permission(self) -> str:
        return self.action_permissions.get(self.action) or DEFAULT_ACTION_PERMISSIONS.get(self.action, policy.VIEW)

    def object_permissions(self, obj) -> frozenset[str]:
        """What the caller may do with `obj`, as the policy says (one memo per request for many rows)."""
        memo = self.request.__dict__.setdefault("_cm_policy_memo", {})
        return policy.permissions(self.access, obj, memo=memo)

    def require(self, action: str, target) -> None:
        """For actions without an object yet (create: the target organization) or beyond the view's own: 403 unless
        the policy allows `action` on `target`."""
        policy.require(self.access, action, target)

    def audit(self, *, organization, action: str, target=None, data: dict | None = None) -> None:
        """For views whose service does not audit yet: the service should take `actor=self.access` and write the
        row itself (see docs/architecture.md), so that a task, a command or the admin are audited alike."""
        audit_log_record(organization=organization, actor=self.access, action=action, target=target, data=data)
