"""Organization variables and secrets over the API: `/api/v1/org-variables/` and `/api/v1/org-secrets/`.

Viewers read; members write variables; admins write secrets. A secret's value is write-only: no answer holds it.
"""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from apps.core.api.serializers import StrictModelSerializer
from apps.orgs import variables
from apps.orgs.models import Organization, OrganizationSecret, OrganizationVariable
from apps.orgs.policy import CREATE, MANAGE

from .viewsets import ScopedViewSet

NOT_YOURS = "Not found in your organizations."
CANNOT_MOVE = "A variable or secret cannot move to another organization."
ORGANIZATION_REQUIRED = "This field is required."
NO_RENAME = "A secret cannot be renamed: create a new one and point the credentials at it."


class _TenantSerializer(StrictModelSerializer):
    organization = serializers.UUIDField(
        source="organization_id", required=False, help_text="One of yours; may be left out when you have only one."
    )

    def validate(self, attrs):
        organization_id = attrs.pop("organization_id", None)
        access = self.context["access"]
        if self.instance is not None:
            if organization_id is not None and organization_id != self.instance.organization_id:
                raise serializers.ValidationError({"organization": [CANNOT_MOVE]})
            return attrs
        if organization_id is None:
            ids = access.organization_ids()
            if len(ids) != 1:
                raise serializers.ValidationError({"organization": [ORGANIZATION_REQUIRED]})
            organization_id = next(iter(ids))
        if organization_id not in access.organization_ids():
            raise serializers.ValidationError({"organization": [NOT_YOURS]})
        attrs["organization"] = Organization.objects.get(pk=organization_id)
        return attrs


class OrgVariableSerializer(_TenantSerializer):
    class Meta:
        model = OrganizationVariable
        fields = ["id", "organization", "name", "value", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"name": {"help_text": "Read in expressions as `org.vars.<name>`."}}


class OrgSecretSerializer(_TenantSerializer):
    value = serializers.CharField(
        write_only=True,
        max_length=variables.SECRET_MAX_LENGTH,
        trim_whitespace=False,
        help_text="The secret; stored encrypted and never returned.",
    )
    reference = serializers.SerializerMethodField(help_text="What a credential field holds to use this secret.")

    class Meta:
        model = OrganizationSecret
        fields = ["id", "organization", "name", "value", "description", "reference", "created_at", "updated_at"]
        read_only_fields = ["id", "reference", "created_at", "updated_at"]

    def validate(self, attrs):
        if self.instance is not None and attrs.pop("name", self.instance.name) != self.instance.name:
            raise serializers.ValidationError({"name": [NO_RENAME]})
        return super().validate(attrs)

    def get_reference(self, secret: OrganizationSecret) -> str:
        return variables.secret_reference(secret.name)


class _AccessContext:
    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}


@extend_schema_view(
    list=extend_schema(summary="Variables of your organizations (`org.vars.NAME` in expressions)", tags=["org"]),
    retrieve=extend_schema(summary="One organization variable", tags=["org"]),
    create=extend_schema(summary="Add an organization variable (member)", tags=["org"]),
    update=extend_schema(summary="Replace an organization variable (member)", tags=["org"]),
    partial_update=extend_schema(summary="Change an organization variable (member)", tags=["org"]),
    destroy=extend_schema(summary="Delete an organization variable (admin)", tags=["org"]),
)
class OrgVariableViewSet(
    _AccessContext,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = OrgVariableSerializer
    selector = variables.org_variable_list

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        self.require(CREATE, data["organization"])
        serializer.instance = variables.org_variable_create(actor=self.access, **data)

    def perform_update(self, serializer):
        variables.org_variable_update(variable=serializer.instance, actor=self.access, **serializer.validated_data)

    def perform_destroy(self, instance):
        variables.org_variable_delete(variable=instance, actor=self.access)


@extend_schema_view(
    list=extend_schema(summary="Secrets of your organizations (names only, values never shown)", tags=["org"]),
    retrieve=extend_schema(summary="One organization secret (its value is never shown)", tags=["org"]),
    create=extend_schema(summary="Store an organization secret, encrypted at rest (admin)", tags=["org"]),
    update=extend_schema(summary="Replace a secret's value (admin)", tags=["org"]),
    partial_update=extend_schema(summary="Change a secret's value or description (admin)", tags=["org"]),
    destroy=extend_schema(summary="Delete an organization secret (admin)", tags=["org"]),
)
class OrgSecretViewSet(
    _AccessContext,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = OrgSecretSerializer
    selector = variables.org_secret_list
    action_permissions = {"update": MANAGE, "partial_update": MANAGE, "destroy": MANAGE}

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        self.require(MANAGE, data["organization"])
        serializer.instance = variables.org_secret_create(created_by=self.access.person, actor=self.access, **data)

    def perform_update(self, serializer):
        variables.org_secret_update(secret=serializer.instance, actor=self.access, **serializer.validated_data)

    def perform_destroy(self, instance):
        variables.org_secret_delete(secret=instance, actor=self.access)
