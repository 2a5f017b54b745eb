"""The ops console in the admin: stuck-run filters and the actions that fix them, and the workflow list's run columns.

Installed by `admin.py` on the execution, node execution and workflow admins (kept apart so those stay readable).
The lists stay the admins' own, so organization scoping (OrgScopedAdminMixin) and the `run` permission apply as
everywhere; the fixes are the execution services, which write the audit rows. The dashboard on the admin index is
`templatetags/ops_console.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core.admin import admin_actor
from apps.core.errors import ApplicationError

from . import services, stuck
from .choices import ExecutionStatus
from .debugging import FROM_TRIGGER, VERSION_ORIGINAL
from .models import NodeExecution, WorkflowExecution

#: The window of the workflow list's failure rate.
FAILURE_RATE_DAYS = 7
NODES_REQUEUED = "Re-queued {count} node(s)."
NOT_REQUEUED = "Not re-queued: {reasons}"
HELD_STARTED = "Started {count} held-back execution(s) that fit a free slot."
RERUN_FROM_TRIGGER_DONE = "Re-ran {count} execution(s) from the trigger as new ones."
NOT_RERUN = "Not re-run: {reasons}"
NO_STUCK_NODE = "no stuck node"
EXECUTIONS_CANCELLED = "Cancelled {count} execution(s)."
NOT_CANCELLED = "Not cancelled: {reasons}"


class StuckFilter(admin.SimpleListFilter):
    """ "Stuck" in a list's sidebar: one choice per category of `stuck.CATEGORIES` that lists this model's rows."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(category.key, category.label) for category in stuck.CATEGORIES if category.model is model_admin.model]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        category = stuck.BY_KEY.get(self.value() or "")
        if category is None or category.model is not queryset.model:
            return queryset
        return queryset & category.select(now=timezone.now())


def stuck_list_url(key: str) -> str:
    """The admin list showing the rows of one stuck category."""
    category = stuck.BY_KEY[key]
    name = "executions_workflowexecution" if category.model is WorkflowExecution else "executions_nodeexecution"
    return f"{reverse(f'admin:{name}_changelist')}?stuck={key}"


def _reason(error: Exception) -> str:
    return getattr(error, "message", None) or "; ".join(cast(ValidationError, error).messages)


def _report(modeladmin: admin.ModelAdmin, request: HttpRequest, done: str, refused: list[str], refused_text: str):
    modeladmin.message_user(request, done, messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, refused_text.format(reasons="; ".join(refused)), messages.WARNING)


@admin.action(description="Re-queue selected nodes (a new attempt; overdue waits woken now)", permissions=["run"])
def requeue_nodes(modeladmin, request: HttpRequest, queryset) -> None:
    done, refused = 0, []
    for node in queryset:
        try:
            services.node_requeue(node_execution=node, actor=admin_actor(request))
        except ApplicationError as error:
            refused.append(f"{node.node_id} of {str(node.execution_id)[:8]} ({error.message})")
            continue
        done += 1
    _report(modeladmin, request, NODES_REQUEUED.format(count=done), refused, NOT_REQUEUED)


@admin.action(description="Cancel the executions of selected nodes", permissions=["run"])
def cancel_node_executions(modeladmin, request: HttpRequest, queryset) -> None:
    executions = WorkflowExecution.objects.filter(pk__in=queryset.values("execution_id")).select_related("workflow")
    done, refused = 0, []
    for execution in executions:
        try:
            services.execution_cancel(execution=execution, user=admin_actor(request), actor=admin_actor(request))
        except ApplicationError as error:
            refused.append(f"{str(execution.pk)[:8]} ({error.message})")
            continue
        done += 1
    _report(modeladmin, request, EXECUTIONS_CANCELLED.format(count=done), refused, NOT_CANCELLED)


@admin.action(description="Re-queue the stuck nodes of selected executions", permissions=["run"])
def requeue_stuck_nodes(modeladmin, request: HttpRequest, queryset) -> None:
    """Every node of the selected executions that one of the node categories lists (lease expired, queued and never
    started, past its wake-up time), or, for an execution without one, the nodes still queued or running."""
    now = timezone.now()
    done, refused = 0, []
    for execution in queryset:
        nodes = [
            node
            for category in stuck.CATEGORIES
            if category.model is NodeExecution
            for node in category.select(now=now).filter(execution=execution)
        ] or list(execution.node_executions.filter(status__in=("queued", "running")))
        if not nodes:
            refused.append(f"{str(execution.pk)[:8]} ({NO_STUCK_NODE})")
        for node in nodes:
            try:
                services.node_requeue(node_execution=node, actor=admin_actor(request))
            except ApplicationError as error:
                refused.append(f"{node.node_id} of {str(execution.pk)[:8]} ({error.message})")
                continue
            done += 1
    _report(modeladmin, request, NODES_REQUEUED.format(count=done), refused, NOT_REQUEUED)


@admin.action(description="Re-run selected executions from the trigger (new executions)", permissions=["run"])
def rerun_from_trigger(modeladmin, request: HttpRequest, queryset) -> None:
    done, refused = 0, []
    for execution in queryset.select_related("workflow", "version"):
        try:
            services.execution_rerun(
                execution=execution,
                start_from=FROM_TRIGGER,
                version=VERSION_ORIGINAL,
                user=admin_actor(request),
                actor=admin_actor(request),
            )
        except (ApplicationError, ValidationError) as error:
            refused.append(f"{str(execution.pk)[:8]} ({_reason(error)})")
            continue
        done += 1
    _report(modeladmin, request, RERUN_FROM_TRIGGER_DONE.format(count=done), refused, NOT_RERUN)


