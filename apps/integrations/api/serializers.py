"""Integration serializers: the API key is write-only (never returned), like every credential."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.serializers import StrictModelSerializer, StrictSerializer

from ..models import Integration, SyncJob, WorkflowLink


class IntegrationSerializer(StrictModelSerializer):
    """An n8n instance of an organization; the API key is write-only."""

    organization = serializers.UUIDField(source="organization_id", required=False)
    api_key = serializers.CharField(
        write_only=True, required=False, allow_blank=False, max_length=2000, help_text="n8n API key; never returned."
    )
    has_api_key = serializers.BooleanField(read_only=True)

    class Meta:
        model = Integration
        fields = [
            "id",
            "organization",
            "service",
            "name",
            "service_url",
            "api_key",
            "has_api_key",
            "configuration",
            "status",
            "allow_private",
            "periodic_sync",
            "sync_interval_minutes",
            "last_sync_at",
            "last_sync_result",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "service", "status", "last_sync_at", "last_sync_result", "created_at", "updated_at"]
        extra_kwargs = {"name": {"required": False}, "sync_interval_minutes": {"min_value": 5}}

    def validate_organization(self, value):
        if value not in self.context["access"].organization_ids():
            raise serializers.ValidationError("Not found in your organizations.")
        return value

    def validate(self, attrs):
        if self.instance is None and not attrs.get("organization_id"):
            ids = self.context["access"].organization_ids()
            if len(ids) != 1:
                raise serializers.ValidationError({"organization": ["This field is required."]})
            attrs["organization_id"] = next(iter(ids))
        return attrs


class TestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)


class RemoteWorkflowSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    active = serializers.BooleanField()
    updated_at = serializers.CharField(allow_null=True)
    version_id = serializers.CharField(allow_null=True)
    node_count = serializers.IntegerField()
    linked_workflow = serializers.UUIDField(allow_null=True)
    last_synced_version = serializers.CharField(allow_null=True)


class SyncInputSerializer(StrictSerializer):
    """Which workflows to sync, and whether to overwrite ones edited here since their last sync."""

    workflow_ids = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, help_text="n8n workflow ids; all when left out."
    )
    force = serializers.BooleanField(default=False, help_text="Overwrite workflows edited here since the last sync.")


class N8nSyncInputSerializer(StrictSerializer):
    """An n8n instance by URL and API key, and optionally which of its workflows to sync."""

    n8n_url = serializers.CharField(max_length=500, help_text="The n8n instance, e.g. http://localhost:5678.")
    api_key = serializers.CharField(max_length=2000, help_text="An n8n API key (Settings > n8n API).")
    workflow_ids = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, help_text="n8n workflow ids; all when left out."
    )
    organization = serializers.UUIDField(required=False)
    force = serializers.BooleanField(default=False)

    def validate_organization(self, value):
        if value not in self.context["access"].organization_ids():
            raise serializers.ValidationError("Not found in your organizations.")
        return value

    def validate(self, attrs):
        if not attrs.get("organization"):
            ids = self.context["access"].organization_ids()
            if len(ids) != 1:
                raise serializers.ValidationError({"organization": ["This field is required."]})
            attrs["organization"] = next(iter(ids))
        return attrs


class SyncWorkflowSerializer(serializers.Serializer):
    n8n_id = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    outcome = serializers.ChoiceField(choices=["created", "updated", "unchanged", "conflict", "failed"])
    workflow_id = serializers.UUIDField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    report = serializers.JSONField(allow_null=True, help_text="Per n8n node: outcome, changes, reason.")


class SyncResultSerializer(serializers.Serializer):
    synced_count = serializers.IntegerField(help_text="Workflows now in sync: created + updated + unchanged.")
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]  # a field
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    conflict = serializers.IntegerField()
    failed = serializers.IntegerField()
    workflows = SyncWorkflowSerializer(many=True)


class SyncJobSerializer(serializers.ModelSerializer):
    result = serializers.SerializerMethodField()

    class Meta:
        model = SyncJob
        fields = ["id", "integration", "status", "workflow_ids", "force", "result", "created_at", "finished_at"]

    @extend_schema_field(SyncResultSerializer(allow_null=True))
    def get_result(self, obj: SyncJob):
        return obj.result or None


class WorkflowLinkSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkflowLink
        fields = ["id", "workflow", "external_id", "external_name", "external_version", "synced_at", "report"]
