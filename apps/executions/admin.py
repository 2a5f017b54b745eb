"""Back office for executions, node executions and execution events: the platform writes them, staff read them.

Verbs on executions (run, pause, cancel, retry) are admin actions declared with
`@admin.action(permissions=["run"])` and listed in `actions`; `has_run_permission` (OrgScopedAdminMixin)
grants them to the roles that run workflows.
"""

from typing import cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import F
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core.admin import ReadOnlyAdminMixin, admin_actor, badge, format_duration, json_display, status_badge
from apps.core.errors import ApplicationError
from apps.orgs.admin_scoping import OrgScopedAdminMixin, TenantAdminMixin
from apps.workflows.admin import WorkflowAdmin

from . import admin_alerts, services  # noqa: F401  (admin_alerts registers the alert admins)
from .admin_debugging import install as install_debugging
from .admin_files import ExecutionFileInline
from .admin_ops import install as install_ops
from .choices import BreakerState, NodeStatus
from .engine.runtime import SUSPEND_APPROVAL
from .models import CircuitBreaker, ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution
from .triggers import webhook_delivery_replay

#: Times in these admins show seconds (Django's default DATETIME_FORMAT stops at minutes: a node's run is seconds).
SECONDS_FORMAT = "Y-m-d H:i:s"


def node_duration_ms(node: NodeExecution) -> int | None:
    """The recorded duration, or the one implied by the timestamps while the engine has not recorded it."""
    if node.duration_ms is not None:
        return node.duration_ms
    if node.started_at and node.finished_at:
        return int((node.finished_at - node.started_at).total_seconds() * 1000)
    return None


def seconds_display(field_name: str, description: str | None = None):
    """A column showing the datetime `field_name` to the second, in the current time zone."""

    @admin.display(description=description or field_name.replace("_", " "), ordering=field_name)
    def display(self, obj) -> str:
        value = getattr(obj, field_name)
        return date_format(timezone.localtime(value), SECONDS_FORMAT) if value else "—"

    return display


class NodeTimesMixin:
    """The times of a node run to the second, its compute time and how long it waited."""

    queued = seconds_display("queued_at", "first queued")
    started = seconds_display("started_at", "started")
    finished = seconds_display("finished_at", "finished")

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: NodeExecution) -> str:
        return format_duration(node_duration_ms(obj))

    @admin.display(description="waited")
    def waited(self, obj: NodeExecution) -> str:
        return format_duration(obj.waited_ms)


