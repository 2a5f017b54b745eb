"""Workflows, their versions, triggers and credentials over the API. Writes go through apps.workflows.services."""

import uuid

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.models import Organization
from apps.orgs.policy import CHANGE, CREATE, MANAGE, VIEW
from apps.workflows import selectors, services
from apps.workflows.models import WorkflowVersion
from apps.workflows.n8n import is_n8n_document
from apps.workflows.oauth2 import oauth2_authorize_url
from apps.workflows.oauth2_views import callback_url
from apps.workflows.spec_shapes import workflow_create_with_triggers
from apps.workflows.validation import problems_payload, workflow_definition_problems

from .filters import CredentialFilter, FormSubmissionFilter, TriggerFilter, WorkflowFilter
from .serializers import (
    CredentialSerializer,
    DefinitionInputSerializer,
    DuplicateInputSerializer,
    ExportSerializer,
    FormSubmissionSerializer,
    ImportInputSerializer,
    N8nImportedSerializer,
    ShareInputSerializer,
    ShareSerializer,
    TriggerCreatedSerializer,
    TriggerPublishSerializer,
    TriggerSerializer,
    ValidationResultSerializer,
    WorkflowSerializer,
    WorkflowVersionSerializer,
)

TAG_WORKFLOWS = ["workflows"]
WORKFLOW_PK = OpenApiParameter("workflow_pk", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Workflow id.")
VERSION_NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="Version number.")
IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description='The revision the change is based on, as the ETag of GET: "7". 409 when someone saved since.',
)
IF_MATCH_INVALID = 'If-Match must be a workflow revision as its ETag gives it, e.g. "7".'
REVISION_MISMATCH = "The revision field and the If-Match header name different revisions."
OAUTH2_NEEDS_A_USER = "An API key cannot connect a credential: the consent is a user's, use a user's session or token."


class OAuth2AuthorizeSerializer(serializers.Serializer):
    authorize_url = serializers.URLField(help_text="The provider's consent page, with the signed state and PKCE.")