@admin.action(description="Start held-back executions that fit a free slot", permissions=["run"])
def start_held_back(modeladmin, request: HttpRequest, queryset) -> None:
    workflows = {execution.workflow_id: execution.workflow for execution in queryset.select_related("workflow")}
    started = sum(
        services.workflow_start_held(workflow=workflow, actor=admin_actor(request)) for workflow in workflows.values()
    )
    modeladmin.message_user(request, HELD_STARTED.format(count=started), messages.SUCCESS)


# --- the workflow list's run columns ----------------------------------------------------------------------------


def with_run_stats(queryset: QuerySet, *, now=None) -> QuerySet:
    """Workflows annotated with their last run (time and status) and last week's finished and failed runs: one
    correlated subquery each, each a range over an index on (workflow, ...)."""
    since = (now or timezone.now()) - timedelta(days=FAILURE_RATE_DAYS)
    runs = WorkflowExecution.objects.filter(workflow=OuterRef("pk"))
    latest = runs.order_by("-created_at")

    def counted(*statuses: str) -> Coalesce:
        rows = runs.filter(created_at__gte=since, status__in=statuses).order_by().values("workflow")
        return Coalesce(Subquery(rows.annotate(n=Count("pk")).values("n")[:1]), 0, output_field=IntegerField())

    return queryset.annotate(
        _last_run_at=Subquery(latest.values("created_at")[:1]),
        _last_run_status=Subquery(latest.values("status")[:1]),
        _finished_week=counted(ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED),
        _failed_week=counted(ExecutionStatus.FAILED),
    )


def changelist_with_run_stats(changelist_class: type) -> type:
    """The workflow list's ChangeList, its page's rows given their run stats by one more query (`with_run_stats`
    over the page's ids). Annotating the list's own queryset instead would compute the subqueries for every
    workflow three times: the count, the date hierarchy's bounds, the page."""

    class RunStatsChangeList(changelist_class):  # type: ignore[misc,valid-type]
        def get_results(self, request: HttpRequest) -> None:
            super().get_results(request)
            rows: list[Any] = list(self.result_list)  # type: ignore[has-type]  # set by super()
            stats = with_run_stats(self.model._default_manager.filter(pk__in=[row.pk for row in rows]))
            found = {
                row["pk"]: row
                for row in stats.values("pk", "_last_run_at", "_last_run_status", "_finished_week", "_failed_week")
            }
            for row in rows:
                for name, value in found.get(row.pk, {}).items():
                    if name != "pk":
                        setattr(row, name, value)
            self.result_list = rows

    return RunStatsChangeList


def executions_url(workflow_id: Any) -> str:
    return f"{reverse('admin:executions_workflowexecution_changelist')}?workflow__id__exact={workflow_id}"


@admin.display(description="last run")
def last_run(obj) -> SafeString | str:
    if obj._last_run_at is None:
        return "—"
    when = timezone.localtime(obj._last_run_at).strftime("%Y-%m-%d %H:%M")
    return format_html(
        '<a href="{}">{}</a> <span class="cm-badge cm-badge--{}">{}</span>',
        executions_url(obj.pk),
        when,
        obj._last_run_status,
        obj._last_run_status,
    )


@admin.display(description=f"failed, last {FAILURE_RATE_DAYS} days")
def failure_rate(obj) -> str:
    if not obj._finished_week:
        return "—"
    return f"{100 * obj._failed_week / obj._finished_week:.0f} % ({obj._failed_week} of {obj._finished_week})"


@admin.display(description="executions")
def executions_link(obj) -> SafeString | str:
    if obj.pk is None:
        return "—"
    count = WorkflowExecution.objects.filter(workflow_id=obj.pk).count()
    return format_html('<a href="{}">{} execution(s)</a>', executions_url(obj.pk), count)


def install(
    execution_admin: type[admin.ModelAdmin], node_admin: type[admin.ModelAdmin], workflow_admin: type[admin.ModelAdmin]
) -> None:
    """Add the stuck filters and fixes to the execution and node lists, the run columns to the workflow list."""
    execution_admin.list_filter = [StuckFilter, *execution_admin.list_filter]
    execution_admin.actions = [
        *(execution_admin.actions or []),
        requeue_stuck_nodes,
        rerun_from_trigger,
        start_held_back,
    ]
    node_admin.list_filter = [StuckFilter, *node_admin.list_filter]
    node_admin.actions = [*(node_admin.actions or []), requeue_nodes, cancel_node_executions]

    base_changelist = workflow_admin.get_changelist

    def get_changelist(self, request: HttpRequest, **kwargs):
        return changelist_with_run_stats(base_changelist(self, request, **kwargs))

    workflow_admin.get_changelist = get_changelist  # type: ignore[method-assign]
    workflow_admin.last_run = staticmethod(last_run)  # type: ignore[attr-defined]
    workflow_admin.failure_rate = staticmethod(failure_rate)  # type: ignore[attr-defined]
    workflow_admin.executions_link = staticmethod(executions_link)  # type: ignore[attr-defined]
    workflow_admin.list_display = [*workflow_admin.list_display, "last_run", "failure_rate"]
    workflow_admin.fields = [*workflow_admin.fields, "executions_link"]  # type: ignore[misc]
    workflow_admin.readonly_fields = [*workflow_admin.readonly_fields, "executions_link"]
