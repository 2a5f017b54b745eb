"""Executions over the API: list, detail, events, and the control verbs; plus a workflow's execute/executions.

Executing and controlling need the workflow's execute permission (a role of member or more, or a guardian
`execute_workflow` grant), not only read access.
"""

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.availability import broker_required
from apps.executions import services
from apps.executions.models import WorkflowExecution
from apps.executions.selectors import execution_detail_list, execution_events_after, execution_list
from apps.executions.triggers import execution_wait
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.policy import EXECUTE, VIEW
from apps.workflows.api.views import workflow_from_url
from apps.workflows.choices import TriggerKind
from apps.workflows.selectors import workflow_list

from .filters import ExecutionFilter
from .serializers import (
    DecisionInputSerializer,
    EventsQuerySerializer,
    ExecuteInputSerializer,
    ExecuteQuerySerializer,
    ExecutionDetailSerializer,
    ExecutionEventSerializer,
    ExecutionSerializer,
)
from .spec_shapes import (
    SpecExecuteInputSerializer,
    SpecExecuteOutputSerializer,
    is_spec_execute_body,
    spec_execute_answer,
)

TAGS = ["executions"]


def _detail(execution) -> dict:
    """The execution as it is now in the database, with its node executions."""
    fresh = WorkflowExecution.objects.select_related("version").prefetch_related("node_executions").get(pk=execution.pk)
    return ExecutionDetailSerializer(fresh).data