def based_on_revision(*, request, body_revision: int | None) -> int | None:
    """The revision a PATCH/PUT is based on, from `If-Match: "<revision>"` or the body; None: not given."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return body_revision
    value = header.removeprefix("W/").strip('"')
    if not value.isdigit() or not 0 < int(value) < 2**31:
        raise ValidationError({"If-Match": [IF_MATCH_INVALID]})
    if body_revision is not None and body_revision != int(value):
        raise ValidationError({"revision": [REVISION_MISMATCH]})
    return int(value)


def workflow_from_url(*, access, workflow_pk: str):
    """The workflow named in a nested URL, if the caller can see it; 404 otherwise (also for a malformed id)."""
    try:
        uuid.UUID(str(workflow_pk))
    except ValueError as error:
        raise Http404 from error
    workflow = selectors.workflow_get(access=access, pk=workflow_pk)
    if workflow is None:
        raise Http404
    return workflow


@extend_schema_view(
    list=extend_schema(summary="Workflows you can see", tags=TAG_WORKFLOWS),
    retrieve=extend_schema(
        summary="One workflow with its working definition and its problems (ETag: its revision)", tags=TAG_WORKFLOWS
    ),
    create=extend_schema(
        summary="Create a workflow (member); saved as a draft with its problems, version 1 when valid",
        tags=TAG_WORKFLOWS,
    ),
    update=extend_schema(
        summary="Replace a workflow; a valid new definition becomes a new version, an invalid one a draft",
        tags=TAG_WORKFLOWS,
        parameters=[IF_MATCH],
    ),
    partial_update=extend_schema(
        summary="Change a workflow (valid new definition: new version; with problems: a draft)",
        tags=TAG_WORKFLOWS,
        parameters=[IF_MATCH],
    ),
    destroy=extend_schema(summary="Delete a workflow (admin)", tags=TAG_WORKFLOWS),
)
class WorkflowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = WorkflowSerializer
    selector = selectors.workflow_list
    filterset_class = WorkflowFilter
    action_permissions = {
        "validate": VIEW,
        "activate": CHANGE,
        "deactivate": CHANGE,
        "duplicate": VIEW,
        "export": VIEW,
        "shares": MANAGE,
    }

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    def finalize_response(self, request, response, *args, **kwargs):
        # A workflow in a response carries its revision as ETag too: what the next save sends as If-Match.
        if response.status_code < 300 and isinstance(response.data, dict) and "revision" in response.data:
            revision = response.data["revision"]
            response["ETag"] = f'"{revision}"'
        return super().finalize_response(request, response, *args, **kwargs)

    def create(self, request, *args, **kwargs):
        self.created_triggers = None
        response = super().create(request, *args, **kwargs)
        if self.created_triggers is not None:  # the specification's shape: the triggers it created, secrets once
            context = {"request": request}  # the creator is an admin (checked in perform_create): sees every URL
            response.data["triggers"] = [
                {**TriggerCreatedSerializer(trigger, context=context).data, "signing_secret": trigger.signing_secret}
                for trigger in self.created_triggers
            ]
        return response

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("revision", None)
        triggers = data.pop("triggers", None)
        organization = Organization.objects.get(pk=data.pop("organization"))
        self.require(CREATE, organization)
        if triggers:
            self.require(MANAGE, organization)  # as POST /triggers/ does: publishing is an admin's
        if triggers is None:
            workflow = services.workflow_create(
                organization=organization, created_by=self.access.person, actor=self.access, **data
            )
        else:
            workflow, self.created_triggers = workflow_create_with_triggers(
                triggers=triggers, organization=organization, created_by=self.access.person, actor=self.access, **data
            )
        serializer.instance = selectors.workflow_get(access=self.access, pk=workflow.pk)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        revision = based_on_revision(request=self.request, body_revision=data.pop("revision", None))
        services.workflow_update(
            workflow=serializer.instance, user=self.access.person, revision=revision, actor=self.access, **data
        )
        serializer.instance = selectors.workflow_get(access=self.access, pk=serializer.instance.pk)

    def perform_destroy(self, instance):
        services.workflow_delete(workflow=instance, actor=self.access)

    @extend_schema(
        summary="Validate a definition (the saved one, or one given) and list every problem",
        tags=TAG_WORKFLOWS,
        request=DefinitionInputSerializer,
        responses={200: ValidationResultSerializer},
    )
    @action(detail=True, methods=["post"])
    def validate(self, request, pk=None):
        workflow = self.get_object()
        data = DefinitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        problems = workflow_definition_problems(data.validated_data.get("definition", workflow.definition))
        return Response({"valid": not problems, "problems": problems_payload(problems)})

    def _set_status(self, verb: str):
        workflow = self.get_object()
        service = services.workflow_activate if verb == "activate" else services.workflow_deactivate
        service(workflow=workflow, actor=self.access)
        return Response(self.get_serializer(workflow).data)

    @extend_schema(
        summary="Activate: webhooks, forms and schedules start executions",
        tags=TAG_WORKFLOWS,
        request=None,
        responses={200: WorkflowSerializer},
    )
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        return self._set_status("activate")

    @extend_schema(
        summary="Deactivate: triggers stop starting executions",
        tags=TAG_WORKFLOWS,
        request=None,
        responses={200: WorkflowSerializer},
    )
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        return self._set_status("deactivate")

    @extend_schema(
        summary="Copy a workflow and its triggers as a new draft",
        tags=TAG_WORKFLOWS,
        request=DuplicateInputSerializer,
        responses={201: WorkflowSerializer},
    )
    @action(detail=True, methods=["post"])
    def duplicate(self, request, pk=None):
        workflow = self.get_object()
        data = DuplicateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        self.require(CREATE, workflow.organization_id)
        copy = services.workflow_duplicate(
            workflow=workflow, created_by=self.access.person, actor=self.access, **data.validated_data
        )
        return Response(self.get_serializer(copy).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Export as JSON with its node types and triggers (no secrets)",
        tags=TAG_WORKFLOWS,
        responses={200: ExportSerializer},
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return Response(services.workflow_export(workflow=self.get_object()))

    @extend_schema(
        methods=["GET"],
        summary="Users this workflow is shared with beyond their role (admin)",
        tags=TAG_WORKFLOWS,
        responses={200: ShareSerializer(many=True)},
    )
    @extend_schema(
        methods=["PUT"],
        summary="Share with a user: exactly these permissions (empty list: stop sharing)",
        tags=TAG_WORKFLOWS,
        request=ShareInputSerializer,
        responses={200: ShareSerializer(many=True)},
    )
    @action(detail=True, methods=["get", "put"], pagination_class=None, filter_backends=[])
    def shares(self, request, pk=None):
        workflow = self.get_object()
        if request.method == "PUT":
            data = ShareInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            user, permissions = data.validated_data["user"], data.validated_data["permissions"]
            services.workflow_share_set(workflow=workflow, user=user, permissions=permissions, actor=self.access)
        return Response(ShareSerializer(selectors.workflow_shares(workflow=workflow), many=True).data)

    @extend_schema(
        summary="Import a workflow from an export document or from n8n workflow JSON",
        description=(
            "An export document creates one workflow. n8n JSON goes through the n8n translator (docs/n8n.md): one "
            "n8n workflow answers the workflow with its `n8n_report` (every n8n node: translated, translated with "
            "changes, not translatable, and the credentials to create); a list of them answers `workflows` and "
            "`refused`. Imported workflows are drafts."
        ),
        tags=TAG_WORKFLOWS,
        request=ImportInputSerializer,
        responses={
            201: PolymorphicProxySerializer(
                component_name="ImportResult",
                serializers=[WorkflowSerializer, N8nImportedSerializer],
                resource_type_field_name=None,
            )
        },
    )
    @action(detail=False, methods=["post"], url_path="import", url_name="import")
    def import_(self, request):
        data = ImportInputSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        organization = Organization.objects.get(pk=data.validated_data["organization"])
        self.require(CREATE, organization)
        document = data.validated_data["document"]
        if is_n8n_document(document):
            return self._import_n8n(organization, document, data.validated_data.get("name", ""))
        workflow = services.workflow_import(
            organization=organization,
            document=data.validated_data["document"],
            name=data.validated_data.get("name", ""),
            created_by=self.access.person,
            actor=self.access,
        )
        return Response(self.get_serializer(workflow).data, status=status.HTTP_201_CREATED)

    def _import_n8n(self, organization, document, name: str) -> Response:
        results = services.workflow_import_n8n(
            organization=organization, document=document, name=name, created_by=self.access.person, actor=self.access
        )
        imported = [
            {**self.get_serializer(workflow).data, "n8n_report": report} for workflow, report in results if workflow
        ]
        if isinstance(document, dict) and "nodes" in document:
            return Response(imported[0], status=status.HTTP_201_CREATED)
        refused = [report for workflow, report in results if workflow is None]
        return Response({"workflows": imported, "refused": refused}, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="Versions of a workflow, newest first", tags=TAG_WORKFLOWS, parameters=[WORKFLOW_PK]),
    retrieve=extend_schema(
        summary="One version of a workflow", tags=TAG_WORKFLOWS, parameters=[WORKFLOW_PK, VERSION_NUMBER]
    ),
)
class WorkflowVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """`/workflows/{workflow_pk}/versions/[{number}/[restore/]]`: immutable snapshots, newest first."""

    serializer_class = WorkflowVersionSerializer
    lookup_field = "number"
    lookup_value_regex = "[0-9]{1,9}"
    action_permissions = {"restore": CHANGE}

    def workflow(self):
        if not hasattr(self, "_workflow"):
            self._workflow = workflow_from_url(access=self.access, workflow_pk=self.kwargs["workflow_pk"])
        return self._workflow

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WorkflowVersion.objects.none()
        return selectors.workflow_version_list(access=self.access, workflow=self.workflow()).order_by("-number")

    def get_object(self):
        # Versions are looked up by number, not by UUID: skip the base class's UUID check.
        return super(ScopedViewSet, self).get_object()

    @extend_schema(
        summary="Restore a version as the working definition (recorded as a new version)",
        tags=TAG_WORKFLOWS,
        parameters=[WORKFLOW_PK, VERSION_NUMBER],
        request=None,
        responses={200: WorkflowSerializer},
    )
    @action(detail=True, methods=["post"])
    def restore(self, request, workflow_pk=None, number=None):
        version = self.get_object()
        workflow = self.workflow()
        services.workflow_version_restore(
            workflow=workflow, version=version, user=self.access.person, actor=self.access
        )
        workflow = selectors.workflow_get(access=self.access, pk=workflow.pk)
        context = {**self.get_serializer_context(), "access": self.access, "view": None}
        return Response(WorkflowSerializer(workflow, context=context).data)


@extend_schema_view(
    list=extend_schema(summary="Triggers of your workflows", tags=["triggers"]),
    retrieve=extend_schema(summary="One trigger (the signing secret is never shown again)", tags=["triggers"]),
    update=extend_schema(summary="Replace a trigger (admin)", tags=["triggers"]),
    partial_update=extend_schema(summary="Change a trigger (admin)", tags=["triggers"]),
    destroy=extend_schema(summary="Delete a trigger (admin)", tags=["triggers"]),
)
class TriggerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = TriggerSerializer
    selector = selectors.trigger_list
    filterset_class = TriggerFilter
    action_permissions = {
        "update": MANAGE,
        "partial_update": MANAGE,
        "destroy": MANAGE,
        "rotate_secret": MANAGE,
    }

    def writable_workflows(self):
        return selectors.workflow_list(access=self.access).filter(organization_id__in=self.access.organization_ids())

    @extend_schema(
        summary="Create a trigger (admin); a webhook's URL and signing secret are in this response only",
        tags=["triggers"],
        request=TriggerSerializer,
        responses={201: TriggerCreatedSerializer},
    )
    def create(self, request):
        serializer = TriggerSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        workflow = serializer.validated_data.pop("workflow")
        self.require(MANAGE, workflow.organization_id)
        trigger = services.trigger_create(workflow=workflow, actor=self.access, **serializer.validated_data)
        body = TriggerCreatedSerializer(trigger, context=self.get_serializer_context()).data
        body["signing_secret"] = trigger.signing_secret
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        services.trigger_update(trigger=serializer.instance, actor=self.access, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.trigger_delete(trigger=instance, actor=self.access)

    @extend_schema(
        summary="Publish the workflow's form and webhook start nodes: create or switch on their triggers (admin)",
        description=(
            "Each `form` or `webhook` start node of the workflow gets a live trigger (its public URL in `form_url` "
            "or `webhook_url`); an existing one is switched on. The definition must be valid (400 lists its "
            "problems). A newly created webhook trigger's signing secret is in this response only (empty for the "
            "others)."
        ),
        tags=["triggers"],
        request=TriggerPublishSerializer,
        responses={200: TriggerCreatedSerializer(many=True)},
    )
    @action(detail=False, methods=["post"], filter_backends=[], pagination_class=None)
    def publish(self, request):
        serializer = TriggerPublishSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        workflow = serializer.validated_data["workflow"]
        self.require(MANAGE, workflow.organization_id)
        published = services.trigger_publish(workflow=workflow, actor=self.access)
        body = []
        for trigger, created in published:
            item = TriggerCreatedSerializer(trigger, context=self.get_serializer_context()).data
            item["signing_secret"] = trigger.signing_secret if created else ""
            body.append(item)
        return Response(body)

    @extend_schema(
        summary="Issue a new signing secret (the old one stops working); shown once",
        tags=["triggers"],
        request=None,
        responses={200: TriggerCreatedSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        trigger = self.get_object()
        services.trigger_rotate_secret(trigger=trigger, actor=self.access)
        body = TriggerCreatedSerializer(trigger, context=self.get_serializer_context()).data
        body["signing_secret"] = trigger.signing_secret
        return Response(body)


@extend_schema_view(
    list=extend_schema(summary="Credentials of your organizations (secrets never shown)", tags=["credentials"]),
    retrieve=extend_schema(summary="One credential (its secret is never shown)", tags=["credentials"]),
    create=extend_schema(summary="Store a credential, encrypted at rest (admin)", tags=["credentials"]),
    update=extend_schema(summary="Replace a credential (admin)", tags=["credentials"]),
    partial_update=extend_schema(summary="Change a credential (admin)", tags=["credentials"]),
    destroy=extend_schema(summary="Delete a credential (admin)", tags=["credentials"]),
)
class CredentialViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    serializer_class = CredentialSerializer
    selector = selectors.credential_list
    filterset_class = CredentialFilter
    action_permissions = {"update": MANAGE, "partial_update": MANAGE, "destroy": MANAGE, "oauth2_authorize": MANAGE}

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        organization = Organization.objects.get(pk=data.pop("organization"))
        self.require(MANAGE, organization)
        credential = services.credential_create(
            organization=organization, created_by=self.access.person, actor=self.access, **data
        )
        serializer.instance = credential

    def perform_update(self, serializer):
        services.credential_update(credential=serializer.instance, actor=self.access, **serializer.validated_data)

    def perform_destroy(self, instance):
        services.credential_delete(credential=instance, actor=self.access)

    @extend_schema(
        summary="The provider's consent URL of an OAuth2 authorization code credential (admin)",
        description="Open it in a browser logged in as the same user: the provider sends the user back to "
        "`/oauth2/callback/`, which stores the tokens in the credential. The state is signed and bound to the user "
        "and the credential; PKCE (S256) is used.",
        tags=["credentials"],
        request=None,
        responses={200: OAuth2AuthorizeSerializer},
    )
    @action(detail=True, methods=["post"], url_path="oauth2-authorize")
    def oauth2_authorize(self, request, pk=None):
        credential = self.get_object()
        if self.access.user is None:
            raise PermissionDenied(OAUTH2_NEEDS_A_USER)
        url = oauth2_authorize_url(
            credential=credential, user_id=self.access.user.pk, redirect_uri=callback_url(request._request)
        )
        return Response({"authorize_url": url})


@extend_schema_view(
    list=extend_schema(summary="Form submissions (valid and invalid) of your form triggers", tags=["triggers"]),
    retrieve=extend_schema(summary="One form submission", tags=["triggers"]),
)
class FormSubmissionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Read-only: submissions arrive through the public form page and endpoint."""

    serializer_class = FormSubmissionSerializer
    selector = selectors.form_submission_list
    filterset_class = FormSubmissionFilter
