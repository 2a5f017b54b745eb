"""Serializers of workflows, versions, triggers and credentials."""

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from apps.core.api.serializers import StrictModelSerializer, StrictSerializer
from apps.orgs import policy
from apps.orgs.policy import EXECUTE
from apps.workflows.choices import TriggerKind
from apps.workflows.models import (
    ERROR_WORKFLOW_OTHER_ORGANIZATION,
    Credential,
    FormSubmission,
    Trigger,
    Workflow,
    WorkflowVersion,
)
from apps.workflows.n8n import is_n8n_document
from apps.workflows.selectors import shared_workflow_permissions
from apps.workflows.trigger_kinds import trigger_kinds
from apps.workflows.triggers import (
    SCHEDULE_SOURCE_NODE,
    SCHEDULE_SOURCE_TRIGGER,
    STATE_INACTIVE,
    STATE_LIVE,
    STATE_NO_SCHEDULE,
    STATE_NO_START_NODE,
    STATE_WORKFLOW_INACTIVE,
    start_node,
    trigger_schedule,
    trigger_state,
)
from apps.workflows.validation import node_specs, problems_payload, workflow_definition_problems

TRIGGER_STATES = [STATE_LIVE, STATE_INACTIVE, STATE_WORKFLOW_INACTIVE, STATE_NO_START_NODE, STATE_NO_SCHEDULE]

MUST_BE_OBJECT = "Must be a JSON object."
UNKNOWN_USER = "No user with this username or email."


NOT_N8N_LIST = "A list must hold n8n workflows (each with nodes and connections)."


def _export_or_n8n(value):
    """An export document (an object), or n8n workflow JSON: an object, or a list of objects (several)."""
    if isinstance(value, list):
        if not is_n8n_document(value):
            raise serializers.ValidationError(NOT_N8N_LIST)
        return value
    return _object(value)


def _object(value):
    if not isinstance(value, dict):
        raise serializers.ValidationError(MUST_BE_OBJECT)
    return value


if TYPE_CHECKING:
    SerializerBase = serializers.Serializer
else:
    SerializerBase = object


class OrganizationChoiceMixin(SerializerBase):
    """`organization` on create: any of the caller's organizations; may be left out when there is only one."""

    def validate_organization(self, value):
        access = self.context["access"]
        if value not in access.organization_ids():
            raise serializers.ValidationError("Not found in your organizations.")
        return value

    def resolve_organization(self, attrs: dict) -> dict:
        if self.instance is None and not attrs.get("organization"):
            ids = self.context["access"].organization_ids()
            if len(ids) != 1:
                raise serializers.ValidationError({"organization": ["This field is required."]})
            attrs["organization"] = next(iter(ids))
        return attrs


class ProblemSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="JSON pointer into the definition.")
    message = serializers.CharField()
    code = serializers.CharField(required=False)


TRIGGERS_ONLY_ON_CREATE = "Triggers are given when the workflow is created; change them at /api/v1/triggers/."


class WorkflowTriggerInputSerializer(StrictSerializer):
    """One trigger of the specification's `POST /workflows` `triggers` array (the fields of POST /triggers/)."""

    kind = serializers.CharField(max_length=50, help_text="A trigger kind (GET /api/v1/trigger-kinds/ lists them).")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    config = serializers.JSONField(required=False, validators=[_object], help_text="As on POST /triggers/.")
    is_active = serializers.BooleanField(required=False, default=True)
    signing_secret = serializers.CharField(
        max_length=128, required=False, write_only=True, help_text="Webhook triggers only: a sender's secret."
    )


