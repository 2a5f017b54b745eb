"""Back office for organizations, their members, API keys and audit log."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.http import HttpRequest
from django.utils.safestring import SafeString

from apps.core.admin import (
    PrettyJSONFormField,
    ReadOnlyAdminMixin,
    admin_actor,
    adopt,
    badge,
    changed_model_fields,
    json_display,
)

from . import policy
from .admin_scoping import OrgScopedAdminMixin, TenantAdminMixin, organization_ids
from .choices import Role
from .models import ApiKey, AuditLog, Membership, Organization, OrganizationSecret, OrganizationVariable
from .services import (
    api_key_create,
    api_key_revoke,
    api_key_update,
    membership_delete,
    membership_set,
    membership_update,
    organization_create,
    organization_delete,
    organization_update,
)
from .variables import (
    SECRET_EMPTY,
    SECRET_MAX_LENGTH,
    org_secret_create,
    org_secret_delete,
    org_secret_update,
    org_variable_create,
    org_variable_delete,
    org_variable_update,
    secret_reference,
)

API_KEY_SHOWN_ONCE = "API key {name}: {raw_key} — copy it now, it is not stored and will not be shown again."
ONLY_OWNER_GRANTS_OWNER = "Only an owner can grant or take away the owner role."
JSON_FORM_FIELD: "dict[type[models.Field[Any, Any]], dict[str, Any]]" = {
    models.JSONField: {"form_class": PrettyJSONFormField}
}


def check_owner_change(request: HttpRequest, *, organization_id, roles: set) -> None:
    """Refuse to grant or take away the owner role unless the staff member is an owner there (as the API does)."""
    if (
        Role.OWNER in roles
        and not request.user.is_superuser
        and organization_id not in organization_ids(request, policy.OWN)
    ):
        raise ValidationError({"role": [ONLY_OWNER_GRANTS_OWNER]})


def save_membership(request: HttpRequest, membership: Membership) -> Membership:
    """Save a membership an admin form built: `membership_set` for a new one, `membership_update` for a role change."""
    if membership._state.adding:
        check_owner_change(request, organization_id=membership.organization_id, roles={membership.role})
        saved = membership_set(
            organization=membership.organization, user=membership.user, role=membership.role, actor=admin_actor(request)
        )
        return adopt(membership, saved)
    original = Membership.objects.get(pk=membership.pk)
    if original.role != membership.role:
        check_owner_change(request, organization_id=membership.organization_id, roles={membership.role, original.role})
        membership_update(membership=original, role=membership.role, actor=admin_actor(request))
    return adopt(membership, original)


def delete_membership(request: HttpRequest, membership: Membership) -> None:
    check_owner_change(request, organization_id=membership.organization_id, roles={membership.role})
    membership_delete(membership=membership, actor=admin_actor(request))


class MembershipInlineForm(forms.ModelForm):
    """An existing membership changes role only: another user is another membership."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:
            self.fields["user"].disabled = True


