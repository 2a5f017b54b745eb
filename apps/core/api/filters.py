"""The filter backend of every list: django-filter's, refusing a filter parameter given without a value."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions

EMPTY_FILTER = "This filter needs a value; leave the parameter out not to filter."


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter ignores `?workflow=`, which lists everything where the caller asked for one workflow's rows:
    an empty value of a declared filter is a 400 naming it."""

    def get_filterset(self, request, queryset, view):
        filterset = super().get_filterset(request, queryset, view)
        if filterset is not None:
            empty = {
                name: [EMPTY_FILTER]
                for name in filterset.filters
                if any(not value.strip() for value in request.query_params.getlist(name))
            }
            if empty:
                raise exceptions.ValidationError(empty)
        return filterset
