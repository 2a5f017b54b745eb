"""Node types: list, detail, JSON Schema and config validation. Reads are cached by clients with ETags."""

import hashlib

from django.utils.cache import patch_cache_control
from django.utils.decorators import method_decorator
from django.views.decorators.http import condition
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.nodes import credential_kinds, selectors
from apps.nodes.filters import NodeTypeFilter
from apps.nodes.registry import TYPE_NAME_MAX_LENGTH, registry
from apps.nodes.validation import ConfigError, validate_config

from .serializers import ConfigValidateSerializer, ConfigValidationSerializer, NodeTypeSerializer

NODE_TYPE_DISABLED = "This node type is disabled by an administrator."
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _etag(request: Request, *args, **kwargs) -> str:
    """Rows change only through a sync or the admin; the URL and Accept header pick the representation."""
    variant = f"{request.get_full_path()}|{request.META.get('HTTP_ACCEPT', '')}"
    return f"{selectors.node_types_version()}-{hashlib.sha256(variant.encode()).hexdigest()[:16]}"


cached = method_decorator(condition(etag_func=_etag))

TAGS = ["node types"]


@extend_schema_view(
    list=extend_schema(summary="Node types (filter by category, search text, enabled)", tags=TAGS),
    retrieve=extend_schema(summary="One node type", tags=TAGS),
)
class NodeTypeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The node library, the same for every organization; an admin may disable types."""

    serializer_class = NodeTypeSerializer
    filterset_class = NodeTypeFilter
    pagination_class = None  # a few dozen rows, and the editor's palette needs all of them
    lookup_field = "name"
    lookup_value_regex = rf"[a-z][a-z0-9_.]{{0,{TYPE_NAME_MAX_LENGTH - 1}}}"

    def get_queryset(self):
        return selectors.node_type_list()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if request.method in ("GET", "HEAD"):
            # Clients keep the copy but revalidate it with If-None-Match every time.
            patch_cache_control(response, private=True, no_cache=True)
        return response

    @cached
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @cached
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        summary="The node type's config JSON Schema (Draft 2020-12)",
        tags=TAGS,
        responses={200: OpenApiTypes.OBJECT},
    )
    @cached
    @action(detail=True, methods=["get"], url_path="schema", url_name="schema")
    def json_schema(self, request, *args, **kwargs):
        # Not named `schema`: that attribute holds the view's OpenAPI AutoSchema.
        node_type = self.get_object()
        schema = selectors.node_type_config_schema(node_type=node_type)
        return Response({"$schema": JSON_SCHEMA_DIALECT, "title": node_type.display_name, **schema})

    @extend_schema(
        summary="Check a config against the node type: every problem with its JSON pointer",
        tags=TAGS,
        request=ConfigValidateSerializer,
        responses={200: ConfigValidationSerializer},
    )
    @action(detail=True, methods=["post"])
    def validate(self, request, *args, **kwargs):
        node_type = self.get_object()
        serializer = ConfigValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if node_type.name not in registry:
            raise exceptions.NotFound()  # a row left by an uninstalled plugin until the next sync
        if node_type.is_enabled:
            errors = validate_config(node_type.name, serializer.validated_data["config"])
        else:
            errors = [ConfigError("", NODE_TYPE_DISABLED)]
        result = {"valid": not errors, "errors": [error.as_dict() for error in errors]}
        return Response(ConfigValidationSerializer(result).data)


KIND_TAGS = ["credential kinds"]


@extend_schema_view(
    list=extend_schema(summary="Credential kinds: each one's JSON Schema and secret fields", tags=KIND_TAGS),
    retrieve=extend_schema(summary="One credential kind", tags=KIND_TAGS),
)
class CredentialKindViewSet(viewsets.ViewSet):
    """The credential kinds (the registry in `apps/nodes/credential_kinds.py`), for the editor's and admin's forms."""

    lookup_field = "name"
    lookup_value_regex = r"[a-z0-9_]{1,50}"

    @extend_schema(
        operation_id="credential_kinds_list",
        responses={200: {"type": "object", "additionalProperties": {}}},  # list: documented as an array of these
    )
    def list(self, request):
        return Response([kind.as_dict() for kind in credential_kinds.KINDS.values()])

    @extend_schema(operation_id="credential_kinds_retrieve", responses={200: OpenApiTypes.OBJECT})
    def retrieve(self, request, name: str | None = None):
        kind = credential_kinds.get_kind(name or "")
        if kind is None:
            raise exceptions.NotFound()
        return Response(kind.as_dict())
