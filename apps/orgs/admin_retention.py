"""Back office for organizations' retention periods (imported by apps/orgs/admin.py)."""

from django.contrib import admin
from django.http import HttpRequest

from apps.core.admin import admin_actor, adopt

from .admin_scoping import TenantAdminMixin
from .models import RetentionPolicy
from .retention import RETENTION_FIELDS, retention_policy_set


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TenantAdminMixin, admin.ModelAdmin):
    """How long an organization keeps each kind of row (empty: the global setting; 0: forever); admins set it."""

    list_display = ["organization", *RETENTION_FIELDS, "updated_at"]
    list_select_related = ["organization"]
    autocomplete_fields = ["organization"]
    fields = ["organization", *RETENTION_FIELDS, "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: RetentionPolicy, form, change: bool) -> None:
        days = {field: getattr(obj, field) for field in RETENTION_FIELDS}
        adopt(obj, retention_policy_set(organization=obj.organization, actor=admin_actor(request), **days))
