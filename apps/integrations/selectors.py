"""Reads for integrations, scoped to the caller's organizations."""

from typing import Any

from django.db.models import QuerySet

from apps.orgs.selectors import Access

from .models import Integration, SyncJob, WorkflowLink


def integration_list(*, access: Access) -> QuerySet[Integration]:
    return Integration.objects.filter(organization_id__in=access.organization_ids()).select_related("organization")


def integration_get(*, access: Access, pk: Any) -> Integration | None:
    return integration_list(access=access).filter(pk=pk).first()


def sync_job_list(*, access: Access) -> QuerySet[SyncJob]:
    return SyncJob.objects.filter(organization_id__in=access.organization_ids()).select_related("integration")


def workflow_link_list(*, integration: Integration) -> QuerySet[WorkflowLink]:
    return integration.links.select_related("workflow").order_by("external_name", "external_id")
