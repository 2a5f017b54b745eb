"""Back office for integrations: the API key is write-only, allowing private addresses is the admins' switch,
and each synced workflow shows its import report."""

from typing import cast

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from apps.core.admin import ReadOnlyAdminMixin, WriteOnlyTextarea, admin_actor, json_display, status_badge
from apps.orgs.admin_scoping import TenantAdminMixin

from .models import Integration, SyncJob, WorkflowLink
from .services import (
    integration_create,
    integration_delete,
    integration_test,
    integration_update,
    sync_job_create,
    sync_job_run,
)


class IntegrationForm(forms.ModelForm):
    new_api_key = forms.CharField(
        required=False, widget=WriteOnlyTextarea(attrs={"rows": 1}), help_text="Replaces the stored key; never shown."
    )

    class Meta:
        model = Integration
        fields = [
            "organization",
            "service",
            "name",
            "service_url",
            "configuration",
            "allow_private",
            "periodic_sync",
            "sync_interval_minutes",
        ]


class WorkflowLinkInline(admin.TabularInline):
    model = WorkflowLink
    extra = 0
    can_delete = False
    fields = ["external_id", "external_name", "workflow", "external_version", "synced_at", "report_summary"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets

    @admin.display(description="report")
    def report_summary(self, obj: WorkflowLink) -> str:
        summary = (obj.report or {}).get("summary") or {}
        refused = [n["node"] for n in (obj.report or {}).get("nodes", []) if n.get("outcome") == "not_translatable"]
        text = ", ".join(f"{k}: {v}" for k, v in summary.items())
        return f"{text}; refused: {', '.join(refused)}" if refused else text

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Integration)
class IntegrationAdmin(TenantAdminMixin, admin.ModelAdmin):
    form = IntegrationForm
    list_display = ["name", "service", "service_url", "organization", "status_display", "last_sync_at"]
    list_filter = ["service", "status", "allow_private", "periodic_sync"]
    search_fields = ["name", "service_url", "organization__name"]
    list_select_related = ["organization"]
    readonly_fields = ["has_key", "status", "last_sync_at", "last_sync_display", "created_at", "updated_at"]
    inlines = [WorkflowLinkInline]
    actions = ["test_connection", "sync_now"]
    status_display = status_badge()
    last_sync_display = json_display("last_sync_result", "last sync result")

    @admin.display(description="API key stored", boolean=True)
    def has_key(self, obj: Integration) -> bool:
        return obj.has_api_key

    def save_model(self, request: HttpRequest, obj: Integration, form, change: bool) -> None:
        key = form.cleaned_data.get("new_api_key") or None
        fields = {name: form.cleaned_data[name] for name in form.changed_data if name in IntegrationForm.Meta.fields}
        if not change:
            created = integration_create(
                organization=obj.organization,
                service_url=obj.service_url,
                api_key=key or "",
                name=obj.name,
                configuration=obj.configuration,
                allow_private=obj.allow_private,
                periodic_sync=obj.periodic_sync,
                sync_interval_minutes=obj.sync_interval_minutes,
                created_by=admin_actor(request),
                actor=admin_actor(request),
            )
            obj.pk, obj._state = created.pk, created._state
            return
        fields.pop("organization", None)
        fields.pop("service", None)  # n8n is the only service
        integration_update(
            integration=Integration.objects.get(pk=obj.pk), api_key=key, actor=admin_actor(request), **fields
        )

    def delete_model(self, request: HttpRequest, obj: Integration) -> None:
        integration_delete(integration=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for integration in queryset:
            integration_delete(integration=integration, actor=admin_actor(request))

    @admin.action(description="Test the connection")
    def test_connection(self, request: HttpRequest, queryset) -> None:
        for integration in queryset:
            result = integration_test(integration=integration, actor=admin_actor(request))
            level = messages.SUCCESS if result["ok"] else messages.ERROR
            self.message_user(request, f"{integration.name}: {result['error'] or 'connection works'}", level)

    @admin.action(description="Sync now")
    def sync_now(self, request: HttpRequest, queryset) -> None:
        for integration in queryset:
            job = sync_job_create(integration=integration, created_by=admin_actor(request), actor=admin_actor(request))
            job = cast(SyncJob, sync_job_run(job_id=str(job.pk)))  # created just above
            result = job.result or {}
            self.message_user(
                request,
                f"{integration.name}: {result.get('synced_count', 0)} in sync; errors: "
                + ("; ".join(result.get("errors", [])) or "none"),
                messages.SUCCESS if job.status == "succeeded" else messages.ERROR,
            )


@admin.register(SyncJob)
class SyncJobAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    list_display = ["id", "integration", "status", "created_at", "finished_at"]
    list_filter = ["status"]
    list_select_related = ["integration"]
    readonly_fields = ["result_display"]
    result_display = json_display("result", "result")
