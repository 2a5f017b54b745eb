"""`/execution-filters/`: the caller's saved searches of the execution list (applied with `?saved=<id>`)."""

from django.db import transaction
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from apps.core.api.serializers import StrictModelSerializer
from apps.executions import saved_filters
from apps.executions.models import SavedExecutionFilter
from apps.orgs.api.viewsets import ScopedViewSet
from apps.orgs.models import Organization
from apps.orgs.policy import VIEW

TAGS = ["executions"]


class SavedExecutionFilterSerializer(StrictModelSerializer):
    organization = serializers.UUIDField(source="organization_id", required=False)
    query = serializers.JSONField(help_text='The execution list\'s query parameters, e.g. {"status": "failed"}.')

    class Meta:
        model = SavedExecutionFilter
        fields = ["id", "organization", "name", "query", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_organization(self, value):
        if value not in self.context["access"].organization_ids():
            raise serializers.ValidationError("Not found in your organizations.")
        return value


@extend_schema_view(
    list=extend_schema(summary="Your saved execution filters", tags=TAGS),
    retrieve=extend_schema(summary="One of your saved execution filters", tags=TAGS),
    create=extend_schema(summary="Save a filter of the execution list under a name", tags=TAGS),
    partial_update=extend_schema(summary="Rename a saved filter or change its query", tags=TAGS),
    update=extend_schema(summary="Replace a saved filter", tags=TAGS),
    destroy=extend_schema(summary="Delete a saved filter", tags=TAGS),
)
class SavedExecutionFilterViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedViewSet,
):
    """Saved filters belong to their person: every one of them is theirs to change (VIEW is the only need)."""

    serializer_class = SavedExecutionFilterSerializer
    action_permissions = {action: VIEW for action in ("create", "update", "partial_update", "destroy")}

    def get_queryset(self):
        return saved_filters.saved_filter_list(user=self.access.person).filter(
            organization_id__in=self.access.organization_ids()
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "access": self.access}

    def perform_create(self, serializer):
        if self.access.person is None:
            raise serializers.ValidationError({"": ["Saved filters belong to people: sign in as one."]})
        data = dict(serializer.validated_data)
        organization_id = data.pop("organization_id", None)
        if organization_id is None:
            ids = self.access.organization_ids()
            if len(ids) != 1:
                raise serializers.ValidationError({"organization": ["This field is required."]})
            organization_id = next(iter(ids))
        with transaction.atomic():
            serializer.instance = saved_filters.saved_filter_create(
                user=self.access.person, organization=Organization.objects.get(pk=organization_id), **data
            )

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        data.pop("organization_id", None)
        serializer.instance = saved_filters.saved_filter_update(saved=serializer.instance, **data)

    def perform_destroy(self, instance):
        saved_filters.saved_filter_delete(saved=instance)
