"""Serializers of executions, node executions, events and the control actions' inputs."""

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer
from apps.executions.choices import LogLevel, RunMode
from apps.executions.debugging import VERSION_LATEST, VERSION_ORIGINAL
from apps.executions.models import ExecutionEvent, ExecutionLog, NodeExecution, WebhookDelivery, WorkflowExecution

VARIABLES_NOT_OBJECT = "Must be a JSON object: variable names and their values for this run."
PARTIAL_RUN_IS_A_TEST = "A partial run is a test run: leave test out or set it to true."


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
            "test_run",
            "run_mode",
            "run_node_id",
            "source_execution",
            "rerun_from",
            "custom_data",
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


class PartialRunSerializer(StrictSerializer):
    mode = serializers.ChoiceField(
        choices=[RunMode.NODE, RunMode.UP_TO], help_text="node: that node alone; up_to: it and its ancestors."
    )
    node = serializers.CharField(max_length=100, help_text="The node id.")


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

    test = serializers.BooleanField(
        required=False, default=False, help_text="A test run: pinned outputs stand in for their nodes."
    )
    run = PartialRunSerializer(
        required=False, default=None, help_text="A partial test run (implies test): one node, or up to a node."
    )

    def validate_input(self, value):
        return {} if value is None else value

    def validate_variables(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError(VARIABLES_NOT_OBJECT)
        return value

    def validate(self, attrs):
        if attrs.get("run") and isinstance(self.initial_data, dict) and self.initial_data.get("test") is False:
            raise serializers.ValidationError({"test": [PARTIAL_RUN_IS_A_TEST]})
        attrs["test"] = bool(attrs.get("test") or attrs.get("run"))
        return attrs


class ExecuteQuerySerializer(StrictSerializer):
    wait = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=300, help_text="Seconds to wait for the result."
    )


@extend_schema_serializer(
    examples=[
        OpenApiExample("From the failed nodes", request_only=True, value={"from": "failed"}),
        OpenApiExample(
            "From a node, on the latest version", request_only=True, value={"from": "check", "version": "latest"}
        ),
    ]
)
class RerunInputSerializer(StrictSerializer):
    from_ = serializers.CharField(
        max_length=100,
        help_text="'failed' (the failures that stopped it), 'trigger' (all of it, same trigger data) or a node id.",
    )
    version = serializers.ChoiceField(
        choices=[VERSION_ORIGINAL, VERSION_LATEST],
        default=VERSION_ORIGINAL,
        help_text="original: the version it ran; latest: the workflow's latest version.",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields


class ExecutionLogSerializer(serializers.ModelSerializer):
    class Meta:
        model = ExecutionLog
        fields = ["id", "node_id", "level", "message", "metadata", "at"]
        read_only_fields = fields


class LogsQuerySerializer(StrictSerializer):
    after = serializers.IntegerField(min_value=0, default=0, help_text="Lines with a larger id.")
    node = serializers.CharField(max_length=100, required=False, help_text="One node's lines.")
    level = serializers.ChoiceField(choices=LogLevel.values, required=False, help_text="This level and above.")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=500)


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
