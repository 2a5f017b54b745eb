"""Serializers of organizations, memberships, API keys and the audit log."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.serializers import StrictModelSerializer, StrictSerializer
from apps.orgs.choices import Role
from apps.orgs.models import ApiKey, AuditLog, Membership, Organization
from apps.orgs.selectors import API_KEY_SCOPE_ROLES

UNKNOWN_USER = "No user with this username or email."


class OrganizationSerializer(StrictModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this organization.")
    settings = serializers.DictField(required=False, help_text="The organization's settings (an object).")

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "settings", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "role", "created_at", "updated_at"]

    def get_role(self, organization: Organization) -> str | None:
        access = self.context.get("access")
        return access.role(organization.pk) if access is not None else None


class UserSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)


class MembershipSerializer(StrictModelSerializer):
    user = UserSummarySerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "organization", "user", "role", "created_at", "updated_at"]
        read_only_fields = ["id", "organization", "user", "created_at", "updated_at"]


class MembershipCreateSerializer(StrictSerializer):
    organization = serializers.UUIDField()
    user = serializers.CharField(max_length=254, help_text="Username or email of an existing user.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)

    def validate_user(self, value: str):
        user_model = get_user_model()
        user = user_model.objects.filter(username=value).first() or user_model.objects.filter(email=value).first()
        if user is None:
            raise serializers.ValidationError(UNKNOWN_USER)
        return user


class MembershipUpdateSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ApiKeySerializer(StrictModelSerializer):
    is_active = serializers.BooleanField(read_only=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(API_KEY_SCOPE_ROLES)), required=False, max_length=3
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "organization",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "prefix", "last_used_at", "revoked_at", "is_active", "created_at"]
        extra_kwargs = {"organization": {"queryset": Organization.objects.none()}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        access = self.context.get("access")
        if access is not None and "organization" in self.fields:
            self.fields["organization"].queryset = Organization.objects.filter(id__in=access.organization_ids())


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The full key. Shown only in this response.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class AuditLogSerializer(serializers.ModelSerializer):
    actor = UserSummarySerializer(
        read_only=True, allow_null=True, help_text="The person; null for an action of an API key or of the system."
    )
    api_key = serializers.SerializerMethodField(help_text="Prefix of the API key that acted (cm_<prefix>_…), or null.")

    class Meta:
        model = AuditLog
        fields = ["id", "organization", "actor", "api_key", "action", "target_type", "target_id", "data", "at"]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_api_key(self, row: AuditLog) -> str | None:
        key = row.data.get("api_key") if isinstance(row.data, dict) else None
        return key if isinstance(key, str) else None