def _error_workflow(pk, organization_id) -> Workflow | None:
    """The workflow `pk` of the organization; one of another organization reads as one that does not exist."""
    if pk is None:
        return None
    workflow = Workflow.objects.filter(pk=pk, organization_id=organization_id).first()
    if workflow is None:
        raise serializers.ValidationError({"error_workflow": [ERROR_WORKFLOW_OTHER_ORGANIZATION]})
    return workflow


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Webhook to log",
            request_only=True,
            value={
                "name": "Big orders",
                "definition": {
                    "nodes": [
                        {"id": "in", "type": "webhook", "config": {}},
                        {"id": "check", "type": "if_else", "config": {"condition": "{{ trigger.body.amount > 100 }}"}},
                        {"id": "log", "type": "log", "config": {"message": "big order {{ trigger.body.amount }}"}},
                    ],
                    "edges": [
                        {"source": "in", "target": "check"},
                        {"source": "check", "source_port": "true", "target": "log"},
                    ],
                },
            },
        )
    ]
)
class WorkflowSerializer(OrganizationChoiceMixin, StrictModelSerializer):
    organization = serializers.UUIDField(source="organization_id", required=False)
    definition = serializers.JSONField(
        validators=[_object],
        help_text="The working copy, saved even with problems (a draft); its `variables` are the workflow's.",
    )
    revision = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text="Bumped by every save. On PATCH/PUT: the revision your change is based on (or If-Match); "
        "409 when someone saved since.",
    )
    is_valid = serializers.SerializerMethodField(  # type: ignore[assignment]  # a field, named like the method
        help_text="The working definition has no problems: it can run."
    )
    problems = serializers.SerializerMethodField(help_text="What keeps the working definition from running.")
    latest_version = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField(help_text="What you may do with this workflow.")
    pins = serializers.JSONField(
        required=False,
        help_text="Pinned data: node id -> the output test runs use instead of running the node (not versioned).",
    )
    error_workflow = serializers.UUIDField(
        source="error_workflow_id",
        allow_null=True,
        required=False,
        help_text="A workflow of the same organization started with the details of each failed run of this one "
        "(null: the organization's default error workflow).",
    )
    triggers = WorkflowTriggerInputSerializer(
        many=True,
        required=False,
        write_only=True,
        help_text="On create only (the specification's shape): triggers created with the workflow, all or nothing; "
        "the 201 answer lists them under `triggers` (a webhook's signing secret shown this once).",
    )

    class Meta:
        model = Workflow
        fields = [
            "id",
            "organization",
            "name",
            "description",
            "status",
            "definition",
            "pins",
            "triggers",
            "revision",
            "is_valid",
            "problems",
            "max_concurrent_executions",
            "error_workflow",
            "is_default_error_workflow",
            "latest_version",
            "permissions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "is_valid",
            "problems",
            "latest_version",
            "permissions",
            "created_at",
            "updated_at",
        ]
        # The one default error workflow per organization is kept by the services (setting one clears the other).
        validators: list = []

    def validate_triggers(self, value):
        if self.instance is not None:
            raise serializers.ValidationError(TRIGGERS_ONLY_ON_CREATE)
        return value

    def validate(self, attrs):
        if self.instance is not None and "organization_id" in attrs:
            if attrs["organization_id"] != self.instance.organization_id:
                raise serializers.ValidationError({"organization": ["A workflow cannot move to another organization."]})
            attrs.pop("organization_id")
        if self.instance is None:
            attrs["organization"] = attrs.pop("organization_id", None)
            attrs = self.resolve_organization(attrs)
        if "error_workflow_id" in attrs:
            organization_id = self.instance.organization_id if self.instance is not None else attrs["organization"]
            attrs["error_workflow"] = _error_workflow(attrs.pop("error_workflow_id"), organization_id)
        return attrs

    def _problems(self, workflow: Workflow) -> list[dict]:
        """The working definition's problems, found once per workflow; node types read once per response."""
        cache = self.context.setdefault("definition_problems", {})  # type: ignore[attr-defined]  # a dict
        if workflow.pk not in cache:
            if "node_types" not in self.context:
                self.context["node_types"] = node_specs()  # type: ignore[index]  # a dict
            node_types = self.context["node_types"]
            problems = workflow_definition_problems(workflow.definition, node_types=node_types)
            cache[workflow.pk] = problems_payload(problems)
        return cache[workflow.pk]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_is_valid(self, workflow: Workflow) -> bool:
        return not self._problems(workflow)

    @extend_schema_field(ProblemSerializer(many=True))
    def get_problems(self, workflow: Workflow) -> list[dict]:
        return self._problems(workflow)

    @extend_schema_field(OpenApiTypes.INT)
    def get_latest_version(self, workflow: Workflow) -> int | None:
        if hasattr(workflow, "latest_version_number"):
            return workflow.latest_version_number
        return workflow.versions.order_by("-number").values_list("number", flat=True).first()

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_permissions(self, workflow: Workflow) -> list[str]:
        view = self.context.get("view")
        return sorted(view.object_permissions(workflow)) if view is not None else []


class WorkflowVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = WorkflowVersion
        fields = ["id", "workflow", "number", "definition", "created_by", "created_at"]
        read_only_fields = fields


class DefinitionInputSerializer(StrictSerializer):
    definition = serializers.JSONField(required=False, validators=[_object], help_text="Defaults to the saved one.")


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    problems = ProblemSerializer(many=True)


class DuplicateInputSerializer(StrictSerializer):
    name = serializers.CharField(required=False, max_length=200)


class ExportSerializer(serializers.Serializer):
    format = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    definition = serializers.JSONField(help_text="With its variables (older exports also had a top-level one).")
    pins = serializers.JSONField(help_text="Pinned data of the draft: node id -> output.")
    node_types = serializers.ListField(child=serializers.DictField())
    triggers = serializers.ListField(child=serializers.DictField())


class ImportInputSerializer(OrganizationChoiceMixin, StrictSerializer):
    organization = serializers.UUIDField(required=False)
    name = serializers.CharField(required=False, max_length=200)
    document = serializers.JSONField(
        validators=[_export_or_n8n],
        help_text="The output of the export action, or n8n workflow JSON: one workflow or a list of them.",
    )

    def validate(self, attrs):
        return self.resolve_organization(attrs)


class N8nImportedSerializer(serializers.Serializer):
    workflows = serializers.ListField(child=serializers.DictField(), help_text="Each imported workflow + n8n_report.")
    refused = serializers.ListField(child=serializers.DictField(), help_text="Reports of the workflows not imported.")


class TriggerScheduleSerializer(serializers.Serializer):
    cron = serializers.CharField()
    timezone = serializers.CharField()
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field named like Field.source
        choices=[SCHEDULE_SOURCE_NODE, SCHEDULE_SOURCE_TRIGGER],
        help_text="node: the workflow's schedule start node (in the version that runs); trigger: this record.",
    )
    node = serializers.CharField(allow_null=True, help_text="Id of the schedule node, when it is the source.")


