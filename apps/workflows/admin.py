"""Back office for workflows, their versions and triggers, credentials and form submissions."""

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Max
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from guardian.admin import GuardedModelAdminMixin

from apps.core.admin import (
    PrettyJSONFormField,
    ReadOnlyAdminMixin,
    WriteOnlyTextarea,
    admin_actor,
    adopt,
    changed_model_fields,
    json_display,
    status_badge,
)
from apps.core.errors import Conflict
from apps.nodes import credential_kinds
from apps.orgs import policy
from apps.orgs.admin_scoping import OrgScopedAdminMixin, TenantAdminMixin, organization_ids

from .choices import WorkflowStatus
from .models import Credential, FormSubmission, Trigger, Workflow, WorkflowVersion
from .selectors import triggers_with_running_definition
from .services import (
    credential_create,
    credential_delete,
    credential_update,
    trigger_create,
    trigger_delete,
    trigger_rotate_secret,
    trigger_update,
    workflow_create,
    workflow_delete,
    workflow_set_status,
    workflow_update,
    workflow_version_restore,
)
from .trigger_kinds import trigger_kinds
from .triggers import (
    SCHEDULE_SOURCE_NODE,
    SECRET_MIN_LENGTH,
    SECRET_ONLY_WEBHOOK,
    SECRET_TOO_SHORT,
    form_submission_delete,
    trigger_publish,
    trigger_schedule,
    trigger_set_secret,
    trigger_state,
)
from .validation import workflow_definition_problems

JSON_FORM_FIELD: "dict[type[models.Field[Any, Any]], dict[str, Any]]" = {
    models.JSONField: {"form_class": PrettyJSONFormField}
}
NEW_DATA_REQUIRED = "A new credential needs its secret data."
NEW_DATA_NOT_OBJECT = "Credential data must be a non-empty JSON object."
TRIGGER_FIELDS = ("kind", "name", "config", "is_active")
PUBLISHED = "{workflow}: published ({kinds}); see Triggers for the public URLs."
STALE_ADMIN_SAVE = (
    "Someone saved this workflow while you were editing it (it is now at revision {current}; you started "
    "from revision {expected}). Open it again to see their change, then make yours."
)
SCHEDULE_FROM_NODE = "{cron} ({timezone}), from the workflow's schedule node {node}"
SCHEDULE_FROM_TRIGGER = "{cron} ({timezone}), from this trigger's config"
SAVED_AS_DRAFT = "Saved as a draft: {count} problem(s) keep it from running (the latest version still runs): {problems}"
NO_PROBLEMS = "None: the definition can run."


def save_trigger(request: HttpRequest, trigger: Trigger, changed_data: list[str]) -> Trigger:
    """Save a trigger an admin form built, through `trigger_create` or `trigger_update` (which audit it)."""
    actor = admin_actor(request)
    if trigger._state.adding:
        fields = {name: getattr(trigger, name) for name in TRIGGER_FIELDS}
        return adopt(trigger, trigger_create(workflow=trigger.workflow, actor=actor, **fields))
    fields = {name: getattr(trigger, name) for name in changed_data if name in TRIGGER_FIELDS}
    return adopt(trigger, trigger_update(trigger=Trigger.objects.get(pk=trigger.pk), actor=actor, **fields))


