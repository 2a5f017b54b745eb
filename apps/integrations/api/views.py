"""Integrations over the API: CRUD, test, the instance's workflows, sync (waiting or as a job to poll), and
`POST /api/v1/integrations/n8n/sync` (an n8n URL and API key in one call). Writes go through services."""

from typing import cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.api.serializers import ErrorSerializer
from apps.orgs import policy
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.models import Organization
from apps.orgs.policy import CHANGE, CREATE, MANAGE, VIEW

from .. import selectors, services
from ..choices import JobStatus
from ..client import N8nError
from ..models import Integration, SyncJob
from .serializers import (
    IntegrationSerializer,
    N8nSyncInputSerializer,
    RemoteWorkflowSerializer,
    SyncInputSerializer,
    SyncJobSerializer,
    SyncResultSerializer,
    TestResultSerializer,
    WorkflowLinkSerializer,
)

TAGS = ["integrations"]
ASYNC = OpenApiParameter(
    "async",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    required=False,
    description="1: answer 202 at once with a sync job to poll (GET /api/v1/integrations/jobs/{id}/).",
)
ALLOW_PRIVATE_ADMINS = "Only an organization admin may allow private addresses."


def _wants_async(request) -> bool:
    return request.query_params.get("async", "").lower() in ("1", "true", "yes")


@extend_schema_view(
    list=extend_schema(summary="Integrations of your organizations (n8n instances)", tags=TAGS),
    retrieve=extend_schema(summary="One integration (the API key is never returned)", tags=TAGS),
    create=extend_schema(summary="Connect an n8n instance (member; allow_private: admin)", tags=TAGS),
    update=extend_schema(summary="Replace an integration's settings", tags=TAGS),
    partial_update=extend_schema(summary="Change an integration (a new api_key replaces the stored one)", tags=TAGS),
    destroy=extend_schema(summary="Remove an integration (admin); the imported workflows stay", tags=TAGS),
)
class IntegrationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = IntegrationSerializer
    selector = selectors.integration_list
    action_permissions = {"test": CHANGE, "workflows": VIEW, "sync": CHANGE, "links": VIEW}

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    def _check_private(self, organization, data: dict, instance: Integration | None = None) -> None:
        wanted = data.get("allow_private")
        if wanted is not None and wanted != (instance.allow_private if instance else False):
            policy.require(self.access, MANAGE, organization, message=ALLOW_PRIVATE_ADMINS)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        organization = Organization.objects.get(pk=data.pop("organization_id"))
        self.require(CREATE, organization)
        self._check_private(organization, data)
        serializer.instance = services.integration_create(
            organization=organization, created_by=self.access.person, actor=self.access, **data
        )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization_id", None)
        self._check_private(serializer.instance.organization, data, serializer.instance)
        serializer.instance = services.integration_update(integration=serializer.instance, actor=self.access, **data)

    def perform_destroy(self, instance):
        services.integration_delete(integration=instance, actor=self.access)

    @extend_schema(
        summary="Test the connection: the URL answers like n8n and accepts the key (status becomes active or error)",
        tags=TAGS,
        request=None,
        responses={200: TestResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        integration = self.get_object()
        return Response(services.integration_test(integration=integration, actor=self.access))

    @extend_schema(
        summary="The n8n instance's workflows, each with the ConcertMaster workflow it is linked to",
        tags=TAGS,
        responses={200: RemoteWorkflowSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def workflows(self, request, pk=None):
        integration = self.get_object()
        try:
            rows = services.integration_workflows(integration=integration)
        except N8nError as error:
            raise ValidationError({"service_url": [str(error)]}) from None
        return Response(rows)

    @extend_schema(
        summary="Links: each synced n8n workflow, its ConcertMaster workflow and its last import report",
        tags=TAGS,
        responses={200: WorkflowLinkSerializer(many=True)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def links(self, request, pk=None):
        integration = self.get_object()
        return Response(WorkflowLinkSerializer(selectors.workflow_link_list(integration=integration), many=True).data)

    @extend_schema(
        summary="Sync this integration's workflows (all, the configured ones, or workflow_ids)",
        description="Waits for the sync and answers its result; with ?async=1 answers 202 with a job to poll.",
        tags=TAGS,
        parameters=[ASYNC],
        request=SyncInputSerializer,
        responses={
            200: SyncResultSerializer,
            202: SyncJobSerializer,
            # n8n unreachable or refusing the key answers the sync's own shape; bad input the API's error shape
            400: PolymorphicProxySerializer(
                component_name="SyncRefused",
                serializers=[SyncResultSerializer, ErrorSerializer],
                resource_type_field_name=None,
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        integration = self.get_object()
        data = SyncInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return run_sync(self, integration, data.validated_data.get("workflow_ids"), data.validated_data["force"])


def run_sync(view: ScopedViewSet, integration: Integration, workflow_ids, force: bool) -> Response:
    """Create the job (the service audits it), then run it here (the caller waits) or enqueue it (`?async=1`)."""
    wants_async = _wants_async(view.request)
    with transaction.atomic():
        job = services.sync_job_create(
            integration=integration,
            workflow_ids=workflow_ids,
            force=force,
            created_by=view.access.person,
            actor=view.access,
        )
        if wants_async:
            services.sync_job_enqueue(job=job)
    if wants_async:
        return Response(SyncJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
    job = cast(SyncJob, services.sync_job_run(job_id=str(job.pk)))  # created just above
    code = status.HTTP_200_OK if job.status == JobStatus.SUCCEEDED else status.HTTP_400_BAD_REQUEST
    return Response(job.result, status=code)


@extend_schema_view(
    retrieve=extend_schema(summary="One sync job: its status and, once finished, its result", tags=TAGS)
)
class SyncJobViewSet(mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = SyncJobSerializer
    selector = selectors.sync_job_list


class N8nSyncViewSet(ScopedViewSet):
    """`POST /api/v1/integrations/n8n/sync`: the product's seed endpoint (no trailing slash, as specified)."""

    selector = selectors.integration_list

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    @extend_schema(
        summary="Sync an n8n instance by URL and API key (the integration is created or its key updated)",
        description=(
            "Creates drafts for new n8n workflows and new versions for changed ones; a workflow edited here since "
            "its last sync is a conflict unless force. Answers synced_count and errors, plus the outcome and "
            "import report of each workflow. 400 when n8n could not be reached or refused the key. With "
            "?async=1: 202 and a job to poll."
        ),
        tags=TAGS,
        parameters=[ASYNC],
        request=N8nSyncInputSerializer,
        responses={
            200: SyncResultSerializer,
            202: SyncJobSerializer,
            400: PolymorphicProxySerializer(
                component_name="SyncRefused",
                serializers=[SyncResultSerializer, ErrorSerializer],
                resource_type_field_name=None,
            ),
        },
    )
    def sync(self, request):
        data = N8nSyncInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        values = data.validated_data
        organization = Organization.objects.get(pk=values["organization"])
        self.require(CHANGE, organization)
        try:
            integration = services.integration_for_url(
                organization=organization,
                n8n_url=values["n8n_url"],
                api_key=values["api_key"],
                created_by=self.access.person,
                actor=self.access,
            )
        except DjangoValidationError as error:
            errors = dict(error.message_dict)
            if "service_url" in errors:
                errors["n8n_url"] = errors.pop("service_url")
            raise ValidationError(errors) from None
        return run_sync(self, integration, values.get("workflow_ids"), values["force"])
