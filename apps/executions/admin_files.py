"""The files of an execution on its admin page, each with a short-lived download link."""

from django.contrib import admin
from django.utils.html import format_html

from apps.core.admin import ReadOnlyAdminMixin
from apps.orgs.admin_scoping import OrgScopedAdminMixin

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
