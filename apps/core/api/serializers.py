"""Serializer building blocks shared by every app's API."""

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

UNKNOWN_FIELD = "Unknown field."


class StrictSerializerMixin:
    """Reject fields the serializer does not declare, instead of silently ignoring them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError({key: [UNKNOWN_FIELD] for key in unknown})
        return super().to_internal_value(data)


class StrictSerializer(StrictSerializerMixin, serializers.Serializer):
    """A plain input serializer that refuses unknown fields."""


class StrictModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """A model serializer that refuses unknown fields."""


class ErrorItemSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="JSON pointer to the field at fault; empty for the whole request.")
    message = serializers.CharField()


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Validation error",
            value={
                "type": "validation_error",
                "detail": "The request is invalid; see errors for each field at fault.",
                "errors": [{"path": "/definition/nodes/1/type", "message": "Unknown node type 'sendmail'."}],
            },
        ),
        OpenApiExample("Not found", value={"type": "not_found", "detail": "Not found.", "errors": []}),
    ]
)
class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API."""

    type = serializers.CharField(help_text="Machine-readable error kind, e.g. validation_error, not_found.")
    detail = serializers.CharField()
    errors = ErrorItemSerializer(many=True)  # type: ignore[assignment]  # a field named like Serializer.errors
