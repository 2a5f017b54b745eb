"""Filters of the execution list: status, workflow, trigger kind, a creation date range, and search by data
(a JSON path in the trigger data, a node's output or the custom data; the failed node, error text, duration)."""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import NotFound, ValidationError

from apps.executions import search
from apps.executions.choices import DeliveryOutcome, ExecutionStatus, RunMode
from apps.executions.models import WebhookDelivery, WorkflowExecution
from apps.workflows.trigger_kinds import TRIGGER_KIND_CHOICES

DATE_OUT_OF_RANGE = "This date and time cannot be represented in UTC."


class UtcDateTimeField(IsoDateTimeField):
    """ISO 8601 with any offset, compared in UTC (PostgreSQL refuses offsets beyond ±15:59)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError) as error:
            raise forms.ValidationError(DATE_OUT_OF_RANGE) from error


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


EQUALS = search.EQUALS
MSG_NEEDED = "Search by data needs all of: {names}."
MSG_SAVED_NOT_FOUND = "No saved filter of yours with this id."


def _data_filter(help_text: str) -> django_filters.CharFilter:
    return django_filters.CharFilter(method="_none", max_length=500, help_text=help_text)


def _op_filter() -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        method="_none",
        choices=[(op, op) for op in search.OPERATORS],
        help_text="equals (the default: the value as JSON) or contains (as text, any case).",
    )


def query_dict(query: dict) -> QueryDict:
    """A saved query ({name: value or [values]}) as the query string it stands for."""
    params = QueryDict(mutable=True)
    for key, value in query.items():
        params.setlist(key, value if isinstance(value, list) else [value])
    return params


def _with_saved(data, request):
    """The query with the caller's saved filter `saved` under it (404 for one that is not theirs)."""
    from apps.executions.saved_filters import saved_filter_list
    from apps.orgs.api.access import request_access

    try:
        saved = saved_filter_list(user=request_access(request).person).filter(pk=data.get("saved")).first()
    except DjangoValidationError:
        saved = None
    if saved is None:
        raise NotFound(MSG_SAVED_NOT_FOUND)
    merged = query_dict(saved.query)
    for key in data:
        merged.setlist(key, data.getlist(key) if hasattr(data, "getlist") else [data[key]])
    return merged


class ExecutionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ExecutionStatus.choices)
    workflow = django_filters.UUIDFilter(field_name="workflow_id")
    trigger = django_filters.ChoiceFilter(field_name="trigger_kind", choices=TRIGGER_KIND_CHOICES)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    test_run = django_filters.BooleanFilter()
    run_mode = django_filters.ChoiceFilter(choices=RunMode.choices)
    source_execution = django_filters.UUIDFilter(field_name="source_execution_id")
    trigger_path = _data_filter("A JSON pointer into the trigger data, e.g. /body/email (with trigger_value).")
    trigger_value = _data_filter('The value at trigger_path: JSON (42, true, "a") or plain text.')
    trigger_op = _op_filter()
    output_node = _data_filter("A node id (with output_path and output_value).")
    output_path = _data_filter("A JSON pointer into that node's output, e.g. /status.")
    output_value = _data_filter("The value at output_path.")
    output_op = _op_filter()
    custom_key = _data_filter("A custom data key (with custom_value).")
    custom_value = _data_filter("Its value.")
    custom_op = _op_filter()
    failed_node = _data_filter("Executions in which this node failed.")
    error_contains = _data_filter("Executions whose error contains this text (any case).")
    duration_min_ms = django_filters.NumberFilter(method="_none", min_value=0, help_text="Took at least this long.")
    duration_max_ms = django_filters.NumberFilter(method="_none", min_value=0, help_text="Took at most this long.")

    saved = django_filters.UUIDFilter(method="_none", help_text="Apply one of your saved filters (others win over it).")

    class Meta:
        model = WorkflowExecution
        fields = ["status", "workflow", "trigger", "created_after", "created_before", "test_run", "run_mode"]

    def __init__(self, data=None, *args, **kwargs):
        request = kwargs.get("request")
        if data is not None and data.get("saved") and request is not None:
            data = _with_saved(data, request)
        super().__init__(data, *args, **kwargs)

    def _none(self, queryset, name, value):
        return queryset  # applied together in filter_queryset: some filters need their siblings

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        data = self.form.cleaned_data
        try:
            queryset = self._by_data(queryset, data)
        except ValueError as error:
            raise ValidationError({error.args[1]: [error.args[0]]}) from error
        if data.get("failed_node"):
            queryset = search.by_failed_node(queryset, node_id=data["failed_node"])
        if data.get("error_contains"):
            queryset = search.by_error_text(queryset, text=data["error_contains"])
        low, high = data.get("duration_min_ms"), data.get("duration_max_ms")
        if low is not None or high is not None:
            queryset = search.by_duration(
                queryset, min_ms=int(low) if low is not None else None, max_ms=int(high) if high is not None else None
            )
        return queryset

    @staticmethod
    def _by_data(queryset, data):
        def pointer(name: str) -> str:
            try:
                search.path_parts(data[name])
            except ValueError:
                raise ValueError(search.MSG_BAD_PATH, name) from None
            return data[name]

        def need(*names: str) -> None:
            for name in names:
                if not data.get(name):
                    raise ValueError(MSG_NEEDED.format(names=", ".join(names)), name)

        if data.get("trigger_path") or data.get("trigger_value"):
            need("trigger_path", "trigger_value")
            queryset = search.by_trigger_data(
                queryset, pointer=pointer("trigger_path"), value=data["trigger_value"], op=data["trigger_op"] or EQUALS
            )
        if data.get("output_node") or data.get("output_path") or data.get("output_value"):
            need("output_node", "output_path", "output_value")
            queryset = search.by_node_output(
                queryset,
                node_id=data["output_node"],
                pointer=pointer("output_path"),
                value=data["output_value"],
                op=data["output_op"] or EQUALS,
            )
        if data.get("custom_key") or data.get("custom_value"):
            need("custom_key", "custom_value")
            queryset = search.by_custom_data(
                queryset, key=data["custom_key"], value=data["custom_value"], op=data["custom_op"] or EQUALS
            )
        return queryset


class WebhookDeliveryFilter(django_filters.FilterSet):
    trigger = django_filters.UUIDFilter(field_name="trigger_id")
    workflow = django_filters.UUIDFilter(field_name="trigger__workflow_id")
    outcome = django_filters.MultipleChoiceFilter(choices=DeliveryOutcome.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ["trigger", "workflow", "outcome", "created_after", "created_before"]
