"""Building blocks every app's admin shares: organization scoping by role, JSON and status rendering.

`OrgScopedAdminMixin` is the one place where the back office decides what a staff member who is not a
superuser may see and do: rows of the organizations where they hold a Membership, with the rights
their role grants. Superusers see and may do everything. `TenantAdminMixin` adds an audit trail and
turns a service's ValidationError into a form error.
"""

import json
import uuid
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core.jsonparse import JSONTooDeep, check_depth
from apps.orgs.choices import MANAGER_ROLES, WRITER_ROLES
from apps.orgs.models import Organization
from apps.orgs.selectors import organization_ids_for_user
from apps.orgs.services import audit_log_record

ADMIN_CSS = "admin-extra/admin.css"
#: Where ServiceErrorsMixin keeps a service's error on the request while the form is rendered again.
SERVICE_ERROR = "_cm_service_error"


def organization_ids(request: HttpRequest, roles: frozenset[str] | None = None) -> set:
    """Ids of the organizations where the request's user holds one of `roles`, memoized per request.

    One admin page asks the same question many times (every row's permissions, every inline, every
    foreign key field), so the answer is kept on the request.
    """
    if not request.user.is_authenticated:
        # The login page builds the app list too, before anyone has logged in.
        return set()
    cache = request.__dict__.setdefault("_cm_organization_ids", {})
    if roles not in cache:
        cache[roles] = organization_ids_for_user(user=request.user, roles=roles)
    return cache[roles]


def organization_id_of(obj: models.Model):
    """The organization a row belongs to (an Organization belongs to itself)."""
    return obj.pk if isinstance(obj, Organization) else obj.organization_id


def adopt(target: models.Model, source: models.Model) -> models.Model:
    """Make `target` (the instance an admin form built) the row a service saved as `source`.

    The admin keeps using the instance its form built after `save_model` (inline formsets point at
    it, the success message and redirect read it), so the service's saved state is copied into it.
    """
    target.__dict__.update(source.__dict__)
    return target


def changed_model_fields(obj: models.Model, form: forms.ModelForm) -> dict:
    """The model fields `form` changed, with their new values from `obj`: the keyword arguments of an update service."""
    names = {field.name for field in obj._meta.concrete_fields}
    return {name: getattr(obj, name) for name in form.changed_data if name in names}


def json_block(value: object) -> SafeString:
    """`value` as indented JSON in a <pre>, escaped."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="cm-json">{}</pre>', text)


def json_display(field_name: str, description: str | None = None) -> Callable:
    """A read-only admin column that shows the JSON field `field_name` pretty-printed."""

    @admin.display(description=description or field_name.replace("_", " "))
    def display(self, obj: models.Model) -> SafeString:
        return json_block(getattr(obj, field_name))

    return display


def badge(value: str, label: str) -> SafeString:
    """A coloured span; admin-extra/admin.css colours it by `value`."""
    return format_html('<span class="cm-badge cm-badge--{}">{}</span>', value, label)


def status_badge(field_name: str = "status", description: str = "status") -> Callable:
    """A list column that shows the choice field `field_name` as a coloured badge."""

    @admin.display(description=description, ordering=field_name)
    def display(self, obj: models.Model) -> SafeString:
        return badge(getattr(obj, field_name), getattr(obj, f"get_{field_name}_display")())

    return display


def format_duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    if milliseconds < 60_000:
        return f"{milliseconds / 1000:.2f} s"
    minutes, seconds = divmod(milliseconds // 1000, 60)
    return f"{minutes} min {seconds} s"


class PrettyJSONFormField(forms.JSONField):
    """An editable JSON field shown indented, so definitions and configs can be read and edited."""

    widget = forms.Textarea(attrs={"rows": 16, "class": "vLargeTextField cm-json-input"})

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, indent=2, ensure_ascii=False, cls=self.encoder)

    # JSON nested past CONCERTMASTER_JSON_MAX_DEPTH is a form error, not a RecursionError (500).
    def to_python(self, value):
        if isinstance(value, str) and not self.disabled:
            try:
                check_depth(value)
            except JSONTooDeep as exc:
                raise ValidationError(exc.message, code="invalid") from exc
        return super().to_python(value)

    def bound_data(self, data, initial):
        if isinstance(data, str) and not self.disabled:
            try:
                check_depth(data)
            except JSONTooDeep:
                return forms.fields.InvalidJSONInput(data)
        return super().bound_data(data, initial)


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value back, not even the one just submitted."""

    def format_value(self, value):
        return None


