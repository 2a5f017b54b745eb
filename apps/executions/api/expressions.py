"""`POST /workflows/{workflow_pk}/expressions/preview/`: render an expression as a test run would (no run, no write)."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.executions.expression_preview import preview
from apps.orgs.api.viewsets import ScopedViewSet
from apps.workflows.api.views import WORKFLOW_PK, workflow_from_url
from apps.workflows.models import Workflow

from .views import request_data


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A value of an upstream node",
            request_only=True,
            value={"expression": "{{ nodes.lookup.output.status | upper }}", "node": "notify"},
        )
    ]
)
class PreviewInputSerializer(StrictSerializer):
    expression = serializers.JSONField(
        help_text="A config value: a string such as {{ trigger.a }}, or an object or list holding such strings."
    )
    node = serializers.CharField(
        max_length=100, required=False, default="", help_text="The node whose field it is: only its ancestors' data."
    )


class PreviewSerializer(serializers.Serializer):
    value = serializers.JSONField(allow_null=True, help_text="What the run would render (null when it fails).")
    error = serializers.CharField(allow_null=True, help_text="The error the run would hit, if any.")
    completions = serializers.ListField(child=serializers.CharField(), help_text="trigger., nodes.<id>.output., vars.")
    sources = serializers.JSONField(help_text='Where the data came from: {"trigger": "pin"|"last_run", "nodes": {…}}.')


class ExpressionPreviewViewSet(ScopedViewSet):
    """Previews read the workflow and its executions: viewing is enough."""

    def get_queryset(self):
        return Workflow.objects.none()

    @extend_schema(
        summary="Render an expression over pins and last-run data, with completions",
        tags=["workflows"],
        parameters=[WORKFLOW_PK],
        request=PreviewInputSerializer,
        responses={200: PreviewSerializer},
    )
    def preview(self, request, workflow_pk=None):
        workflow = workflow_from_url(access=self.access, workflow_pk=workflow_pk)
        self.check_object_permissions(request, workflow)
        body = PreviewInputSerializer(data=request_data(request))
        body.is_valid(raise_exception=True)
        try:
            result = preview(
                workflow=workflow, expression=body.validated_data["expression"], node_id=body.validated_data["node"]
            )
        except ValueError as error:
            raise ValidationError({error.args[1] or "non_field_errors": [error.args[0]]}) from error
        return Response(result)
