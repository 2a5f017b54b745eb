"""Serializers of executions, node executions, events and the control actions' inputs."""

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer
from apps.executions.models import ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution

VARIABLES_NOT_OBJECT = "Must be a JSON object: variable names and their values for this run."


class NodeExecutionSerializer(serializers.ModelSerializer):
    duration_ms = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Compute time of the run that produced the result, in ms."
    )
    waited_ms = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="From first queued to finished, less duration_ms: queueing, a delay or approval, retry back-offs.",
    )

    class Meta:
        model = NodeExecution
        fields = [
            "id",
            "node_id",
            "node_type",
            "status",
            "attempt",
            "input",
            "rendered_config",
            "output",
            "error",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "waited_ms",
        ]
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    duration_ms = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = WorkflowExecution
        fields = [
            "id",
            "organization",
            "workflow",
            "version",
            "status",
            "trigger_kind",
            "trigger_data",
            "variables_override",
            "output",
            "error",
            "parent",
            "correlation_id",
            "last_seq",
            "created_at",
            "started_at",
            "finished_at",
            "duration_ms",
        ]
        read_only_fields = fields


class ExecutionDetailSerializer(ExecutionSerializer):
    nodes = NodeExecutionSerializer(source="node_executions", many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = [*ExecutionSerializer.Meta.fields, "nodes"]
        read_only_fields = fields


class ExecutionEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExecutionEvent
        fields = ["seq", "type", "node_id", "data", "at"]
        read_only_fields = fields


class EventsQuerySerializer(StrictSerializer):
    since = serializers.IntegerField(min_value=0, default=0, help_text="Return events with a larger seq.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=500)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Input", request_only=True, value={"input": {"amount": 120, "customer": "ada"}}),
        OpenApiExample(
            "Input and variables for this run",
            request_only=True,
            value={"input": {"amount": 120}, "variables": {"threshold": 50}},
        ),
    ]
)
class ExecuteInputSerializer(StrictSerializer):
    input = serializers.JSONField(
        required=False, default=dict, allow_null=True, help_text="Available to nodes as `trigger`; null: none ({})."
    )
    variables = serializers.JSONField(
        required=False,
        default=None,
        allow_null=True,
        help_text="This run's variables over the version's (`vars`); stored as the execution's variables_override.",
    )

    def validate_input(self, value):
        return {} if value is None else value

    def validate_variables(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError(VARIABLES_NOT_OBJECT)
        return value


class ExecuteQuerySerializer(StrictSerializer):
    wait = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=300, help_text="Seconds to wait for the result."
    )


class DecisionInputSerializer(StrictSerializer):
    node_id = serializers.CharField(max_length=100, help_text="The waiting approval node.")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    workflow = serializers.UUIDField(source="trigger.workflow_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "trigger",
            "workflow",
            "outcome",
            "status_code",
            "detail",
            "method",
            "headers",
            "query",
            "content_type",
            "body",
            "body_truncated",
            "remote_addr",
            "signature_scheme",
            "message_id",
            "idempotency_key",
            "execution_id",
            "created_at",
        ]
        read_only_fields = fields
