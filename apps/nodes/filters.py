"""Query filters of the node-types API: ?category=, ?search= (name, title, description), ?enabled=."""

import django_filters
from django.db.models import Q, QuerySet

from .choices import Category
from .models import NodeType


class NodeTypeFilter(django_filters.FilterSet):
    category = django_filters.ChoiceFilter(choices=Category.choices)
    search = django_filters.CharFilter(method="filter_search", label="Text in the name, title or description.")
    enabled = django_filters.BooleanFilter(field_name="is_enabled")

    class Meta:
        model = NodeType
        fields = ["category", "search", "enabled"]

    def filter_search(self, queryset: QuerySet[NodeType], name: str, value: str) -> QuerySet[NodeType]:
        return queryset.filter(
            Q(name__icontains=value) | Q(display_name__icontains=value) | Q(description__icontains=value)
        )
