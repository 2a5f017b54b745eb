"""The debug loop in the execution admin: re-run actions, the re-run link, and what the nodes logged.

Installed on WorkflowExecutionAdmin by `admin.py` (kept apart so the execution admin stays readable).
"""

from typing import cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdminMixin, admin_actor
from apps.core.errors import ApplicationError
from apps.orgs.admin_scoping import OrgScopedAdminMixin, TenantAdminMixin

from . import services
from .debugging import FROM_FAILED, FROM_TRIGGER, VERSION_LATEST, VERSION_ORIGINAL
from .models import ExecutionLog, SavedExecutionFilter, WorkflowExecution

RERUN_DONE = "Re-ran {count} execution(s) as new ones: {links}."
RERUN_REFUSED = "Not re-run: {reasons}"


class ExecutionLogInline(ReadOnlyAdminMixin, OrgScopedAdminMixin, admin.TabularInline):
    """What the execution's nodes logged, oldest first (bounded per execution: CONCERTMASTER_EXECUTION_LOG_*)."""

    model = ExecutionLog
    fields = ["at", "node_id", "level", "message", "metadata"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    extra = 0
    verbose_name_plural = "log"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).order_by("id")


def _rerun(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset, *, start_from: str, version: str) -> None:
    started, refused = [], []
    for execution in queryset.select_related("workflow", "version"):
        try:
            new = services.execution_rerun(
                execution=execution,
                start_from=start_from,
                version=version,
                user=admin_actor(request),
                actor=admin_actor(request),
            )
        except (ApplicationError, ValidationError) as error:
            message = getattr(error, "message", None) or "; ".join(cast(ValidationError, error).messages)
            refused.append(f"{str(execution.pk)[:8]} ({message})")
            continue
        started.append(new)
    if started:
        links = format_html(
            ", ".join(['<a href="{}">{}</a>'] * len(started)),
            *(
                part
                for new in started
                for part in (reverse("admin:executions_workflowexecution_change", args=[new.pk]), str(new.pk)[:8])
            ),
        )
        modeladmin.message_user(request, format_html(RERUN_DONE, count=len(started), links=links), messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, RERUN_REFUSED.format(reasons="; ".join(refused)), messages.WARNING)


@admin.action(description="Re-run from failed (a new execution on the same version)", permissions=["run"])
def rerun_from_failed(modeladmin, request: HttpRequest, queryset) -> None:
    _rerun(modeladmin, request, queryset, start_from=FROM_FAILED, version=VERSION_ORIGINAL)


@admin.action(description="Re-run from failed on the latest version", permissions=["run"])
def rerun_on_latest_version(modeladmin, request: HttpRequest, queryset) -> None:
    _rerun(modeladmin, request, queryset, start_from=FROM_FAILED, version=VERSION_LATEST)


@admin.display(description="re-run of")
def source_link(obj: WorkflowExecution):
    if obj.source_execution_id is None:
        return "-"
    url = reverse("admin:executions_workflowexecution_change", args=[obj.source_execution_id])
    return format_html('<a href="{}">{}</a> (from {})', url, str(obj.source_execution_id)[:8], obj.rerun_from)


@admin.display(description="re-run")
def rerun_link(obj: WorkflowExecution):
    url = reverse("admin:executions_workflowexecution_rerun", args=[obj.pk])
    return format_html('<a href="{}">Re-run from here…</a> (a node, the failed nodes or the trigger; any version)', url)


def rerun_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The admin's "Re-run from here": the same choices as the API and the editor (`from`: failed, trigger or a
    node; `version`: original or latest), one execution at a time, audited by the service."""
    execution = cast(WorkflowExecution | None, model_admin.get_object(request, object_id))
    if execution is None or not model_admin.has_run_permission(request, execution):  # type: ignore[attr-defined]
        return HttpResponse("Not found.", status=404)
    node_ids = list(execution.node_executions.order_by("created_at", "node_id").values_list("node_id", flat=True))
    choices = [(FROM_FAILED, "the failed nodes"), (FROM_TRIGGER, "the trigger (the whole run)")]
    choices += [(node_id, f"node {node_id} and what follows it") for node_id in node_ids]
    error = ""
    if request.method == "POST":
        start_from, version = request.POST.get("from", ""), request.POST.get("version", "")
        try:
            new = services.execution_rerun(
                execution=execution,
                start_from=start_from,
                version=version,
                user=admin_actor(request),
                actor=admin_actor(request),
            )
        except (ApplicationError, ValidationError) as refused:
            error = getattr(refused, "message", None) or "; ".join(cast(ValidationError, refused).messages)
        else:
            model_admin.message_user(request, f"Re-ran as {str(new.pk)[:8]}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:executions_workflowexecution_change", args=[new.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Re-run execution {str(execution.pk)[:8]}",
        "execution": execution,
        "choices": choices,
        "versions": [(VERSION_ORIGINAL, "its own version"), (VERSION_LATEST, "the workflow's latest version")],
        "error": error,
    }
    return render(request, "admin/executions/workflowexecution/rerun.html", context, status=400 if error else 200)


def install(model_admin: type[admin.ModelAdmin]) -> None:
    """Add the re-run actions and page, the debug fields and the log inline to the execution admin."""
    model_admin.actions = [*(model_admin.actions or []), rerun_from_failed, rerun_on_latest_version]
    model_admin.inlines = [*model_admin.inlines, ExecutionLogInline]
    model_admin.source_link = staticmethod(source_link)  # type: ignore[attr-defined]
    model_admin.rerun_link = staticmethod(rerun_link)  # type: ignore[attr-defined]
    base_urls = model_admin.get_urls

    def get_urls(self):
        view = self.admin_site.admin_view(lambda request, object_id: rerun_view(self, request, object_id))
        return [path("<path:object_id>/rerun/", view, name="executions_workflowexecution_rerun"), *base_urls(self)]

    model_admin.get_urls = get_urls  # type: ignore[method-assign]
    extra = ["test_run", "run_mode", "run_node_id", "source_link", "rerun_link", "custom_data"]
    model_admin.fields = [*model_admin.fields, *extra]  # type: ignore[misc]  # the execution admin lists its fields
    model_admin.readonly_fields = [*model_admin.readonly_fields, *extra]
    model_admin.list_filter = [*model_admin.list_filter, "test_run", "run_mode"]


@admin.register(SavedExecutionFilter)
class SavedExecutionFilterAdmin(TenantAdminMixin, admin.ModelAdmin):
    """People's saved searches of the execution list (the API applies one with `?saved=<id>`)."""

    list_display = ["name", "user", "organization", "query", "open_link"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "user__username"]
    list_select_related = ["user", "organization"]

    @admin.display(description="open")
    def open_link(self, obj: SavedExecutionFilter):
        return format_html('<a href="/api/v1/executions/?saved={}">executions</a>', obj.pk)


@admin.register(ExecutionLog)
class ExecutionLogAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Every line nodes logged, across executions (each execution's page shows its own)."""

    list_display = ["at", "execution", "node_id", "level", "message"]
    list_filter = ["level", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["message", "node_id", "execution__id"]
    list_select_related = ["execution__workflow"]
    fields = ["execution", "node_id", "level", "message", "metadata", "at"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
