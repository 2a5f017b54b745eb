"""The files of an execution on its admin page, each with a short-lived download link."""

from django.contrib import admin
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdminMixin
from apps.orgs.admin_scoping import OrgScopedAdminMixin, TenantAdminMixin

from .file_models import ExecutionFile
from .files import execution_file_url


class ExecutionFileInline(ReadOnlyAdminMixin, OrgScopedAdminMixin, admin.TabularInline):
    """Uploads (their form field) and files the nodes wrote (their node), oldest first."""

    model = ExecutionFile
    fields = ["name", "content_type", "size", "node_id", "field", "sha256", "download"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    extra = 0

    @admin.display(description="download")
    def download(self, file: ExecutionFile) -> str:
        return format_html('<a href="{}">download</a>', execution_file_url(file=file))


@admin.register(ExecutionFile)
class ExecutionFileAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Every organization's files, newest first: find a file by name, node or execution and download it."""

    list_display = ["name", "execution", "node_id", "field", "content_type", "size", "created_at", "download"]
    list_filter = ["content_type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "node_id", "field", "sha256"]
    list_select_related = ["execution"]
    ordering = ["-created_at"]

    @admin.display(description="download")
    def download(self, file: ExecutionFile) -> str:
        return format_html('<a href="{}">download</a>', execution_file_url(file=file))
