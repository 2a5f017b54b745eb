"""`/alert-rules/`: an organization's alert rules (owners and admins), and a test message through one."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.api.serializers import StrictModelSerializer
from apps.executions import alerts
from apps.executions.alert_models import AlertMessage, AlertRule
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.models import Organization
from apps.orgs.policy import MANAGE
from apps.workflows.models import Workflow

TAGS = ["alerts"]


class AlertRuleSerializer(StrictModelSerializer):
    organization = serializers.UUIDField(source="organization_id", required=False)
    workflow = serializers.UUIDField(
        source="workflow_id", allow_null=True, required=False, help_text="Only this workflow's runs (null: all)."
    )
    signing_secret = serializers.CharField(
        max_length=200, required=False, allow_blank=True, write_only=True, help_text="Webhook: the HMAC key."
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "organization",
            "name",
            "kind",
            "workflow",
            "channel",
            "target",
            "signing_secret",
            "threshold_percent",
            "min_runs",
            "window_minutes",
            "digest_minutes",
            "is_active",
            "checked_until",
            "last_sent_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "checked_until", "last_sent_at", "last_error", "created_at", "updated_at"]

    def validate(self, attrs):
        access = self.context["access"]
        if self.instance is not None:
            if attrs.pop("organization_id", self.instance.organization_id) != self.instance.organization_id:
                raise serializers.ValidationError({"organization": ["An alert rule cannot move."]})
            organization_id = self.instance.organization_id
        else:
            organization_id = attrs.pop("organization_id", None)
            ids = access.organization_ids()
            if organization_id is None and len(ids) == 1:
                organization_id = next(iter(ids))
            if organization_id is None:
                raise serializers.ValidationError({"organization": ["This field is required."]})
            if organization_id not in ids:
                raise serializers.ValidationError({"organization": ["Not found in your organizations."]})
            attrs["organization"] = organization_id
        if "workflow_id" in attrs:
            attrs["workflow"] = _workflow(attrs.pop("workflow_id"), organization_id)
        return attrs


def _workflow(pk, organization_id) -> Workflow | None:
    if pk is None:
        return None
    workflow = Workflow.objects.filter(pk=pk, organization_id=organization_id).first()
    if workflow is None:
        raise serializers.ValidationError({"workflow": [alerts.WORKFLOW_OTHER_ORGANIZATION]})
    return workflow


class AlertMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertMessage
        fields = ["id", "rule", "subject", "count", "test", "delivered", "error", "payload", "created_at"]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="Alert rules of the organizations you manage", tags=TAGS),
    retrieve=extend_schema(summary="One alert rule", tags=TAGS),
    create=extend_schema(summary="Create an alert rule (owner or admin)", tags=TAGS),
    partial_update=extend_schema(summary="Change an alert rule", tags=TAGS),
    update=extend_schema(summary="Replace an alert rule", tags=TAGS),
    destroy=extend_schema(summary="Delete an alert rule", tags=TAGS),
)
class AlertRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Rules hold outgoing URLs and addresses: only the owners and admins of their organization see them."""

    serializer_class = AlertRuleSerializer
    selector = alerts.alert_rule_list
    action_permissions = {"update": MANAGE, "partial_update": MANAGE, "destroy": MANAGE, "test": MANAGE}

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        organization = Organization.objects.get(pk=data.pop("organization"))
        self.require(MANAGE, organization)
        serializer.instance = alerts.alert_rule_create(organization=organization, actor=self.access, **data)

    def perform_update(self, serializer):
        alerts.alert_rule_update(rule=serializer.instance, actor=self.access, **serializer.validated_data)

    def perform_destroy(self, instance):
        alerts.alert_rule_delete(rule=instance, actor=self.access)

    @extend_schema(
        summary="Send a test message through the rule's channel now",
        tags=TAGS,
        request=None,
        responses={200: AlertMessageSerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        message = alerts.alert_rule_test(rule=self.get_object(), actor=self.access)
        return Response(AlertMessageSerializer(message).data)
