"""`/api/v1/webhooks`: the specification's webhook shape, an alias of webhook triggers (`/api/v1/triggers/`).

A webhook here is a Trigger row of kind `webhook` whose config keeps `event_type`, `url_path` and
`authentication` (apps/workflows/webhook_paths.py); creating one is `trigger_create`, deleting one is
`trigger_delete`, so both shapes see and change the same rows.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.response import Response

from apps.core.api.serializers import StrictSerializer
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.policy import MANAGE

from .. import selectors, services, webhook_paths
from ..choices import TriggerKind
from ..models import Trigger, Workflow
from .serializers import TriggerSerializer

#: Trigger fields as this shape names them (a refused create names the field the caller sent).
SPEC_FIELDS = {
    "config/url_path": "url_path",
    "config/event_type": "event_type",
    "config/authentication/header_name": "header_name",
    "config/authentication/username": "username",
    "signing_secret": "secret",
    "workflow": "workflow_id",
}


class WebhookCreateSerializer(StrictSerializer):
    workflow_id = serializers.PrimaryKeyRelatedField(
        queryset=Workflow.objects.none(), help_text="The workflow to start; it must begin with a webhook node."
    )
    event_type = serializers.CharField(required=False, allow_blank=True, max_length=200)
    url_path = serializers.CharField(
        required=False,
        max_length=webhook_paths.URL_PATH_MAX_LENGTH,
        help_text="A second address, /hooks/<organization slug>/<url_path>, unique in the organization.",
    )
    authentication = serializers.ChoiceField(
        choices=webhook_paths.AUTHENTICATIONS,
        default=webhook_paths.AUTH_HMAC,
        help_text="hmac: signed calls (X-ConcertMaster-Signature, or the webhook node's signature_scheme); header: "
        "a header (header_name) holding the secret; basic: HTTP Basic with username and the secret; none.",
    )
    header_name = serializers.CharField(required=False, max_length=100)
    username = serializers.CharField(required=False, max_length=150)
    secret = serializers.CharField(
        required=False,
        write_only=True,
        max_length=128,
        help_text="The HMAC secret, header token or Basic password; generated when not given.",
    )
    is_active = serializers.BooleanField(default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        view = self.context.get("view")
        if view is not None:
            self.fields["workflow_id"].queryset = view.writable_workflows()

    def validate(self, attrs):
        kind = attrs["authentication"]
        if "header_name" in attrs and kind != webhook_paths.AUTH_HEADER:
            raise serializers.ValidationError({"header_name": ["Only with authentication 'header'."]})
        if "username" in attrs and kind != webhook_paths.AUTH_BASIC:
            raise serializers.ValidationError({"username": ["Only with authentication 'basic'."]})
        return attrs

    def trigger_config(self) -> dict:
        data = self.validated_data
        authentication = {"type": data["authentication"]}
        for key in ("header_name", "username"):
            if key in data:
                authentication[key] = data[key]
        config = {"authentication": authentication}
        for key in ("event_type", "url_path"):
            if data.get(key):
                config[key] = data[key]
        return config


class WebhookSerializer(serializers.Serializer):
    """A webhook trigger in the specification's words."""

    id = serializers.UUIDField(read_only=True)
    workflow_id = serializers.UUIDField(read_only=True)
    event_type = serializers.CharField(read_only=True)
    url_path = serializers.CharField(read_only=True, allow_null=True)
    authentication = serializers.CharField(read_only=True)
    header_name = serializers.CharField(read_only=True, allow_null=True)
    username = serializers.CharField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(
        help_text="Where to send calls: the custom path when there is one, else the token URL (null for callers "
        "who may not start the workflow when the URL alone would start it)."
    )
    token_url = serializers.SerializerMethodField(help_text="The trigger's token URL, /hooks/<token>.")
    is_active = serializers.BooleanField(read_only=True)
    state = serializers.SerializerMethodField()
    trigger = serializers.SerializerMethodField(help_text="The same row under /api/v1/triggers/.")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, trigger: Trigger) -> dict:
        config = trigger.config or {}
        authentication = webhook_paths.authentication_of(config)
        shown = TriggerSerializer(trigger, context=self.context).data
        self._shown = shown
        return {
            "id": str(trigger.pk),
            "workflow_id": str(trigger.workflow_id),
            "event_type": config.get("event_type", ""),
            "url_path": config.get("url_path"),
            "authentication": authentication["type"],
            "header_name": authentication.get("header_name"),
            "username": authentication.get("username"),
            "url": self.get_url(trigger),
            "token_url": shown["webhook_url"],
            "is_active": trigger.is_active,
            "state": shown["state"],
            "trigger": self._absolute(reverse("trigger-detail", kwargs={"pk": trigger.pk})),
            "created_at": shown["created_at"],
            "updated_at": shown["updated_at"],
        }

    def _absolute(self, url: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_url(self, trigger: Trigger) -> str | None:
        path = (trigger.config or {}).get("url_path")
        if self._shown["webhook_url"] is None or not path:
            return self._shown["webhook_url"]
        url = reverse("webhook-path", kwargs={"organization": trigger.organization.slug, "url_path": path})
        return self._absolute(url)

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_token_url(self, trigger: Trigger) -> str | None:  # filled in to_representation
        return None

    def get_state(self, trigger: Trigger) -> str:  # filled in to_representation
        return ""

    @extend_schema_field(serializers.URLField())
    def get_trigger(self, trigger: Trigger) -> str:  # filled in to_representation
        return ""


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="The HMAC secret, token or password: shown only here.")


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, ScopedViewSet):
    """The specification's webhooks; the same rows as the webhook triggers."""

    serializer_class = WebhookSerializer
    action_permissions = {"destroy": MANAGE}

    def get_queryset(self):
        triggers = selectors.trigger_list(access=self.access).filter(kind=TriggerKind.WEBHOOK)
        return triggers.select_related("organization", "workflow")

    def writable_workflows(self):
        return selectors.workflow_list(access=self.access).filter(organization_id__in=self.access.organization_ids())

    @extend_schema(
        summary="Create a webhook (the specification's shape of a webhook trigger); its secret is in this answer only",
        tags=["triggers"],
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer},
    )
    def create(self, request):
        serializer = WebhookCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        workflow = serializer.validated_data["workflow_id"]
        self.require(MANAGE, workflow.organization_id)
        try:
            trigger = services.trigger_create(
                workflow=workflow,
                kind=TriggerKind.WEBHOOK,
                config=serializer.trigger_config(),
                is_active=serializer.validated_data["is_active"],
                signing_secret=serializer.validated_data.get("secret", ""),
                actor=self.access,
            )
        except DjangoValidationError as error:  # the trigger's field names, told in this shape's names
            raise DjangoValidationError(
                {SPEC_FIELDS.get(key, key): messages for key, messages in error.message_dict.items()}
            ) from error
        body = WebhookCreatedSerializer(trigger, context=self.get_serializer_context()).data
        body["secret"] = trigger.signing_secret
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.trigger_delete(trigger=instance, actor=self.access)
