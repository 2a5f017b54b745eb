"""The specification's request and response shapes, accepted beside ours on the same endpoints.

`POST /workflows/{id}/execute` (with or without its trailing slash) takes either our body (`input`,
`variables`, `test`, `run`; answered with the execution's detail) or the specification's (`input_data`,
`variables`, `async_mode`; answered with `execution_id`, `status`, `result`). A body naming `input_data`
or `async_mode` is the specification's; any other is ours, so `{"variables": ...}` alone keeps our answer.
"""

from rest_framework import serializers

from apps.core.api.serializers import StrictSerializer

from .serializers import VARIABLES_NOT_OBJECT

SPEC_EXECUTE_KEYS = frozenset({"input_data", "async_mode"})
INPUT_DATA_NOT_OBJECT = "Must be a JSON object: the trigger data the run starts with."


def is_spec_execute_body(data) -> bool:
    """True when the body is the specification's execute request rather than ours."""
    return isinstance(data, dict) and bool(SPEC_EXECUTE_KEYS & set(data))


class SpecExecuteInputSerializer(StrictSerializer):
    input_data = serializers.JSONField(
        required=False, default=dict, allow_null=True, help_text="The trigger data (our `input`); null: none ({})."
    )
    variables = serializers.JSONField(
        required=False,
        default=None,
        allow_null=True,
        help_text="Runtime overrides of the version's variables; stored as the execution's variables_override.",
    )
    async_mode = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: answer at once (202) with the queued execution; false: wait for the result like ?wait= "
        "(up to the server's longest wait; 202 with the current status if it is still running then).",
    )

    def validate_input_data(self, value):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise serializers.ValidationError(INPUT_DATA_NOT_OBJECT)
        return value

    def validate_variables(self, value):
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError(VARIABLES_NOT_OBJECT)
        return value


class SpecExecuteOutputSerializer(serializers.Serializer):
    execution_id = serializers.UUIDField(help_text="The execution's id (our `id`).")
    status = serializers.CharField(help_text="The execution's status now.")
    result = serializers.JSONField(allow_null=True, help_text="What the last nodes produced; null until it finishes.")
    error = serializers.JSONField(allow_null=True, help_text="Why it failed; null unless it failed.")


def spec_execute_answer(execution) -> dict:
    return SpecExecuteOutputSerializer(
        {
            "execution_id": execution.pk,
            "status": execution.status,
            "result": execution.output,
            "error": execution.error,
        }
    ).data
