"""Filters of the execution list: status, workflow, trigger kind and a creation date range."""

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from apps.executions.choices import DeliveryOutcome, ExecutionStatus
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


class ExecutionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ExecutionStatus.choices)
    workflow = django_filters.UUIDFilter(field_name="workflow_id")
    trigger = django_filters.ChoiceFilter(field_name="trigger_kind", choices=TRIGGER_KIND_CHOICES)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WorkflowExecution
        fields = ["status", "workflow", "trigger", "created_after", "created_before"]


class WebhookDeliveryFilter(django_filters.FilterSet):
    trigger = django_filters.UUIDFilter(field_name="trigger_id")
    workflow = django_filters.UUIDFilter(field_name="trigger__workflow_id")
    outcome = django_filters.MultipleChoiceFilter(choices=DeliveryOutcome.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WebhookDelivery
        fields = ["trigger", "workflow", "outcome", "created_after", "created_before"]
