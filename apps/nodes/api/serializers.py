"""Node types over the API: read-only rows mirrored from the registry, and config validation."""

from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer
from apps.nodes.models import NodeType


class NodeTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = NodeType
        fields = [
            "name",
            "category",
            "version",
            "display_name",
            "description",
            "icon",
            "inputs",
            "outputs",
            "config_schema",
            "is_enabled",
        ]
        read_only_fields = fields


class ConfigValidateSerializer(StrictSerializer):
    config = serializers.JSONField(help_text="The node's config as the workflow definition holds it.")


class ConfigErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='JSON pointer into the config, e.g. "/url"; empty for the config itself.')
    message = serializers.CharField()


class ConfigValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = ConfigErrorSerializer(many=True)