class MembershipInline(OrgScopedAdminMixin, admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Organization)
class OrganizationAdmin(TenantAdminMixin, admin.ModelAdmin):
    organization_field = "pk"
    delete_action = policy.OWN
    list_display = ["name", "slug", "member_count", "created_at"]
    search_fields = ["name", "slug"]
    date_hierarchy = "created_at"
    list_filter = ["created_at"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fields = ["name", "slug", "settings", "created_at", "updated_at"]
    formfield_overrides = JSON_FORM_FIELD
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_member_count=Count("memberships"))

    @admin.display(description="members", ordering="_member_count")
    def member_count(self, obj: Organization) -> int:
        return obj._member_count  # type: ignore[attr-defined]  # annotated by get_queryset

    def has_add_permission(self, request: HttpRequest) -> bool:  # type: ignore[override]  # not an inline
        # A new tenant is a platform decision: only superusers create organizations.
        return request.user.is_superuser

    def save_model(self, request: HttpRequest, obj: Organization, form, change: bool) -> None:
        if change:
            original = Organization.objects.get(pk=obj.pk)
            changed = changed_model_fields(obj, form)
            adopt(obj, organization_update(organization=original, actor=admin_actor(request), **changed))
            return
        organization = organization_create(
            name=obj.name, slug=obj.slug, settings=obj.settings, actor=admin_actor(request)
        )
        adopt(obj, organization)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        for membership in formset.save(commit=False):
            save_membership(request, membership)
        for membership in formset.deleted_objects:
            delete_membership(request, membership)

    def delete_model(self, request: HttpRequest, obj: Organization) -> None:
        organization_delete(organization=obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for organization in queryset:
            organization_delete(organization=organization)


@admin.register(Membership)
class MembershipAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Memberships. Only owners grant or take away the owner role; an organization keeps one owner."""

    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "user__email", "organization__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["organization", "user"]
    list_select_related = ["user", "organization"]
    fields = ["organization", "user", "role", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None):  # type: ignore[override]  # Django passes this admin's model
        return [*super().get_readonly_fields(request, obj), *(["user"] if obj is not None else [])]

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:
        save_membership(request, obj)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        delete_membership(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for membership in queryset:
            delete_membership(request, membership)


@admin.register(ApiKey)
class ApiKeyAdmin(TenantAdminMixin, admin.ModelAdmin):
    """API keys: the raw key is shown once, in a message after creation; only its hash is stored.

    Like the API, only owners and admins see an organization's keys and audit log.
    """

    view_action = policy.MANAGE
    list_display = ["name", "key_prefix", "organization", "state", "expires_at", "last_used_at", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "organization__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    fields = [
        "organization",
        "name",
        "scopes",
        "expires_at",
        "key_prefix",
        "last_used_at",
        "revoked_at",
        "created_by",
        "created_at",
    ]
    readonly_fields = ["key_prefix", "last_used_at", "revoked_at", "created_by", "created_at"]
    formfield_overrides = JSON_FORM_FIELD
    actions = ["revoke_keys"]

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"cm_{obj.prefix}_…" if obj.prefix else "—"

    @admin.display(description="state")
    def state(self, obj: ApiKey) -> SafeString:
        if obj.revoked_at is not None:
            return badge("revoked", "Revoked")
        if not obj.is_active:
            return badge("expired", "Expired")
        return badge("active", "Active")

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        if change:
            original = ApiKey.objects.get(pk=obj.pk)
            saved = api_key_update(
                api_key=original,
                name=obj.name,
                scopes=obj.scopes,
                expires_at=obj.expires_at,
                actor=admin_actor(request),
            )
            adopt(obj, saved)
            return
        api_key, raw_key = api_key_create(
            organization=obj.organization,
            name=obj.name,
            scopes=obj.scopes,
            expires_at=obj.expires_at,
            created_by=admin_actor(request),
            actor=admin_actor(request),
        )
        adopt(obj, api_key)
        messages.warning(request, API_KEY_SHOWN_ONCE.format(name=obj.name, raw_key=raw_key))

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset) -> None:
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True).select_related("organization"):
            revoked += 1
            api_key_revoke(api_key=api_key, actor=admin_actor(request))
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    view_action = policy.MANAGE
    list_display = ["at", "action", "actor", "organization", "target_type", "target_id"]
    list_filter = ["action", "target_type", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["action", "target_type", "target_id", "actor__username"]
    date_hierarchy = "at"
    list_select_related = ["actor", "organization"]
    fields = ["at", "organization", "actor", "action", "target_type", "target_id", "data_json"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    data_json = json_display("data")


@admin.register(OrganizationVariable)
class OrganizationVariableAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Variables read in expressions as `org.vars.NAME`: members add and change them, admins delete them."""

    add_action = policy.CREATE
    change_action = policy.CHANGE
    list_display = ["name", "value", "organization", "updated_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "organization__name"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    fields = ["organization", "name", "value", "description", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]

    def save_model(self, request: HttpRequest, obj: OrganizationVariable, form, change: bool) -> None:
        if change:
            original = OrganizationVariable.objects.get(pk=obj.pk)
            fields = changed_model_fields(obj, form)
            adopt(obj, org_variable_update(variable=original, actor=admin_actor(request), **fields))
            return
        variable = org_variable_create(
            organization=obj.organization,
            name=obj.name,
            value=obj.value,
            description=obj.description,
            actor=admin_actor(request),
        )
        adopt(obj, variable)

    def delete_model(self, request: HttpRequest, obj: OrganizationVariable) -> None:
        org_variable_delete(variable=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for variable in queryset:
            org_variable_delete(variable=variable, actor=admin_actor(request))


class OrganizationSecretForm(forms.ModelForm):
    """The value is write-only: an empty password input, left empty on a change to keep the stored one."""

    new_value = forms.CharField(
        required=False,
        label="Value",
        max_length=SECRET_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted, never shown again. Leave empty to keep the stored value.",
    )

    class Meta:
        model = OrganizationSecret
        fields = ["organization", "name", "description"]

    def clean(self):
        cleaned_data = super().clean()
        if self.instance._state.adding and not cleaned_data.get("new_value"):
            self.add_error("new_value", SECRET_EMPTY)
        return cleaned_data


@admin.register(OrganizationSecret)
class OrganizationSecretAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Secrets only credentials read (`{{ org.secrets.NAME }}` as a credential field): admins manage them, members
    see their names; the value is never rendered."""

    form = OrganizationSecretForm
    list_display = ["name", "reference", "organization", "updated_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "organization__name"]
    autocomplete_fields = ["organization"]
    list_select_related = ["organization"]
    fields = ["organization", "name", "reference", "new_value", "description", "created_by", "created_at"]
    readonly_fields = ["reference", "created_by", "created_at"]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).defer("value")

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "name"] if obj is not None and "name" not in fields else fields  # renaming breaks references

    @admin.display(description="credential field value")
    def reference(self, obj: OrganizationSecret) -> str:
        return secret_reference(obj.name) if obj.name else "—"

    def save_model(self, request: HttpRequest, obj: OrganizationSecret, form, change: bool) -> None:
        value = form.cleaned_data.get("new_value")
        if change:
            changes = {"description": obj.description}
            if value:
                changes["value"] = value
            original = OrganizationSecret.objects.get(pk=obj.pk)
            adopt(obj, org_secret_update(secret=original, actor=admin_actor(request), **changes))
            return
        secret = org_secret_create(
            organization=obj.organization,
            name=obj.name,
            value=value,
            description=obj.description,
            created_by=admin_actor(request),
            actor=admin_actor(request),
        )
        adopt(obj, secret)

    def delete_model(self, request: HttpRequest, obj: OrganizationSecret) -> None:
        org_secret_delete(secret=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for secret in queryset:
            org_secret_delete(secret=secret, actor=admin_actor(request))


from . import admin_retention  # noqa: E402, F401  (registers the retention policies admin)
