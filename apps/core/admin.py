"""Generic building blocks every app's admin shares: JSON and status rendering, a service's ValidationError on
the form, read-only admins. Scoping by organization and role lives above, in `apps/orgs/admin_scoping.py`."""

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.core.jsonparse import JSONTooDeep, check_depth

if TYPE_CHECKING:
    # The admin mixins extend ModelAdmin methods through super(): the type checker sees that base.
    ModelAdminBase = admin.ModelAdmin[Any]
else:
    ModelAdminBase = object

ADMIN_CSS = "admin-extra/admin.css"
#: Where ServiceErrorsMixin keeps a service's error on the request while the form is rendered again.
SERVICE_ERROR = "_cm_service_error"

M = TypeVar("M", bound=models.Model)


def admin_actor(request: HttpRequest) -> User:
    """The staff member behind an admin request: the admin site lets only authenticated staff in, so its
    `request.user` is never anonymous (the type says it might be)."""
    return cast(User, request.user)


def adopt(target: M, source: models.Model) -> M:
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


class ServiceErrorsMixin(ModelAdminBase):
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

        class FormWithServiceError(form_class):  # type: ignore[valid-type, misc]  # a class made at run time
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

    def response_action(self, request: HttpRequest, queryset: QuerySet):  # type: ignore[override]  # as Django calls it
        try:
            with transaction.atomic():
                return super().response_action(request, queryset)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
