"""Node types over the API: read-only rows mirrored from the registry, and config validation."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer
from apps.nodes.models import NodeType
from apps.nodes.selectors import node_type_config_schema


class NodeTypeSerializer(serializers.ModelSerializer):
    config_schema = serializers.SerializerMethodField(
        help_text="The config's JSON Schema (Draft 2020-12), properties in the order the node declares them."
    )

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

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_config_schema(self, node_type: NodeType) -> dict:
        return node_type_config_schema(node_type=node_type)


class ConfigValidateSerializer(StrictSerializer):
    config = serializers.JSONField(
        allow_null=True, help_text="The node's config as the workflow definition holds it (checked against its schema)."
    )


class ConfigErrorSerializer(serializers.Serializer):
    path = serializers.CharField(help_text='JSON pointer into the config, e.g. "/url"; empty for the config itself.')
    message = serializers.CharField()


class ConfigValidationSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = ConfigErrorSerializer(many=True)  # type: ignore[assignment]  # a field named like Serializer.errors
