"""Back office for executions, node executions and execution events: the platform writes them, staff read them.

Verbs on executions (run, pause, cancel, retry) are admin actions declared with
`@admin.action(permissions=["run"])` and listed in `actions`; `has_run_permission` (OrgScopedAdminMixin)
grants them to the roles that run workflows.
"""

from django.contrib import admin
from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core.admin import (
    OrgScopedAdminMixin,
    ReadOnlyAdminMixin,
    TenantAdminMixin,
    format_duration,
    json_display,
    status_badge,
)

from .models import ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution


def node_duration_ms(node: NodeExecution) -> int | None:
    """The recorded duration, or the one implied by the timestamps while the engine has not recorded it."""
    if node.duration_ms is not None:
        return node.duration_ms
    if node.started_at and node.finished_at:
        return int((node.finished_at - node.started_at).total_seconds() * 1000)
    return None


class NodeExecutionInline(ReadOnlyAdminMixin, OrgScopedAdminMixin, admin.TabularInline):
    """The execution's nodes in the order they ran (not yet started ones last)."""

    model = NodeExecution
    fields = ["node_id", "node_type", "status_label", "attempt", "started_at", "finished_at", "duration"]
    readonly_fields = fields
    show_change_link = True
    extra = 0

    status_label = status_badge()

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).order_by(F("started_at").asc(nulls_last=True), "created_at", "node_id")

    @admin.display(description="duration")
    def duration(self, obj: NodeExecution) -> str:
        return format_duration(node_duration_ms(obj))


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = [
        "short_id",
        "workflow",
        "organization",
        "status_label",
        "trigger_kind",
        "created_at",
        "started_at",
        "duration",
        "triggered_by",
    ]
    list_filter = [
        "status",
        "trigger_kind",
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("workflow", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["workflow__name", "correlation_id"]
    date_hierarchy = "created_at"
    list_select_related = ["workflow", "organization", "triggered_by"]
    fields = [
        "id",
        "organization",
        "workflow",
        "version",
        "status_label",
        "trigger_kind",
        "triggered_by",
        "correlation_id",
        "parent",
        "parent_node_id",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "last_seq",
        "events_link",
        "trigger_data_json",
        "context_json",
        "output_json",
        "error_json",
    ]
    readonly_fields = fields
    inlines = [NodeExecutionInline]

    status_label = status_badge()
    trigger_data_json = json_display("trigger_data", "trigger data")
    context_json = json_display("context")
    output_json = json_display("output")
    error_json = json_display("error")

    @admin.display(description="id", ordering="id")
    def short_id(self, obj: WorkflowExecution) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="duration")
    def duration(self, obj: WorkflowExecution) -> str:
        return format_duration(obj.duration_ms)

    @admin.display(description="events")
    def events_link(self, obj: WorkflowExecution) -> SafeString:
        url = reverse("admin:executions_executionevent_changelist")
        return format_html('<a href="{}?execution__id__exact={}">{} event(s)</a>', url, obj.pk, obj.last_seq)


@admin.register(NodeExecution)
class NodeExecutionAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ["node_id", "execution", "node_type", "status_label", "attempt", "started_at", "duration"]
    list_filter = ["status", "node_type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["node_id", "node_type", "execution__workflow__name"]
    date_hierarchy = "created_at"
    list_select_related = ["execution__workflow"]
    fields = [
        "execution",
        "organization",
        "node_id",
        "node_type",
        "status_label",
        "attempt",
        "task_id",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "lease_expires_at",
        "wake_at",
        "ports",
        "input_json",
        "rendered_config_json",
        "output_json",
        "error_json",
        "state_json",
    ]
    readonly_fields = fields

    status_label = status_badge()
    input_json = json_display("input")
    rendered_config_json = json_display("rendered_config", "rendered config")
    output_json = json_display("output")
    error_json = json_display("error")
    state_json = json_display("state", "engine state")

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: NodeExecution) -> str:
        return format_duration(node_duration_ms(obj))


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ["execution", "seq", "type", "node_id", "at"]
    list_filter = ["type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["type", "node_id", "execution__workflow__name"]
    date_hierarchy = "at"
    list_select_related = ["execution__workflow"]
    fields = ["execution", "organization", "seq", "type", "node_id", "at", "data_json"]
    readonly_fields = fields

    data_json = json_display("data")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Idempotency keys of webhook calls and the execution each started."""

    list_display = ["idempotency_key", "trigger", "execution", "organization", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["idempotency_key", "trigger__name", "trigger__workflow__name"]
    date_hierarchy = "created_at"
    list_select_related = ["trigger__workflow", "execution__workflow", "organization"]
    fields = ["idempotency_key", "trigger", "execution", "organization", "created_at"]
    readonly_fields = fields
