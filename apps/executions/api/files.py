"""An execution's files over the API: `/executions/{id}/files/` lists them with short-lived download URLs,
`/executions/{id}/files/{file_id}/download/` redirects to one; `/api/v1/files/<token>/` serves a signed local URL.

Routed under `executions/` beside ExecutionViewSet; another organization's execution or file is a 404.
"""

from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.executions.file_models import ExecutionFile
from apps.executions.files import execution_file_get, execution_file_list, execution_file_url, file_by_token
from apps.executions.selectors import execution_detail_list
from apps.nodes.files import file_storage
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.policy import VIEW

TAGS = ["executions"]


class ExecutionFileSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExecutionFile
        fields = ["id", "name", "content_type", "size", "sha256", "node_id", "field", "created_at", "download_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_download_url(self, file: ExecutionFile) -> str:
        """Valid for CONCERTMASTER_FILES_URL_SECONDS: presigned on S3, a signed local URL otherwise."""
        url = execution_file_url(file=file)
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None and url.startswith("/") else url


class ExecutionFileViewSet(ScopedViewSet):
    """The files an execution received and its nodes wrote."""

    selector = execution_detail_list
    action_permissions = {"files": VIEW, "file_download": VIEW}

    @extend_schema(
        summary="The files of an execution (uploads and files its nodes wrote), with short-lived download URLs",
        tags=TAGS,
        responses={200: ExecutionFileSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def files(self, request, pk=None):
        files = execution_file_list(execution=self.get_object())
        return Response(ExecutionFileSerializer(files, many=True, context={"request": request}).data)

    @extend_schema(
        summary="Download one file of an execution (a redirect to a short-lived URL)",
        tags=TAGS,
        parameters=[OpenApiParameter("file_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={302: OpenApiResponse(description="Location: the file's short-lived URL.")},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"files/(?P<file_id>[0-9a-fA-F-]{32,36})/download",
        filter_backends=[],
        pagination_class=None,
    )
    def file_download(self, request, pk=None, file_id=None):
        file = execution_file_get(execution=self.get_object(), pk=file_id)
        if file is None:
            raise exceptions.NotFound()
        response = Response(status=302)
        response["Location"] = ExecutionFileSerializer(context={"request": request}).get_download_url(file)
        return response


@require_GET
def file_download(request: HttpRequest, token: str) -> FileResponse:
    """A signed local download URL: the file while the token is valid and its execution is kept, else 404."""
    file = file_by_token(token)
    if file is None:
        raise Http404
    try:
        handle = file_storage().open(file.storage_key, "rb")
    except OSError as error:
        raise Http404 from error
    return FileResponse(handle, as_attachment=True, filename=file.name, content_type=file.content_type)
