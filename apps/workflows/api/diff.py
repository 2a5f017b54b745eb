"""`GET /workflows/{workflow_pk}/versions/{a}/diff/{b}/`: what changed from version a to version b."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.orgs.api.viewsets import ScopedViewSet
from apps.workflows import selectors
from apps.workflows.diff import definition_diff
from apps.workflows.models import WorkflowVersion

from .views import WORKFLOW_PK, workflow_from_url

VERSION_A = OpenApiParameter("a", int, OpenApiParameter.PATH, description="The version before.")
VERSION_B = OpenApiParameter("b", int, OpenApiParameter.PATH, description="The version after.")


class VersionDiffSerializer(serializers.Serializer):
    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    nodes = serializers.JSONField(help_text="added, removed, moved (ids) and changed ({id, type, changes}).")
    edges = serializers.JSONField(help_text="added and removed edges ({source, source_port, target, target_port}).")
    variables = serializers.JSONField(help_text="added, removed ({name: value}) and changed ({name: {from, to}}).")
    settings = serializers.JSONField(help_text="changed: operations on the definition's other top-level keys.")


class WorkflowVersionDiffViewSet(ScopedViewSet):
    """Compares two versions of a workflow the caller can see (404 for a version number it does not have)."""

    serializer_class = VersionDiffSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WorkflowVersion.objects.none()
        workflow = workflow_from_url(access=self.access, workflow_pk=self.kwargs["workflow_pk"])
        return selectors.workflow_version_list(access=self.access, workflow=workflow)

    def _version(self, number: str) -> WorkflowVersion:
        version = self.get_queryset().filter(number=int(number)).first()
        if version is None:
            raise Http404
        self.check_object_permissions(self.request, version.workflow)
        return version

    @extend_schema(
        summary="What changed between two versions: nodes, edges, variables, settings",
        tags=["workflows"],
        parameters=[WORKFLOW_PK, VERSION_A, VERSION_B],
        responses={200: VersionDiffSerializer},
    )
    def diff(self, request, workflow_pk=None, a=None, b=None):
        before, after = self._version(a), self._version(b)
        body = {"from_version": before.number, "to_version": after.number}
        return Response({**body, **definition_diff(before.definition, after.definition)})