class WorkflowVersionInline(ReadOnlyAdminMixin, OrgScopedAdminMixin, admin.TabularInline):
    model = WorkflowVersion
    fields = ["number", "created_by", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    show_change_link = True
    extra = 0

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("created_by")


class TriggerInline(OrgScopedAdminMixin, admin.StackedInline):
    model = Trigger
    fields = ["kind", "name", "is_active", "config", "webhook_token", "secret"]
    readonly_fields = ["webhook_token", "secret"]
    formfield_overrides = JSON_FORM_FIELD
    add_action = policy.CREATE
    change_action = policy.CHANGE
    extra = 0


class WorkflowAdminForm(forms.ModelForm):
    """The workflow form carries the revision it was opened at: a save based on an older one is refused."""

    base_revision = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Workflow
        fields = [
            "organization",
            "name",
            "description",
            "status",
            "definition",
            "max_concurrent_executions",
            "error_workflow",
            "is_default_error_workflow",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["base_revision"].initial = self.instance.revision
        if "error_workflow" in self.fields:  # only the workflow's own organization's, once it has one
            same = Workflow.objects.filter(organization_id=self.instance.organization_id).exclude(pk=self.instance.pk)
            field = self.fields["error_workflow"]
            field.queryset = same if self.instance.pk is not None else Workflow.objects.none()  # type: ignore[attr-defined]

    def clean(self):
        cleaned = super().clean()
        base = cleaned.get("base_revision")
        if self.instance.pk is not None and base is not None:
            current = Workflow.objects.filter(pk=self.instance.pk).values_list("revision", flat=True).first()
            if current is not None and current != base:
                raise ValidationError(STALE_ADMIN_SAVE.format(current=current, expected=base))
        return cleaned


@admin.register(Workflow)
class WorkflowAdmin(TenantAdminMixin, GuardedModelAdminMixin, admin.ModelAdmin):
    """Workflows, written through the workflow services: a changed definition is validated and recorded
    as a new version, a status change keeps schedules in step.

    "Object permissions" (django-guardian) is open to superusers and the organization's owners and
    admins, for users who are members of the workflow's organization.
    """

    add_action = policy.CREATE
    change_action = policy.CHANGE
    form = WorkflowAdminForm
    # Guardian's change form plus the editor's "Open editor" and "Run" links.
    change_form_template = "admin/workflows/workflow/change_form.html"  # type: ignore[misc]
    list_display = ["name", "organization", "status_label", "latest_version", "created_by", "updated_at"]
    list_filter = ["status", ("organization", admin.RelatedOnlyFieldListFilter), "updated_at"]
    search_fields = ["name", "description", "organization__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["organization"]
    list_select_related = ["organization", "created_by"]
    fields = [
        "organization",
        "name",
        "description",
        "status",
        "definition",
        "definition_problems",
        "max_concurrent_executions",
        "error_workflow",
        "is_default_error_workflow",
        "revision",
        "base_revision",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["definition_problems", "revision", "created_by", "created_at", "updated_at"]
    formfield_overrides = JSON_FORM_FIELD
    inlines = [TriggerInline, WorkflowVersionInline]
    actions = ["activate_workflows", "deactivate_workflows", "publish_workflows"]

    status_label = status_badge()

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(_latest_version=Max("versions__number"))

    @admin.display(description="version", ordering="_latest_version")
    def latest_version(self, obj: Workflow) -> str:
        return f"v{obj._latest_version}" if obj._latest_version else "—"  # type: ignore[attr-defined]  # annotated by get_queryset

    @admin.display(description="problems")
    def definition_problems(self, obj: Workflow) -> str:
        """What keeps the working definition from running (a draft is saved with them)."""
        if obj.pk is None:
            return "—"
        problems = workflow_definition_problems(obj.definition)
        if not problems:
            return NO_PROBLEMS
        return format_html_join(
            mark_safe("<br>"), "<code>{}</code>: {}", ((p.path or "/", p.message) for p in problems)
        )

    def save_model(self, request: HttpRequest, obj: Workflow, form, change: bool) -> None:
        if change:
            workflow = Workflow.objects.get(pk=obj.pk)
            fields = changed_model_fields(obj, form)
        else:
            workflow = workflow_create(
                organization=obj.organization,
                name=obj.name,
                definition=obj.definition,
                description=obj.description,
                max_concurrent_executions=obj.max_concurrent_executions,
                created_by=admin_actor(request),
                actor=admin_actor(request),
            )
            fields = {"status": obj.status}
        status = fields.pop("status", workflow.status)
        if fields:
            try:
                workflow = workflow_update(
                    workflow=workflow,
                    user=admin_actor(request),
                    revision=form.cleaned_data.get("base_revision"),
                    actor=admin_actor(request),
                    **fields,
                )
            except Conflict as error:  # saved by someone between the form's check and this save
                raise ValidationError(error.message) from error
        if status != workflow.status:
            workflow = workflow_set_status(workflow=workflow, status=status, actor=admin_actor(request))
        adopt(obj, workflow)
        problems = workflow_definition_problems(workflow.definition)
        if problems:
            listed = "; ".join(f"{p.path or '/'}: {p.message}" for p in problems[:5])
            self.message_user(request, SAVED_AS_DRAFT.format(count=len(problems), problems=listed), messages.WARNING)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not Trigger:
            super().save_formset(request, form, formset, change)
            return
        formset.save(commit=False)
        for trigger in formset.new_objects:
            save_trigger(request, trigger, [])
        for trigger, changed_data in formset.changed_objects:
            save_trigger(request, trigger, changed_data)
        for trigger in formset.deleted_objects:
            trigger_delete(trigger=trigger, actor=admin_actor(request))

    def delete_model(self, request: HttpRequest, obj: Workflow) -> None:
        workflow_delete(workflow=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for workflow in queryset:
            workflow_delete(workflow=workflow, actor=admin_actor(request))

    @admin.action(description="Activate selected workflows", permissions=["change"])
    def activate_workflows(self, request: HttpRequest, queryset) -> None:
        self._set_status(request, queryset, WorkflowStatus.ACTIVE, "activate")

    @admin.action(description="Deactivate selected workflows", permissions=["change"])
    def deactivate_workflows(self, request: HttpRequest, queryset) -> None:
        self._set_status(request, queryset, WorkflowStatus.INACTIVE, "deactivate")

    @admin.action(description="Publish the form and webhook start nodes of selected workflows", permissions=["change"])
    def publish_workflows(self, request: HttpRequest, queryset) -> None:
        for workflow in queryset.select_related("organization"):
            try:
                published = trigger_publish(workflow=workflow, actor=admin_actor(request))
            except ValidationError as error:
                problems = "; ".join(message for messages in error.message_dict.values() for message in messages)
                self.message_user(request, f"{workflow}: {problems}", messages.ERROR)
                continue
            kinds = ", ".join(trigger.kind for trigger, _ in published)
            self.message_user(request, PUBLISHED.format(workflow=workflow, kinds=kinds), messages.SUCCESS)

    def _set_status(self, request: HttpRequest, queryset, status: str, verb: str) -> None:
        changed = 0
        for workflow in queryset.exclude(status=status).select_related("organization"):
            workflow_set_status(workflow=workflow, status=status, actor=admin_actor(request))
            changed += 1
        self.message_user(request, f"{verb.capitalize()}d {changed} workflow(s).", messages.SUCCESS)

    def _check_object_permissions_access(self, request: HttpRequest, object_pk: str) -> Workflow:
        try:
            workflow = get_object_or_404(self.get_queryset(request), pk=object_pk)
        except ValidationError as error:
            raise Http404 from error
        if not request.user.is_superuser and workflow.organization_id not in organization_ids(request, policy.MANAGE):
            raise PermissionDenied
        return workflow

    def obj_perms_manage_view(self, request: HttpRequest, object_pk: str):
        self._check_object_permissions_access(request, object_pk)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request: HttpRequest, object_pk: str, user_id: str):
        workflow = self._check_object_permissions_access(request, object_pk)
        if not request.user.is_superuser:
            # Object permissions are granted only to members of the workflow's organization.
            members = get_user_model().objects.filter(memberships__organization_id=workflow.organization_id)
            get_object_or_404(members, pk=user_id)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request: HttpRequest, object_pk: str, group_id: str):
        # Groups span organizations: only superusers grant permissions to them.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().obj_perms_manage_group_view(request, object_pk, group_id)


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """Immutable snapshots: viewed here, never added or changed; they go when their workflow goes."""

    restore_action = policy.CHANGE
    list_display = ["workflow", "number", "organization", "created_by", "created_at"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["workflow__name"]
    date_hierarchy = "created_at"
    list_select_related = ["workflow", "organization", "created_by"]
    fields = ["workflow", "number", "organization", "created_by", "created_at", "definition_json"]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets
    actions = ["restore_versions"]

    definition_json = json_display("definition")

    def has_restore_permission(self, request: HttpRequest, obj: WorkflowVersion | None = None) -> bool:
        return request.user.is_superuser or self._role_allows(request, self.restore_action, obj)

    @admin.action(description="Restore as the working definition (records a new version)", permissions=["restore"])
    def restore_versions(self, request: HttpRequest, queryset) -> None:
        versions = list(queryset.select_related("workflow__organization"))
        if len({version.workflow_id for version in versions}) != len(versions):
            self.message_user(request, "Pick at most one version per workflow.", messages.ERROR)
            return
        for version in versions:
            if not self.has_restore_permission(request, version):
                raise PermissionDenied
            actor = admin_actor(request)
            workflow_version_restore(workflow=version.workflow, version=version, user=actor, actor=actor)
        self.message_user(request, f"Restored {len(versions)} version(s).", messages.SUCCESS)


@admin.display(description="signing secret")
def secret_display(self, obj: Trigger) -> str:
    """Whether a webhook trigger has a signing secret; the value is never shown again (rotate or set a new one)."""
    return "set (write-only)" if obj.signing_secret else "-"


TriggerInline.secret = secret_display  # type: ignore[attr-defined]


class TriggerForm(forms.ModelForm):
    """A webhook trigger's signing secret is write-only: it may be replaced with the one a sender gave you."""

    new_signing_secret = forms.CharField(
        required=False,
        max_length=128,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Webhook triggers: the secret GitHub, Stripe, Slack or a Standard Webhooks sender gave you. "
        "Leave empty to keep the current one.",
    )

    class Meta:
        model = Trigger
        fields = ["workflow", "kind", "name", "is_active", "config"]

    def clean_new_signing_secret(self) -> str:
        secret = self.cleaned_data["new_signing_secret"]
        kind = self.instance.kind if self.instance.pk else self.data.get("kind")
        if secret and not (kind in trigger_kinds and trigger_kinds.get(cast(str, kind)).has_signing_secret):
            raise ValidationError(SECRET_ONLY_WEBHOOK)
        if secret and len(secret) < SECRET_MIN_LENGTH:
            raise ValidationError(SECRET_TOO_SHORT.format(minimum=SECRET_MIN_LENGTH))
        return secret


@admin.register(Trigger)
class TriggerAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Triggers, written through the trigger services (config checked, schedules synced to beat).

    A webhook trigger gets its signing secret when it is created; the rotate action replaces it.
    """

    add_action = policy.CREATE
    change_action = policy.CHANGE
    list_display = ["__str__", "name", "workflow", "kind", "is_active", "state", "public_url", "organization"]
    list_filter = ["kind", "is_active", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "workflow__name", "organization__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["workflow"]
    list_select_related = ["workflow", "organization"]
    fields = [
        "workflow",
        "kind",
        "name",
        "is_active",
        "config",
        "schedule_in_effect",
        "webhook_token",
        "secret",
        "new_signing_secret",
        "created_at",
    ]
    readonly_fields = ["schedule_in_effect", "webhook_token", "secret", "created_at"]
    formfield_overrides = JSON_FORM_FIELD
    actions = ["rotate_secrets"]
    form = TriggerForm
    secret = secret_display

    def get_queryset(self, request: HttpRequest):
        return triggers_with_running_definition(super().get_queryset(request))

    @admin.display(description="schedule in effect")
    def schedule_in_effect(self, obj: Trigger) -> str:
        schedule = trigger_schedule(trigger=obj) if obj.pk is not None else None
        if schedule is None:
            return "-"
        template = SCHEDULE_FROM_NODE if schedule.source == SCHEDULE_SOURCE_NODE else SCHEDULE_FROM_TRIGGER
        return template.format(cron=schedule.cron, timezone=schedule.timezone, node=schedule.node)

    @admin.display(description="public URL")
    def public_url(self, obj: Trigger) -> str:
        url_name = trigger_kinds.get(obj.kind).url_name if obj.kind in trigger_kinds else None
        if url_name is None:
            return "-"
        url = reverse(url_name, kwargs={"token": obj.webhook_token})
        return format_html('<a href="{}">{}</a>', url, url)

    @admin.display(description="state")
    def state(self, obj: Trigger) -> SafeString:
        state, detail = trigger_state(trigger=obj)
        return format_html('<strong class="cm-trigger-{}">{}</strong><br><small>{}</small>', state, state, detail)

    def get_readonly_fields(self, request: HttpRequest, obj: Trigger | None = None):  # type: ignore[override]  # Django passes this admin's model
        # Moving a trigger to another workflow could move it to another organization.
        return [*super().get_readonly_fields(request, obj), *(["workflow"] if obj is not None else [])]

    def save_model(self, request: HttpRequest, obj: Trigger, form, change: bool) -> None:
        trigger = save_trigger(request, obj, form.changed_data)
        secret = form.cleaned_data.get("new_signing_secret")
        if secret:
            adopt(obj, trigger_set_secret(trigger=trigger, secret=secret, actor=admin_actor(request)))

    def delete_model(self, request: HttpRequest, obj: Trigger) -> None:
        trigger_delete(trigger=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for trigger in queryset:
            trigger_delete(trigger=trigger, actor=admin_actor(request))

    @admin.action(description="Rotate the signing secret of selected webhook triggers", permissions=["change"])
    def rotate_secrets(self, request: HttpRequest, queryset) -> None:
        triggers = list(queryset.filter(kind="webhook").select_related("organization"))
        for trigger in triggers:
            trigger_rotate_secret(trigger=trigger, actor=admin_actor(request))
        self.message_user(request, f"Rotated {len(triggers)} signing secret(s).", messages.SUCCESS)


class CredentialForm(forms.ModelForm):
    """Secret values are write-only: the form shows which keys are stored and takes replacement data.

    A credential of a registered kind (`apps/nodes/credential_kinds.py`) also gets one field per entry of its
    kind's JSON Schema (`data__<name>`; secrets as empty password inputs): filled in, they make the new data,
    a secret left empty keeping its stored value. `new_data` (JSON) stays for the other kinds and wins when given.
    """

    new_data = forms.JSONField(
        required=False,
        label="New data",
        widget=WriteOnlyTextarea(attrs={"rows": 6, "class": "vLargeTextField cm-json-input"}),
        help_text='A JSON object, e.g. {"token": "..."}. Replaces every stored value. Leave empty to keep them.',
    )
    credential_kind: credential_kinds.CredentialKind | None = None  # set by CredentialAdmin.get_form

    class Meta:
        model = Credential
        fields = ["organization", "name", "kind", "allow_private"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kind = self.credential_kind
        if kind is None:
            return
        stored = self.instance.data if isinstance(self.instance.data, dict) else {}
        for name, field in schema_fields(kind, has_stored=not self.instance._state.adding).items():
            self.fields[name] = field
            key = name.removeprefix(DATA_PREFIX)
            if key not in kind.secret_fields and key in stored:
                self.initial.setdefault(name, stored[key])

    def clean_new_data(self):
        data = self.cleaned_data["new_data"]
        if data is None:
            return None
        if not isinstance(data, dict) or not data:
            raise ValidationError(NEW_DATA_NOT_OBJECT)
        return data

    def clean(self):
        cleaned_data = super().clean()
        if cleaned_data.get("new_data") is None and "new_data" not in self.errors:
            cleaned_data["new_data"] = self._data_from_fields()
            if cleaned_data["new_data"] is None and self.instance._state.adding:
                self.add_error("new_data", NEW_DATA_REQUIRED)
        return cleaned_data

    def _data_from_fields(self) -> dict | None:
        """The data the schema's fields make, or None when none was filled in (the stored data is kept)."""
        kind = self.credential_kind
        if kind is None:
            return None
        filled = {
            name.removeprefix(DATA_PREFIX): value
            for name, value in self.cleaned_data.items()
            if name.startswith(DATA_PREFIX) and value not in (None, "", False)
        }
        if not filled:
            return None
        stored = self.instance.data if isinstance(self.instance.data, dict) else {}
        for secret in kind.secret_fields:
            if secret not in filled and stored.get(secret):
                filled[secret] = stored[secret]  # left empty: the stored secret stays
        return filled


DATA_PREFIX = "data__"


def schema_fields(kind: credential_kinds.CredentialKind, *, has_stored: bool) -> dict[str, forms.Field]:
    """Form fields for a credential kind's JSON Schema (strings, integers, booleans, enums; secrets write-only)."""
    fields: dict[str, forms.Field] = {}
    required = set(kind.schema.get("required", []))
    for name, prop in kind.schema.get("properties", {}).items():
        label = name.replace("_", " ") + (" *" if name in required else "")
        help_text = prop.get("description", "")
        field: forms.Field
        if prop.get("writeOnly"):
            help_text = "Secret: never shown." + (" Leave empty to keep the stored value." if has_stored else "")
            field = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
        elif "enum" in prop:
            field = forms.ChoiceField(required=False, choices=[("", "—"), *[(v, v) for v in prop["enum"]]])
        elif prop.get("type") == "integer":
            field = forms.IntegerField(required=False, min_value=prop.get("minimum"), max_value=prop.get("maximum"))
        elif prop.get("type") == "boolean":
            field = forms.BooleanField(required=False)
        else:
            field = forms.CharField(required=False, max_length=prop.get("maxLength"))
        field.label = label
        field.help_text = help_text
        fields[DATA_PREFIX + name] = field
    return fields


@admin.register(Credential)
class CredentialAdmin(TenantAdminMixin, admin.ModelAdmin):
    """Credentials: the stored values are never rendered, only the names of their keys."""

    form = CredentialForm
    list_display = ["name", "kind", "organization", "created_by", "updated_at"]
    list_filter = ["kind", ("organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "kind", "organization__name"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["organization"]
    list_select_related = ["organization", "created_by"]
    fields = [
        "organization",
        "name",
        "kind",
        "stored_keys",
        "oauth2_connect",
        "new_data",
        "allow_private",
        "created_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["stored_keys", "oauth2_connect", "created_by", "created_at", "updated_at"]

    def _kind(self, request: HttpRequest, obj: Credential | None) -> credential_kinds.CredentialKind | None:
        name = obj.kind if obj is not None else request.POST.get("kind") or request.GET.get("kind") or ""
        return credential_kinds.get_kind(name)

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        # The schema's fields are the form's own (added in its __init__), not the model's.
        fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [name for name in fields if not name.startswith(DATA_PREFIX)]
        form_class = super().get_form(request, obj, change, **kwargs)
        kind = self._kind(request, obj)
        return type(form_class.__name__, (form_class,), {"credential_kind": kind})

    def get_fields(self, request: HttpRequest, obj: Credential | None = None):
        fields = list(super().get_fields(request, obj))
        kind = self._kind(request, obj)
        if kind is not None:
            extra = [DATA_PREFIX + name for name in kind.schema.get("properties", {})]
            fields[fields.index("new_data") : fields.index("new_data")] = extra
        return fields

    @admin.display(description="OAuth2 consent")
    def oauth2_connect(self, obj: Credential) -> str:
        """The Connect link of an authorization-code credential (the provider's consent page, then back here)."""
        kind = credential_kinds.get_kind(obj.kind) if obj.pk else None
        if kind is None or kind.name != "oauth2_authorization_code":
            return "—"
        state = "connected" if isinstance(obj.data, dict) and obj.data.get("access_token") else "not connected"
        url = reverse("oauth2-connect", kwargs={"pk": obj.pk})
        return format_html('<a class="button" href="{}">Connect</a> ({})', url, state)

    @admin.display(description="stored keys")
    def stored_keys(self, obj: Credential) -> str:
        keys = sorted(obj.data) if isinstance(obj.data, dict) else []
        return ", ".join(keys) or "—"

    def save_model(self, request: HttpRequest, obj: Credential, form, change: bool) -> None:
        new_data = form.cleaned_data["new_data"]
        if not change:
            credential = credential_create(
                organization=obj.organization,
                name=obj.name,
                kind=obj.kind,
                data=new_data,
                allow_private=obj.allow_private,
                created_by=admin_actor(request),
                actor=admin_actor(request),
            )
            adopt(obj, credential)
            return
        fields = changed_model_fields(obj, form)
        if new_data is not None:
            fields["data"] = new_data
        credential = Credential.objects.get(pk=obj.pk)
        adopt(obj, credential_update(credential=credential, actor=admin_actor(request), **fields))

    def delete_model(self, request: HttpRequest, obj: Credential) -> None:
        credential_delete(credential=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for credential in queryset:
            credential_delete(credential=credential, actor=admin_actor(request))


@admin.register(FormSubmission)
class FormSubmissionAdmin(ReadOnlyAdminMixin, TenantAdminMixin, admin.ModelAdmin):
    """What forms received. Read-only; owners and admins may delete submissions (personal data)."""

    cascade_delete_only = False
    list_display = ["created_at", "trigger", "organization", "valid", "execution", "remote_addr"]
    list_filter = [("organization", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["trigger__name", "trigger__workflow__name", "remote_addr"]
    date_hierarchy = "created_at"
    list_select_related = ["trigger__workflow", "organization"]
    fields = [
        "trigger",
        "organization",
        "created_at",
        "remote_addr",
        "execution",
        "data_json",
        "errors_json",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # names only, no fieldsets

    data_json = json_display("data")
    errors_json = json_display("errors")

    def delete_model(self, request: HttpRequest, obj: FormSubmission) -> None:
        form_submission_delete(submission=obj, actor=admin_actor(request))

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for submission in queryset:
            form_submission_delete(submission=submission, actor=admin_actor(request))

    def has_delete_permission(self, request: HttpRequest, obj: FormSubmission | None = None) -> bool:  # type: ignore[override]  # Django passes this admin's model
        return request.user.is_superuser or self._role_allows(request, self.delete_action, obj)

    @admin.display(description="valid", boolean=True)
    def valid(self, obj: FormSubmission) -> bool:
        return not obj.errors

    @admin.display(description="execution")
    def execution(self, obj: FormSubmission) -> SafeString | str:
        if obj.execution_id is None:
            return "—"
        # A URL by name, not an import: executions depend on workflows, never the other way round.
        url = reverse("admin:executions_workflowexecution_change", args=[obj.execution_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.execution_id)[:8])