@extend_schema_serializer(
    examples=[
        OpenApiExample("Signed webhook", request_only=True, value={"workflow": "<workflow id>", "kind": "webhook"}),
        OpenApiExample(
            "Weekdays at 9:00 in Paris (a manual start)",
            request_only=True,
            value={
                "workflow": "<workflow id>",
                "kind": "schedule",
                "config": {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
            },
        ),
        OpenApiExample(
            "Run a schedule start node's cron",
            request_only=True,
            value={"workflow": "<workflow id>", "kind": "schedule"},
        ),
        OpenApiExample(
            "Publish a form node",
            request_only=True,
            value={"workflow": "<workflow id>", "kind": "form"},
        ),
    ]
)
class TriggerSerializer(StrictModelSerializer):
    workflow = serializers.PrimaryKeyRelatedField(queryset=Workflow.objects.none())
    config = serializers.JSONField(
        required=False,
        validators=[_object],
        help_text="Schedules on a manual start only ({cron, timezone}). A schedule start node's, a form's or a "
        "webhook's settings are its start node's config.",
    )
    schedule = serializers.SerializerMethodField(
        help_text="Schedules: the cron beat runs and where it is declared (null for other kinds or with none)."
    )
    has_signing_secret = serializers.SerializerMethodField()
    signing_secret = serializers.CharField(
        write_only=True,
        required=False,
        max_length=128,
        help_text="Webhook triggers only: the secret a sender gave you (GitHub, Stripe, Slack, a Standard Webhooks "
        "sender), replacing the generated one. Write-only: never returned.",
    )
    webhook_url = serializers.SerializerMethodField()
    form_url = serializers.SerializerMethodField()
    public_url = serializers.SerializerMethodField(
        help_text="The public address of a kind that has one (a webhook's, a form's, a plugin kind's), else null."
    )
    state = serializers.SerializerMethodField(
        help_text="live; inactive (the trigger is switched off); workflow_inactive (the workflow is not active); "
        "start_node_missing (the workflow no longer starts with a node this kind fits); schedule_unusable (a "
        "schedule with no cron, or a schedule node's cron beat cannot run: state_detail says why)."
    )
    state_detail = serializers.SerializerMethodField(help_text="The state as a sentence for people.")
    start_node = serializers.SerializerMethodField(
        help_text="Id of the start node this trigger publishes (its config is the form or webhook), or null."
    )

    class Meta:
        model = Trigger
        fields = [
            "id",
            "organization",
            "workflow",
            "kind",
            "name",
            "config",
            "schedule",
            "is_active",
            "state",
            "state_detail",
            "start_node",
            "has_signing_secret",
            "signing_secret",
            "webhook_url",
            "form_url",
            "public_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "organization",
            "schedule",
            "state",
            "state_detail",
            "start_node",
            "has_signing_secret",
            "webhook_url",
            "form_url",
            "public_url",
            "created_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        view = self.context.get("view")
        if view is not None and "workflow" in self.fields:
            self.fields["workflow"].queryset = view.writable_workflows()

    def validate(self, attrs):
        if self.instance is not None:
            for frozen in ("workflow", "kind"):
                if frozen in attrs and attrs[frozen] != getattr(self.instance, frozen):
                    raise serializers.ValidationError({frozen: ["Cannot be changed; create another trigger."]})
                attrs.pop(frozen, None)
        return attrs

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url

    def to_representation(self, trigger: Trigger) -> dict:
        data = super().to_representation(trigger)
        if not self._may_see_token(trigger):
            data["webhook_url"] = data["form_url"] = data["public_url"] = None
        return data

    def _may_see_token(self, trigger: Trigger) -> bool:
        """The URL of a form or an unsigned webhook holds all it takes to start runs: it is shown only to callers
        who may execute the workflow (not a viewer, not a `read` API key), as the role table says."""
        spec = trigger_kinds.get(trigger.kind) if trigger.kind in trigger_kinds else None
        if spec is None or not spec.public:
            return True
        node = start_node(definition=trigger.workflow.definition, kind=trigger.kind)
        if spec.has_signing_secret and node is not None and node.get("config", {}).get("require_signature"):
            return True  # useless without the signing secret
        access = getattr(self.context.get("view"), "access", None)
        if access is None or policy.can(access, EXECUTE, trigger.organization_id):
            return True
        if "_shared_workflow_permissions" not in self.context:  # once per response, and only for such callers
            self.context["_shared_workflow_permissions"] = shared_workflow_permissions(access=access)  # type: ignore[index]
        return EXECUTE in self.context["_shared_workflow_permissions"].get(trigger.workflow_id, set())

    @extend_schema_field(serializers.ChoiceField(choices=TRIGGER_STATES))
    def get_state(self, trigger: Trigger) -> str:
        return trigger_state(trigger=trigger)[0]

    @extend_schema_field(TriggerScheduleSerializer(allow_null=True))
    def get_schedule(self, trigger: Trigger) -> dict | None:
        schedule = trigger_schedule(trigger=trigger)
        if schedule is None:
            return None
        return {"cron": schedule.cron, "timezone": schedule.timezone, "source": schedule.source, "node": schedule.node}

    @extend_schema_field(OpenApiTypes.STR)
    def get_state_detail(self, trigger: Trigger) -> str:
        return trigger_state(trigger=trigger)[1]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_start_node(self, trigger: Trigger) -> str | None:
        node = start_node(definition=trigger.workflow.definition, kind=trigger.kind)
        return node.get("id") if node is not None else None

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_signing_secret(self, trigger: Trigger) -> bool:
        return bool(trigger.signing_secret)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_webhook_url(self, trigger: Trigger) -> str | None:
        if trigger.kind != TriggerKind.WEBHOOK:
            return None
        return self._absolute(reverse("webhook", kwargs={"token": trigger.webhook_token}))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_form_url(self, trigger: Trigger) -> str | None:
        if trigger.kind != TriggerKind.FORM:
            return None
        return self._absolute(reverse("form-page", kwargs={"token": trigger.webhook_token}))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_public_url(self, trigger: Trigger) -> str | None:
        url_name = trigger_kinds.get(trigger.kind).url_name if trigger.kind in trigger_kinds else None
        if url_name is None:
            return None
        return self._absolute(reverse(url_name, kwargs={"token": trigger.webhook_token}))


class TriggerCreatedSerializer(TriggerSerializer):
    signing_secret = serializers.CharField(read_only=True, help_text="Shown only when created or rotated.")

    class Meta(TriggerSerializer.Meta):
        fields = TriggerSerializer.Meta.fields


class TriggerPublishSerializer(StrictSerializer):
    workflow = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.none(), help_text="The workflow whose form and webhook start nodes to publish."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        view = self.context.get("view")
        if view is not None:
            self.fields["workflow"].queryset = view.writable_workflows()


class CredentialSerializer(OrganizationChoiceMixin, StrictModelSerializer):
    organization = serializers.UUIDField(source="organization_id", required=False)
    data = serializers.JSONField(  # type: ignore[assignment]  # a field named like Serializer.data
        write_only=True, validators=[_object], help_text="The secret; never returned."
    )
    fields_set = serializers.SerializerMethodField(help_text="Names of the secret's fields (values never shown).")

    class Meta:
        model = Credential
        fields = ["id", "organization", "name", "kind", "data", "fields_set", "created_at", "updated_at"]
        read_only_fields = ["id", "fields_set", "created_at", "updated_at"]

    def validate(self, attrs):
        if self.instance is not None:
            if attrs.pop("organization_id", self.instance.organization_id) != self.instance.organization_id:
                raise serializers.ValidationError({"organization": ["A credential cannot move."]})
            return attrs
        attrs["organization"] = attrs.pop("organization_id", None)
        return self.resolve_organization(attrs)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_fields_set(self, credential: Credential) -> list[str]:
        return sorted(credential.data) if isinstance(credential.data, dict) else []


class FormSubmissionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FormSubmission
        fields = ["id", "trigger", "data", "errors", "execution_id", "created_at"]
        read_only_fields = fields


class ShareUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)


class ShareSerializer(serializers.Serializer):
    user = ShareUserSerializer(read_only=True)
    permissions = serializers.ListField(child=serializers.CharField(), read_only=True)


class ShareInputSerializer(StrictSerializer):
    user = serializers.CharField(max_length=254, help_text="Username or email of an existing user.")
    permissions = serializers.ListField(
        child=serializers.ChoiceField(choices=["view", "change", "execute"]),
        max_length=3,
        help_text="Exactly what the user may do with this workflow; an empty list stops sharing.",
    )

    def validate_user(self, value: str):
        user_model = get_user_model()
        user = user_model.objects.filter(username=value).first() or user_model.objects.filter(email=value).first()
        if user is None:
            raise serializers.ValidationError(UNKNOWN_USER)
        return user
