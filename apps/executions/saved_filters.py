"""Saved execution filters: a person's named searches of the execution list (writes and reads)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from apps.orgs.models import Organization

from .models import SavedExecutionFilter

MSG_QUERY_NOT_OBJECT = "Must be a JSON object of the execution list's query parameters and their values (strings)."
MSG_UNKNOWN_PARAMETER = "Not a filter of the execution list."
MSG_NAME_TAKEN = "You already have a saved filter of this name in this organization."
#: Parameters of the list that are not filters.
NOT_FILTERS = frozenset({"cursor", "page_size", "saved"})


def query_check(query: object) -> None:
    """The query must be what the execution list accepts: known parameters, values it takes (ValidationError on
    `query/<parameter>` otherwise)."""
    from .api.filters import ExecutionFilter, query_dict  # the list's own filter set defines a valid query

    if not isinstance(query, dict) or not all(isinstance(value, str | list) for value in query.values()):
        raise ValidationError({"query": [MSG_QUERY_NOT_OBJECT]})
    unknown = sorted((set(query) - set(ExecutionFilter.base_filters)) | (set(query) & NOT_FILTERS))
    if unknown:
        raise ValidationError({f"query/{name}": [MSG_UNKNOWN_PARAMETER] for name in unknown})
    form = ExecutionFilter(data=query_dict(query), queryset=SavedExecutionFilter.objects.none()).form
    if not form.is_valid():
        raise ValidationError({f"query/{name}": errors for name, errors in form.errors.items()})


def _unique(*, saved: SavedExecutionFilter) -> None:
    others = SavedExecutionFilter.objects.filter(user=saved.user, organization=saved.organization, name=saved.name)
    if others.exclude(pk=saved.pk).exists():
        raise ValidationError({"name": [MSG_NAME_TAKEN]})


@transaction.atomic
def saved_filter_create(*, user: User, organization: Organization, name: str, query: dict) -> SavedExecutionFilter:
    query_check(query)
    saved = SavedExecutionFilter(user=user, organization=organization, name=name, query=query)
    _unique(saved=saved)
    saved.full_clean(validate_constraints=False)
    saved.save()
    return saved


@transaction.atomic
def saved_filter_update(*, saved: SavedExecutionFilter, **fields) -> SavedExecutionFilter:
    if "query" in fields:
        query_check(fields["query"])
    for name, value in fields.items():
        setattr(saved, name, value)
    _unique(saved=saved)
    saved.full_clean(validate_constraints=False)
    saved.save()
    return saved


@transaction.atomic
def saved_filter_delete(*, saved: SavedExecutionFilter) -> None:
    saved.delete()


def saved_filter_list(*, user: User | None) -> QuerySet[SavedExecutionFilter]:
    """The person's own saved filters (none for an API key: they belong to people)."""
    if user is None:
        return SavedExecutionFilter.objects.none()
    return SavedExecutionFilter.objects.filter(user=user)