@extend_schema_view(
    list=extend_schema(summary="Executions you can see (filter by status, workflow, trigger, dates)", tags=TAGS),
    retrieve=extend_schema(summary="One execution with every node execution", tags=TAGS),
)
class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Executions are read here and controlled by verbs; they are only ever created by starting a workflow."""

    selector = execution_list
    filterset_class = ExecutionFilter
    action_permissions = {
        "events": VIEW,
        "pause": EXECUTE,
        "resume": EXECUTE,
        "cancel": EXECUTE,
        "retry": EXECUTE,
        "approve": EXECUTE,
        "reject": EXECUTE,
    }

    def get_queryset(self):
        if self.action == "list":
            return execution_list(access=self.access).select_related("version")
        return execution_detail_list(access=self.access).select_related("version")

    def get_serializer_class(self):
        return ExecutionSerializer if self.action == "list" else ExecutionDetailSerializer

    @extend_schema(
        summary="Events of an execution after a sequence number (replay after reconnecting)",
        tags=TAGS,
        parameters=[EventsQuerySerializer],
        responses={200: ExecutionEventSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def events(self, request, pk=None):
        execution = self.get_object()
        query = EventsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        since, limit = query.validated_data["since"], query.validated_data["limit"]
        events = execution_events_after(execution=execution, seq=since, limit=limit)
        return Response(ExecutionEventSerializer(events, many=True).data)

    def _control(self, verb: str, service, **kwargs) -> Response:
        execution = self.get_object()
        service(execution=execution, user=self.access.person, actor=self.access, **kwargs)
        return Response(_detail(execution))

    @extend_schema(
        summary="Pause: running nodes finish, nothing new starts",
        tags=TAGS,
        request=None,
        responses={200: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def pause(self, request, pk=None):
        return self._control("pause", services.execution_pause)

    @extend_schema(
        summary="Resume a paused execution", tags=TAGS, request=None, responses={200: ExecutionDetailSerializer}
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resume(self, request, pk=None):
        broker_required()
        return self._control("resume", services.execution_resume)

    @extend_schema(
        summary="Cancel: queued work is revoked, what is left is cancelled",
        tags=TAGS,
        request=None,
        responses={200: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        return self._control("cancel", services.execution_cancel)

    @extend_schema(
        summary="Retry the failed nodes of a failed execution",
        tags=TAGS,
        request=None,
        responses={200: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def retry(self, request, pk=None):
        broker_required()
        return self._control("retry", services.execution_retry_failed)

    def _decide(self, verb: str, service) -> Response:
        self.get_object()  # another organization's execution is a 404 before its input is looked at
        broker_required()
        data = DecisionInputSerializer(data=request_data(self.request))
        data.is_valid(raise_exception=True)
        return self._control(verb, service, **data.validated_data)

    @extend_schema(
        summary="Approve a waiting approval node",
        tags=TAGS,
        request=DecisionInputSerializer,
        responses={200: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def approve(self, request, pk=None):
        return self._decide("approve", services.execution_approve)

    @extend_schema(
        summary="Reject a waiting approval node",
        tags=TAGS,
        request=DecisionInputSerializer,
        responses={200: ExecutionDetailSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reject(self, request, pk=None):
        return self._decide("reject", services.execution_reject)


def request_data(request):
    """The JSON body as a dict; any other JSON value is refused as a whole-body error by the serializer."""
    return request.data if isinstance(request.data, dict) else {"non_field_errors": request.data}


class WorkflowRunViewSet(ScopedViewSet):
    """`/workflows/{id}/execute/`: here, not in apps.workflows, because executions depend on workflows."""

    selector = workflow_list
    serializer_class = ExecuteInputSerializer
    action_permissions = {"execute": EXECUTE}

    @extend_schema(
        summary="Run a workflow: 202 with the execution, or its result when it finishes within ?wait= seconds",
        description=(
            "Also `POST /workflows/{id}/execute` without the trailing slash. Two body shapes: ours (`input`, "
            "`variables`, `test`, `run`; answered with the execution's detail) and the specification's "
            "(`input_data`, `variables`, `async_mode`; answered with `execution_id`, `status`, `result`, `error`). "
            "A body naming `input_data` or `async_mode` is the specification's. Without `async_mode: true` the "
            "specification's shape waits for the result like `?wait=` (the server's longest wait when `?wait=` is "
            "not given)."
        ),
        tags=["workflows"],
        parameters=[ExecuteQuerySerializer],
        request=PolymorphicProxySerializer(
            component_name="Execute",
            serializers=[ExecuteInputSerializer, SpecExecuteInputSerializer],
            resource_type_field_name=None,
        ),
        responses={
            code: PolymorphicProxySerializer(
                component_name="ExecuteResult",
                serializers=[ExecutionDetailSerializer, SpecExecuteOutputSerializer],
                resource_type_field_name=None,
            )
            for code in (200, 202)
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def execute(self, request, pk=None):
        workflow = self.get_object()
        query = ExecuteQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = request_data(request)
        spec = is_spec_execute_body(data)
        body = (SpecExecuteInputSerializer if spec else ExecuteInputSerializer)(data=data)
        body.is_valid(raise_exception=True)
        if spec:
            trigger_data, test, run = body.validated_data["input_data"], False, None
            wait = 0 if body.validated_data["async_mode"] else settings.CONCERTMASTER_MAX_WAIT_SECONDS
            if "wait" in request.query_params and not body.validated_data["async_mode"]:
                wait = query.validated_data["wait"]
        else:
            trigger_data, test, run = (
                body.validated_data["input"],
                body.validated_data["test"],
                body.validated_data["run"],
            )
            wait = query.validated_data["wait"]
        broker_required()  # 503 with Retry-After while no task can be sent: nothing is created
        kind = TriggerKind.API if self.access.api_key is not None else TriggerKind.MANUAL
        execution = services.execution_start(
            workflow=workflow,
            trigger_kind=kind,
            trigger_data=trigger_data,
            triggered_by=self.access.person,
            variables=body.validated_data["variables"],
            test=test,
            run=run,
            actor=self.access,
        )
        wait = min(wait, settings.CONCERTMASTER_MAX_WAIT_SECONDS)
        if wait:
            execution = execution_wait(execution_id=execution.pk, timeout=wait)
        finished = execution.finished_at is not None
        answer = spec_execute_answer(execution) if spec else _detail(execution)
        return Response(answer, status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED)


@extend_schema_view(
    execute=extend_schema(
        operation_id="workflows_execute_without_slash",
        summary="Run a workflow: the specification's path, without the trailing slash (same bodies and answers)",
    )
)
class WorkflowRunAliasViewSet(WorkflowRunViewSet):
    """`/workflows/{id}/execute` as the specification writes it: the same action under its own operation id."""


WORKFLOW_PK = OpenApiParameter("workflow_pk", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Workflow id.")


@extend_schema_view(
    list=extend_schema(summary="Executions of one workflow, newest first", tags=["workflows"], parameters=[WORKFLOW_PK])
)
class WorkflowExecutionViewSet(mixins.ListModelMixin, ScopedViewSet):
    """`/workflows/{workflow_pk}/executions/`: the executions of one workflow you can see."""

    serializer_class = ExecutionSerializer
    filterset_class = ExecutionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WorkflowExecution.objects.none()
        workflow = workflow_from_url(access=self.access, workflow_pk=self.kwargs["workflow_pk"])
        return execution_list(access=self.access).filter(workflow=workflow).select_related("version")
