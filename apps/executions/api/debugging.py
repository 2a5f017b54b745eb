"""The debug loop's execution endpoints: `/executions/{id}/rerun/` and `/executions/{id}/logs/`.

Routed under `executions/` beside ExecutionViewSet (the router gives this viewset only its two detail routes).
"""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.availability import broker_required
from apps.executions import services
from apps.executions.logs import execution_log_list
from apps.executions.selectors import execution_detail_list
from apps.executions.triggers import execution_wait
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.policy import EXECUTE, VIEW

from .serializers import (
    ExecuteQuerySerializer,
    ExecutionDetailSerializer,
    ExecutionLogSerializer,
    LogsQuerySerializer,
    RerunInputSerializer,
)
from .views import _detail, request_data

TAGS = ["executions"]


class ExecutionDebugViewSet(ScopedViewSet):
    """Re-running an execution and reading what its nodes logged."""

    selector = execution_detail_list
    action_permissions = {"rerun": EXECUTE, "logs": VIEW}

    @extend_schema(
        summary="Re-run an execution as a new one: from its failed nodes, from the trigger, or from a node",
        description=(
            "`from`: `failed`, `trigger` or a node id (that node and everything downstream; the other nodes take "
            "over their output from this execution). `version`: `original` (default) or `latest`. The answer is "
            "the new execution (`source_execution` names this one): 202, or 200 when it finished within `?wait=`."
        ),
        tags=TAGS,
        parameters=[ExecuteQuerySerializer],
        request=RerunInputSerializer,
        responses={202: ExecutionDetailSerializer, 200: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def rerun(self, request, pk=None):
        source = self.get_object()
        query = ExecuteQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        body = RerunInputSerializer(data=request_data(request))
        body.is_valid(raise_exception=True)
        broker_required()
        start_from, version = body.validated_data["from"], body.validated_data["version"]
        execution = services.execution_rerun(
            execution=source, start_from=start_from, version=version, user=self.access.person, actor=self.access
        )
        wait = min(query.validated_data["wait"], settings.CONCERTMASTER_MAX_WAIT_SECONDS)
        if wait:
            execution = execution_wait(execution_id=execution.pk, timeout=wait)
        finished = execution.finished_at is not None
        return Response(_detail(execution), status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="What the nodes of an execution logged, oldest first (after a line id, by node, from a level)",
        tags=TAGS,
        parameters=[LogsQuerySerializer],
        responses={200: ExecutionLogSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def logs(self, request, pk=None):
        execution = self.get_object()
        query = LogsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        lines = execution_log_list(execution=execution, **query.validated_data)
        return Response(ExecutionLogSerializer(lines, many=True).data)
