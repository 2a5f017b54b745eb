"""Back office for node types (global rows mirrored from the registry) and organizations' datastore records."""

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.core.admin import ADMIN_CSS, PrettyJSONFormField, admin_actor, adopt, badge, json_display
from apps.orgs import policy
from apps.orgs.admin_scoping import TenantAdminMixin

from .datastore import datarecord_delete, datarecord_put
from .models import DataRecord, NodeType
from .services import node_type_set_enabled


@admin.register(NodeType)
class NodeTypeAdmin(admin.ModelAdmin):
    """Every staff member may look at node types; only superusers switch them on and off.

    The registry in code is the source of truth (`node_type_sync` mirrors it after every migrate), so
    rows are never added or deleted here, and only `is_enabled` can change.
    """

    list_display = ["name", "display_name", "category", "version", "enabled", "implementation"]
    list_filter = ["category", "is_enabled"]
    search_fields = ["name", "display_name", "description", "implementation"]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "display_name",
        "category",
        "version",
        "icon",
        "description",
        "implementation",
        "is_enabled",
        "config_schema_json",
        "inputs_json",
        "outputs_json",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [name for name in fields if name != "is_enabled"]  # type: ignore[misc]  # names only
    actions = ["enable_node_types", "disable_node_types"]

    config_schema_json = json_display("config_schema", "config schema")
    inputs_json = json_display("inputs")
    outputs_json = json_display("outputs")

    class Media:
        css = {"all": [ADMIN_CSS]}

    @admin.display(description="enabled", ordering="is_enabled")
    def enabled(self, obj: NodeType) -> SafeString:
        return badge("enabled", "Enabled") if obj.is_enabled else badge("disabled", "Disabled")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: NodeType | None = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: NodeType | None = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: NodeType | None = None) -> bool:
        # `node_type_sync` deletes the rows of types the code no longer registers.
        return False

    @admin.action(description="Enable selected node types", permissions=["change"])
    def enable_node_types(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected node types", permissions=["change"])
    def disable_node_types(self, request: HttpRequest, queryset) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request: HttpRequest, queryset, enabled: bool) -> None:
        changed = 0
        for node_type in queryset.exclude(is_enabled=enabled):
            node_type_set_enabled(node_type=node_type, is_enabled=enabled)
            changed += 1
        state = "Enabled" if enabled else "Disabled"
        self.message_user(request, f"{state} {changed} node type(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: NodeType, form, change: bool) -> None:
        adopt(obj, node_type_set_enabled(node_type=NodeType.objects.get(pk=obj.pk), is_enabled=obj.is_enabled))


@admin.register(DataRecord)
class DataRecordAdmin(TenantAdminMixin, admin.ModelAdmin):
    """The datastore the datastore nodes read and write; staff may fix or remove a record."""

    add_action = policy.CREATE
    change_action = policy.CHANGE
    list_display = ["collection", "key", "organization", "updated_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "updated_at"]
    search_fields = ["collection", "key"]
    date_hierarchy = "updated_at"
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    fields = ["organization", "collection", "key", "data", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.JSONField: {"form_class": PrettyJSONFormField}}

    def get_readonly_fields(self, request: HttpRequest, obj: DataRecord | None = None):  # type: ignore[override]  # Django passes this admin's model
        # Another collection or key is another record.
        return [*super().get_readonly_fields(request, obj), *(["collection", "key"] if obj is not None else [])]

    def save_model(self, request: HttpRequest, obj: DataRecord, form, change: bool) -> None:
        record, _ = datarecord_put(
            organization_id=obj.organization_id,
            collection=obj.collection,
            key=obj.key,
            value=obj.data,
            actor=admin_actor(request),
        )
        adopt(obj, record)

    def delete_model(self, request: HttpRequest, obj: DataRecord) -> None:
        datarecord_delete(record=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for record in queryset:
            datarecord_delete(record=record, actor=admin_actor(request))