class OrgScopedAdminMixin:
    """Scope an admin (or an inline) to the organizations where a staff member holds a Membership.

    For a non-superuser, the queryset holds only rows of their organizations, and each permission
    comes from their role in the row's organization (or, in an inline, the parent row's):
    `view_roles` (None: any role), `add_roles`, `change_roles`, `delete_roles`. Foreign key choices
    are limited to their organizations. The organization of an existing row is read-only: rows that
    depend on it (versions, executions) keep their organization.

    Actions that operate on rows (run, pause, cancel...) declare `@admin.action(permissions=["run"])`:
    `has_run_permission` grants them to roles that run workflows.
    """

    organization_field = "organization"
    view_roles: frozenset[str] | None = None
    add_roles: frozenset[str] = MANAGER_ROLES
    change_roles: frozenset[str] = MANAGER_ROLES
    delete_roles: frozenset[str] = MANAGER_ROLES
    run_roles: frozenset[str] = WRITER_ROLES
    #: Rows deleted only as part of deleting their parent (versions, events): the parent's delete
    #: confirmation does not ask for a delete permission on them.
    cascade_delete_only = False

    class Media:
        css = {"all": [ADMIN_CSS]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.organization_field}__in": organization_ids(request)})

    def _role_allows(self, request: HttpRequest, roles: frozenset[str] | None, obj: models.Model | None) -> bool:
        allowed = organization_ids(request, roles)
        if obj is None:
            return bool(allowed)
        return organization_id_of(obj) in allowed

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or bool(organization_ids(request))

    # A superuser holds every Django permission, so these return True for them without asking Django.
    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.view_roles, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.add_roles, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.change_roles, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.delete_roles, obj)

    def has_run_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.run_roles, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: models.Model | None = None):
        readonly = list(super().get_readonly_fields(request, obj))
        is_inline = isinstance(self, admin.options.InlineModelAdmin)
        if obj is not None and not is_inline and self.organization_field != "pk" and "organization" not in readonly:
            readonly.append("organization")
        return readonly

    def get_autocomplete_fields(self, request: HttpRequest):
        fields = super().get_autocomplete_fields(request)
        if request.user.is_superuser:
            return fields
        # Only superusers may browse users; others pick from a list limited to their organizations.
        user_model = get_user_model()
        return [name for name in fields if self.model._meta.get_field(name).related_model is not user_model]

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if not request.user.is_superuser and "queryset" not in kwargs:
            queryset = self._scoped_choices(db_field.related_model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _scoped_choices(self, related_model: type[models.Model], request: HttpRequest) -> QuerySet | None:
        """Rows of `related_model` a non-superuser may pick: those of organizations they may write in."""
        writable = organization_ids(request, self.add_roles | self.change_roles)
        if related_model is Organization:
            return Organization.objects.filter(pk__in=writable)
        if related_model is get_user_model():
            return related_model.objects.filter(memberships__organization_id__in=writable).distinct()
        if any(field.name == "organization" for field in related_model._meta.fields):
            return related_model._default_manager.filter(organization_id__in=writable)
        return None

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """Also find a row by its full id, so an id pasted from a log or the API finds it."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            pk = uuid.UUID(search_term.strip())
        except ValueError:
            return results, may_have_duplicates
        return queryset.filter(Q(pk=pk) | Q(pk__in=results.values("pk"))), False

    def get_deleted_objects(self, objs, request: HttpRequest):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        cascade_only = {
            model._meta.verbose_name
            for model, model_admin in self.admin_site._registry.items()
            if getattr(model_admin, "cascade_delete_only", False)
        }
        return deleted, model_count, perms_needed - cascade_only, protected


class ReadOnlyAdminMixin:
    """For rows only the platform writes (versions, executions, events, the audit log): view only.

    Deleting them directly is refused too; they go when their parent goes.
    """

    cascade_delete_only = True

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return False


def add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's ValidationError on `form`: on the field it names, else above the form.

    Services address nested problems with a pointer (`config/cron`): the first segment is the field.
    """
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for key, errors in error.error_dict.items():
        field, _, pointer = key.partition("/")
        messages_ = ValidationError(errors).messages
        if field in form.fields and not form.fields[field].disabled:
            form.add_error(field, [f"{pointer}: {m}" if pointer else m for m in messages_])
        elif key == NON_FIELD_ERRORS:
            form.add_error(None, messages_)
        else:
            form.add_error(None, [f"{key}: {m}" for m in messages_])


class ServiceErrorsMixin:
    """Show a ValidationError raised by a service in `save_model` (or a delete, or an action) to the user.

    Services validate what a form cannot know (the last owner of an organization, a cron expression,
    a workflow graph). The admin calls them after the form is valid, so their error would be a server
    error. Instead the attempt is rolled back and the same submission is rendered again with the error
    on the form; a refused delete or action comes back as an error message.
    """

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            if request.method != "POST" or SERVICE_ERROR in request.__dict__:
                raise
            # changeform_view runs in a transaction: the first attempt left nothing behind.
            request.__dict__[SERVICE_ERROR] = error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        error = request.__dict__.get(SERVICE_ERROR)
        if error is None:
            return form_class

        class FormWithServiceError(form_class):
            def clean(self):
                cleaned_data = super().clean()
                add_service_error(self, error)
                return cleaned_data

        return FormWithServiceError

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def response_action(self, request: HttpRequest, queryset: QuerySet):
        try:
            with transaction.atomic():
                return super().response_action(request, queryset)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


class AuditedAdminMixin:
    """Record what staff change in the back office in the organization's AuditLog, as the API does.

    `audit_entity` names the entity in the action (`workflow` gives `workflow.create`,
    `workflow.update`, `workflow.delete`); None records nothing.
    """

    audit_entity: str | None = None

    def _audit(self, request: HttpRequest, obj: models.Model, verb: str, data: dict) -> None:
        if self.audit_entity is None:
            return
        audit_log_record(
            organization=obj if isinstance(obj, Organization) else obj.organization,
            actor=request.user,
            action=f"{self.audit_entity}.{verb}",
            target=obj,
            data={"via": "admin", **data},
        )

    def log_addition(self, request: HttpRequest, obj: models.Model, message):
        self._audit(request, obj, "create", {})
        return super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: models.Model, message):
        # The change message names the changed fields and inline rows, never their values.
        self._audit(request, obj, "update", {"changes": json.loads(json.dumps(message, default=str))})
        return super().log_change(request, obj, message)

    def log_deletions(self, request: HttpRequest, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete", {"name": str(obj)})
        return super().log_deletions(request, queryset)


class TenantAdminMixin(AuditedAdminMixin, ServiceErrorsMixin, OrgScopedAdminMixin):
    """Everything an admin of organization rows needs: scoping, audited writes, service errors on the form.

    Put it first, before `admin.ModelAdmin` (and before third-party mixins such as guardian's).
    """