class NodeExecutionInline(NodeTimesMixin, ReadOnlyAdminMixin, OrgScopedAdminMixin, admin.TabularInline):
    """The execution's nodes in the order they ran (not yet started ones last)."""

    model = NodeExecution
    fields = ["node_id", "node_type", "status_label", "attempt", "started", "finished", "duration", "waited"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    show_change_link = True
    extra = 0

    status_label = status_badge()

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).order_by(F("started_at").asc(nulls_last=True), "created_at", "node_id")


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = [
        "short_id",
        "workflow",
        "organization",
        "status_label",
        "trigger_kind",
        "created",
        "started",
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
        "created",
        "started",
        "finished",
        "duration",
        "last_seq",
        "events_link",
        "trigger_data_json",
        "variables_override_json",
        "context_json",
        "output_json",
        "error_json",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    inlines = [NodeExecutionInline, ExecutionFileInline]

    status_label = status_badge()
    trigger_data_json = json_display("trigger_data", "trigger data")
    context_json = json_display("context")
    variables_override_json = json_display("variables_override", "variables override")
    output_json = json_display("output")
    error_json = json_display("error")
    created = seconds_display("created_at", "created")
    started = seconds_display("started_at", "started")
    finished = seconds_display("finished_at", "finished")

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
class NodeExecutionAdmin(NodeTimesMixin, ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = [
        "node_id",
        "execution",
        "node_type",
        "status_label",
        "attempt",
        "started",
        "finished",
        "duration",
        "waited",
    ]
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
        "queued",
        "started",
        "finished",
        "duration",
        "waited",
        "lease_expires_at",
        "wake_at",
        "ports",
        "input_json",
        "rendered_config_json",
        "output_json",
        "error_json",
        "state_json",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets

    status_label = status_badge()
    input_json = json_display("input")
    rendered_config_json = json_display("rendered_config", "rendered config")
    output_json = json_display("output")
    error_json = json_display("error")
    state_json = json_display("state", "engine state")


@admin.register(ExecutionEvent)
class ExecutionEventAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ["execution", "seq", "type", "node_id", "at_seconds"]
    list_filter = ["type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["type", "node_id", "execution__workflow__name"]
    date_hierarchy = "at"
    list_select_related = ["execution__workflow"]
    fields = ["execution", "organization", "seq", "type", "node_id", "at", "data_json"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets

    data_json = json_display("data")
    at_seconds = seconds_display("at", "at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """The webhook inbox: every call of a webhook trigger and what became of it; "replay" starts it again."""

    list_display = [
        "received",
        "outcome_badge",
        "status_code",
        "trigger",
        "execution",
        "idempotency_key",
        "remote_addr",
        "organization",
    ]
    list_filter = [
        "outcome",
        ("trigger", admin.RelatedOnlyFieldListFilter),
        ("organization", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["idempotency_key", "message_id", "trigger__name", "trigger__workflow__name", "remote_addr"]
    date_hierarchy = "created_at"
    list_select_related = ["trigger__workflow", "execution__workflow", "organization"]
    fields = [
        "received",
        "trigger",
        "organization",
        "outcome",
        "status_code",
        "detail",
        "execution",
        "method",
        "remote_addr",
        "signature_scheme",
        "message_id",
        "idempotency_key",
        "content_type",
        "headers_json",
        "query_json",
        "body",
        "body_truncated",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    received = seconds_display("created_at", "received")
    headers_json = json_display("headers")
    query_json = json_display("query")

    @admin.display(description="outcome", ordering="outcome")
    def outcome_badge(self, obj: WebhookDelivery) -> SafeString:
        return badge(obj.outcome, obj.get_outcome_display())


DELIVERIES_REPLAYED = "Replayed {count} deliverie(s) as new executions."
DELIVERIES_NOT_REPLAYED = "Not replayed: {reasons}"


@admin.action(description="Replay selected deliveries (start a new execution from each)", permissions=["run"])
def replay_deliveries(modeladmin, request: HttpRequest, queryset) -> None:
    started, refused = 0, []
    for delivery in queryset.select_related("trigger__workflow__organization"):
        try:
            webhook_delivery_replay(delivery=delivery, user=request.user, actor=admin_actor(request))
        except (ApplicationError, ValidationError) as error:
            reason = getattr(error, "message", None) or "; ".join(cast(ValidationError, error).messages)
            refused.append(f"{str(delivery.pk)[:8]} ({reason})")
            continue
        started += 1
    if started:
        modeladmin.message_user(request, DELIVERIES_REPLAYED.format(count=started), messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, DELIVERIES_NOT_REPLAYED.format(reasons="; ".join(refused)), messages.ERROR)


WebhookDeliveryAdmin.actions = [replay_deliveries]  # type: ignore[misc]


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Circuit breakers that have opened, per organization, node type and target; "reset" closes them.

    The engine keeps a breaker's live state in the cache; these rows follow its transitions. An open breaker whose
    cool-down has passed lets the next node through as a probe: it shows as "probe due".
    """

    list_display = [
        "node_type",
        "target_label",
        "organization",
        "state_now",
        "failures",
        "opened_until_seconds",
        "updated",
        "last_error_short",
    ]
    list_filter = ["state", "node_type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["node_type", "target", "last_error"]
    list_select_related = ["organization"]
    fields = [
        "organization",
        "node_type",
        "target_label",
        "state_now",
        "failures",
        "opened_until_seconds",
        "updated",
        "last_error",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    opened_until_seconds = seconds_display("opened_until", "opened until")
    updated = seconds_display("updated_at", "last transition")

    @admin.display(description="target", ordering="target")
    def target_label(self, obj: CircuitBreaker) -> str:
        return obj.target or "(the node type)"

    @admin.display(description="state", ordering="state")
    def state_now(self, obj: CircuitBreaker) -> SafeString:
        if obj.state == BreakerState.OPEN and obj.opened_until and obj.opened_until <= timezone.now():
            return badge(BreakerState.HALF_OPEN, "Open, probe due")
        return badge(obj.state, obj.get_state_display())

    @admin.display(description="last error")
    def last_error_short(self, obj: CircuitBreaker) -> str:
        return obj.last_error if len(obj.last_error) <= 80 else f"{obj.last_error[:79]}…"


BREAKERS_RESET = "Reset {count} circuit breaker(s); {woken} node(s) they had parked run now."


@admin.action(description="Reset (close) selected circuit breakers", permissions=["run"])
def reset_circuit_breakers(modeladmin, request: HttpRequest, queryset) -> None:
    count = woken = 0
    for row in queryset.select_related("organization"):
        woken += services.circuit_breaker_reset(circuit_breaker=row, actor=admin_actor(request))
        count += 1
    modeladmin.message_user(request, BREAKERS_RESET.format(count=count, woken=woken), messages.SUCCESS)


CircuitBreakerAdmin.actions = [reset_circuit_breakers]  # type: ignore[misc]


# --- operator actions (the engine's control services) -----------------------------------------------------

ACTION_DONE = "{verb}: {done} execution(s)."
ACTION_SKIPPED = "{verb} skipped {count}: {reasons}"


def _apply(modeladmin: admin.ModelAdmin, request: HttpRequest, executions, verb: str, call) -> None:
    """Run `call(execution)` on each selected execution; report what was done and what was refused and why.

    The services write the audit rows (`execution.pause`, ...), as for the API.
    """
    done, refused = 0, []
    for execution in executions:
        try:
            call(execution)
        except ApplicationError as error:
            refused.append(f"{str(execution.pk)[:8]} ({error.message})")
            continue
        done += 1
    modeladmin.message_user(request, ACTION_DONE.format(verb=verb, done=done), messages.SUCCESS)
    if refused:
        reasons = "; ".join(refused)
        modeladmin.message_user(
            request, ACTION_SKIPPED.format(verb=verb, count=len(refused), reasons=reasons), messages.WARNING
        )


def _awaiting_approval(execution: WorkflowExecution) -> list[str]:
    return list(
        execution.node_executions.filter(status=NodeStatus.WAITING, state__suspend__kind=SUSPEND_APPROVAL).values_list(
            "node_id", flat=True
        )
    )


def _decide_all(request: HttpRequest, service):
    def decide(execution: WorkflowExecution) -> None:
        waiting = _awaiting_approval(execution)
        if not waiting:
            raise ApplicationError(NOTHING_TO_APPROVE)
        for node_id in waiting:
            actor = admin_actor(request)
            service(execution=execution, node_id=node_id, user=actor, comment="from the admin", actor=actor)

    return decide


NOTHING_TO_APPROVE = "no node is waiting for an approval"


def _by(request: HttpRequest, service):
    """`service` applied to one execution by the admin user (who is also the audit row's actor)."""
    actor = admin_actor(request)
    return lambda execution: service(execution=execution, user=actor, actor=actor)


@admin.action(description="Pause selected executions", permissions=["run"])
def pause_executions(modeladmin, request: HttpRequest, queryset) -> None:
    _apply(modeladmin, request, queryset, "Paused", _by(request, services.execution_pause))


@admin.action(description="Resume selected executions", permissions=["run"])
def resume_executions(modeladmin, request: HttpRequest, queryset) -> None:
    _apply(modeladmin, request, queryset, "Resumed", _by(request, services.execution_resume))


@admin.action(description="Cancel selected executions", permissions=["run"])
def cancel_executions(modeladmin, request: HttpRequest, queryset) -> None:
    _apply(modeladmin, request, queryset, "Cancelled", _by(request, services.execution_cancel))


@admin.action(description="Retry the failed nodes of selected executions", permissions=["run"])
def retry_failed_executions(modeladmin, request: HttpRequest, queryset) -> None:
    _apply(modeladmin, request, queryset, "Retried", _by(request, services.execution_retry_failed))


@admin.action(description="Approve the waiting approvals of selected executions", permissions=["run"])
def approve_executions(modeladmin, request: HttpRequest, queryset) -> None:
    _apply(modeladmin, request, queryset, "Approved", _decide_all(request, services.execution_approve))


@admin.action(description="Reject the waiting approvals of selected executions", permissions=["run"])
def reject_executions(modeladmin, request: HttpRequest, queryset) -> None:
    _apply(modeladmin, request, queryset, "Rejected", _decide_all(request, services.execution_reject))


@admin.action(description="Run selected workflows now", permissions=["run"])
def run_workflows_now(modeladmin, request: HttpRequest, queryset) -> None:
    """Start each selected workflow with an empty input, as a manual run by the admin user."""
    started, refused = [], []
    for workflow in queryset.select_related("organization"):
        try:
            actor = admin_actor(request)
            execution = services.execution_start(
                workflow=workflow, trigger_kind="manual", triggered_by=actor, actor=actor
            )
        except (ApplicationError, ValidationError) as error:
            reason = getattr(error, "message", None) or "; ".join(cast(ValidationError, error).messages)
            refused.append(f"{workflow.name} ({reason})")
            continue
        started.append(execution)
    if started:
        url = reverse("admin:executions_workflowexecution_changelist")
        modeladmin.message_user(
            request,
            format_html('Started {} execution(s): <a href="{}">see executions</a>.', len(started), url),
            messages.SUCCESS,
        )
    if refused:
        modeladmin.message_user(request, "Not started: " + "; ".join(refused), messages.ERROR)


WorkflowExecutionAdmin.actions = [  # type: ignore[misc]
    *(WorkflowExecutionAdmin.actions or []),  # type: ignore[misc]
    pause_executions,
    resume_executions,
    cancel_executions,
    retry_failed_executions,
    approve_executions,
    reject_executions,
]
install_debugging(WorkflowExecutionAdmin)
install_ops(WorkflowExecutionAdmin, NodeExecutionAdmin, WorkflowAdmin)
# Starting executions belongs to this app (workflows must not import executions): add the action here.
WorkflowAdmin.actions = [*(WorkflowAdmin.actions or []), run_workflows_now]
