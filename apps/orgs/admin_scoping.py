"""Organization scoping of the back office, as the policy (`apps/orgs/policy.py`) says.

`OrgScopedAdminMixin` is the one place where the back office decides what a staff member who is not a
superuser may see and do: rows of the organizations where they hold a Membership, with the rights
their role grants. Superusers see and may do everything. `TenantAdminMixin` adds an audit trail and
turns a service's ValidationError into a form error.
"""

import json
import uuid

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from apps.core.admin import ADMIN_CSS, ModelAdminBase, ServiceErrorsMixin, admin_actor

from . import policy
from .models import Organization
from .selectors import organization_ids_for_user
from .services import audit_log_record, audit_via


def organization_ids(request: HttpRequest, action: str | None = None) -> set:
    """Ids of the organizations where the request's user's role allows `action` (any role when None), as the policy
    says, memoized per request.

    One admin page asks the same question many times (every row's permissions, every inline, every
    foreign key field), so the answer is kept on the request.
    """
    if not request.user.is_authenticated:
        # The login page builds the app list too, before anyone has logged in.
        return set()
    roles = None if action is None else policy.roles_allowed(action)
    cache = request.__dict__.setdefault("_cm_organization_ids", {})
    if roles not in cache:
        cache[roles] = organization_ids_for_user(user=request.user, roles=roles)
    return cache[roles]


class OrgScopedAdminMixin(ModelAdminBase):
    """Scope an admin (or an inline) to the organizations where a staff member holds a Membership.

    For a non-superuser, the queryset holds only rows of their organizations, and each permission
    comes from the policy's role table for their role in the row's organization (or, in an inline, the
    parent row's): the action each admin operation needs is `view_action` (None: any role), `add_action`,
    `change_action`, `delete_action` (VIEW, CREATE, CHANGE, DELETE, MANAGE, OWN, EXECUTE of `apps.orgs.policy`).
    Foreign key choices are limited to their organizations. The organization of an existing row is read-only: rows that
    depend on it (versions, executions) keep their organization.

    Actions that operate on rows (run, pause, cancel...) declare `@admin.action(permissions=["run"])`:
    `has_run_permission` grants them to roles that may EXECUTE (`run_action`).
    """

    organization_field = "organization"
    view_action: str | None = None
    add_action: str = policy.MANAGE
    change_action: str = policy.MANAGE
    delete_action: str = policy.MANAGE
    run_action: str = policy.EXECUTE
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

    def _role_allows(self, request: HttpRequest, action: str | None, obj: models.Model | None) -> bool:
        allowed = organization_ids(request, action)
        if obj is None:
            return bool(allowed)
        return policy.organization_id_of(obj) in allowed

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser or bool(organization_ids(request))

    # A superuser holds every Django permission, so these return True for them without asking Django.
    def has_view_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.view_action, obj)

    def has_add_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.add_action, obj)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.change_action, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.delete_action, obj)

    def has_run_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.run_action, obj)

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
        writable = organization_ids(request, self.add_action) | organization_ids(request, self.change_action)
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


class AuditedAdminMixin(ModelAdminBase):
    """The back office's writes are audited by the services it calls with `actor=request.user`; the rows they
    write inside this admin's views say `"via": "admin"`.

    `audit_entity` is the older path for admins whose saves do not go through an auditing service yet: it
    records `<entity>.create`, `.update`, `.delete` from Django's admin log hooks; None records nothing here.
    """

    audit_entity: str | None = None

    def changeform_view(self, request: HttpRequest, *args, **kwargs):
        with audit_via("admin"):
            return super().changeform_view(request, *args, **kwargs)

    def delete_view(self, request: HttpRequest, *args, **kwargs):
        with audit_via("admin"):
            return super().delete_view(request, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, *args, **kwargs):
        with audit_via("admin"):  # actions run here
            return super().changelist_view(request, *args, **kwargs)

    def _audit(self, request: HttpRequest, obj: models.Model, verb: str, data: dict) -> None:
        if self.audit_entity is None:
            return
        audit_log_record(
            organization=obj if isinstance(obj, Organization) else obj.organization,  # type: ignore[attr-defined]  # a TenantModel
            actor=admin_actor(request),
            action=f"{self.audit_entity}.{verb}",
            target=obj,
            data=data,
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
