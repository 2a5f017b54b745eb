"""Query filters of the workflow app's lists. Ids are plain UUID filters: an unknown id matches nothing."""

import django_filters

from apps.workflows.choices import WorkflowStatus
from apps.workflows.models import Credential, FormSubmission, Trigger, Workflow
from apps.workflows.trigger_kinds import TRIGGER_KIND_CHOICES


class WorkflowFilter(django_filters.FilterSet):
    organization = django_filters.UUIDFilter(field_name="organization_id")
    status = django_filters.ChoiceFilter(choices=WorkflowStatus.choices)

    class Meta:
        model = Workflow
        fields = ["organization", "status"]


class TriggerFilter(django_filters.FilterSet):
    workflow = django_filters.UUIDFilter(field_name="workflow_id")
    kind = django_filters.ChoiceFilter(choices=TRIGGER_KIND_CHOICES)
    is_active = django_filters.BooleanFilter()

    class Meta:
        model = Trigger
        fields = ["workflow", "kind", "is_active"]


class CredentialFilter(django_filters.FilterSet):
    organization = django_filters.UUIDFilter(field_name="organization_id")
    kind = django_filters.CharFilter()

    class Meta:
        model = Credential
        fields = ["organization", "kind"]


class FormSubmissionFilter(django_filters.FilterSet):
    trigger = django_filters.UUIDFilter(field_name="trigger_id")
    valid = django_filters.BooleanFilter(field_name="execution_id", lookup_expr="isnull", exclude=True)

    class Meta:
        model = FormSubmission
        fields = ["trigger", "valid"]
