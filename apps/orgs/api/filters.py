"""Query filters of the organization lists. Ids are plain UUID filters: an unknown id matches nothing."""

import django_filters

from apps.orgs.choices import Role
from apps.orgs.models import ApiKey, AuditLog, Membership


class MembershipFilter(django_filters.FilterSet):
    organization = django_filters.UUIDFilter(field_name="organization_id")
    role = django_filters.ChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["organization", "role"]


class ApiKeyFilter(django_filters.FilterSet):
    organization = django_filters.UUIDFilter(field_name="organization_id")

    class Meta:
        model = ApiKey
        fields = ["organization"]


class AuditLogFilter(django_filters.FilterSet):
    organization = django_filters.UUIDFilter(field_name="organization_id")
    action = django_filters.CharFilter()
    target_type = django_filters.CharFilter()
    target_id = django_filters.CharFilter()

    class Meta:
        model = AuditLog
        fields = ["organization", "action", "target_type", "target_id"]
