"""Filters of the execution list: status, workflow, trigger kind and a creation date range."""

import django_filters

from apps.executions.choices import ExecutionStatus
from apps.executions.models import WorkflowExecution
from apps.workflows.choices import TriggerKind


class ExecutionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=ExecutionStatus.choices)
    workflow = django_filters.UUIDFilter(field_name="workflow_id")
    trigger = django_filters.ChoiceFilter(field_name="trigger_kind", choices=TriggerKind.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = WorkflowExecution
        fields = ["status", "workflow", "trigger", "created_after", "created_before"]
