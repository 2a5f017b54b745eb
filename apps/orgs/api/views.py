"""Organizations, memberships, API keys and the audit log over the API."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.response import Response

from apps.orgs import policy, selectors, services
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.choices import Role
from apps.orgs.policy import MANAGE, OWN

from .filters import ApiKeyFilter, AuditLogFilter, MembershipFilter
from .serializers import (
    ApiKeyCreatedSerializer,
    ApiKeySerializer,
    AuditLogSerializer,
    MembershipCreateSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    OrganizationSerializer,
)

API_KEY_CANNOT = "An API key cannot do this; use a user's session or token."
ONLY_OWNER_GRANTS_OWNER = "Only an owner can grant or take away the owner role."
ALREADY_MEMBER = "This user is already a member of the organization."


class _AccessContext:
    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}


@extend_schema_view(
    list=extend_schema(summary="Organizations you belong to", tags=["organizations"]),
    retrieve=extend_schema(summary="One organization", tags=["organizations"]),
    create=extend_schema(summary="Create an organization (you become its owner)", tags=["organizations"]),
    update=extend_schema(summary="Rename an organization (admin)", tags=["organizations"]),
    partial_update=extend_schema(summary="Change an organization (admin)", tags=["organizations"]),
    destroy=extend_schema(summary="Delete an organization and everything in it (owner)", tags=["organizations"]),
)
class OrganizationViewSet(
    _AccessContext,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = OrganizationSerializer
    selector = selectors.organization_list_for
    action_permissions = {"update": MANAGE, "partial_update": MANAGE, "destroy": OWN}

    def perform_create(self, serializer):
        if self.access.api_key is not None:
            raise exceptions.PermissionDenied(API_KEY_CANNOT)
        organization = services.organization_create(
            owner=self.request.user, actor=self.access, **serializer.validated_data
        )
        self.request._concertmaster_access = None
        serializer.instance = organization

    def create(self, request, *args, **kwargs):
        response = super().create(request, *args, **kwargs)
        response.data["role"] = Role.OWNER
        return response

    def perform_update(self, serializer):
        services.organization_update(organization=serializer.instance, actor=self.access, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.organization_delete(organization=instance)


@extend_schema_view(
    list=extend_schema(summary="Members of your organizations", tags=["organizations"]),
    retrieve=extend_schema(summary="One membership", tags=["organizations"]),
    destroy=extend_schema(summary="Remove a member (admin)", tags=["organizations"]),
)
class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ScopedViewSet):
    serializer_class = MembershipSerializer
    selector = selectors.membership_list
    filterset_class = MembershipFilter
    action_permissions = {"partial_update": MANAGE, "destroy": MANAGE}

    def _check_owner_change(self, *, organization_id, roles: set) -> None:
        if Role.OWNER in roles and OWN not in self.object_permissions_for(organization_id):
            raise exceptions.PermissionDenied(ONLY_OWNER_GRANTS_OWNER)

    def object_permissions_for(self, organization_id):
        return policy.permissions(self.access, organization_id)

    @extend_schema(
        summary="Add a user to an organization (admin)",
        tags=["organizations"],
        request=MembershipCreateSerializer,
        responses={201: MembershipSerializer},
    )
    def create(self, request):
        data = MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = (
            selectors.organization_list_for(access=self.access).filter(pk=data.validated_data["organization"]).first()
        )
        if organization is None:
            raise exceptions.ValidationError({"organization": ["Not found in your organizations."]})
        self.require(MANAGE, organization)
        self._check_owner_change(organization_id=organization.pk, roles={data.validated_data["role"]})
        if organization.memberships.filter(user=data.validated_data["user"]).exists():
            raise exceptions.ValidationError({"user": [ALREADY_MEMBER]})
        membership = services.membership_set(
            organization=organization,
            user=data.validated_data["user"],
            role=data.validated_data["role"],
            actor=self.access,
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a member's role (admin; owner role by owners only)",
        tags=["organizations"],
        request=MembershipUpdateSerializer,
        responses={200: MembershipSerializer},
    )
    def partial_update(self, request, pk=None):
        membership = self.get_object()
        data = MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self._check_owner_change(
            organization_id=membership.organization_id, roles={data.validated_data["role"], membership.role}
        )
        services.membership_update(membership=membership, role=data.validated_data["role"], actor=self.access)
        return Response(MembershipSerializer(membership).data)

    def perform_destroy(self, instance):
        self._check_owner_change(organization_id=instance.organization_id, roles={instance.role})
        services.membership_delete(membership=instance, actor=self.access)


@extend_schema_view(
    list=extend_schema(summary="API keys of the organizations you manage", tags=["organizations"]),
    retrieve=extend_schema(summary="One API key (never its secret)", tags=["organizations"]),
    destroy=extend_schema(summary="Revoke an API key", tags=["organizations"]),
)
class ApiKeyViewSet(
    _AccessContext, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ScopedViewSet
):
    serializer_class = ApiKeySerializer
    selector = selectors.api_key_list
    filterset_class = ApiKeyFilter
    action_permissions = {"retrieve": MANAGE, "destroy": MANAGE}

    @extend_schema(
        summary="Create an API key; the key is in this response only",
        tags=["organizations"],
        request=ApiKeySerializer,
        responses={201: ApiKeyCreatedSerializer},
    )
    def create(self, request):
        serializer = ApiKeySerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        organization = serializer.validated_data["organization"]
        self.require(MANAGE, organization)
        api_key, raw_key = services.api_key_create(
            organization=organization,
            name=serializer.validated_data["name"],
            scopes=serializer.validated_data.get("scopes", []),
            expires_at=serializer.validated_data.get("expires_at"),
            created_by=self.access.person,
            actor=self.access,
        )
        body = ApiKeyCreatedSerializer(api_key, context=self.get_serializer_context()).data
        body["key"] = raw_key
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.api_key_revoke(api_key=instance, actor=self.access)


@extend_schema_view(
    list=extend_schema(summary="Audit log of the organizations you manage", tags=["organizations"]),
    retrieve=extend_schema(summary="One audit log entry", tags=["organizations"]),
)
class AuditLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = AuditLogSerializer
    selector = selectors.audit_log_list
    filterset_class = AuditLogFilter
