"""Retention: delete what each organization no longer keeps, in short batches.

Each kind of row has a global period (a CONCERTMASTER_* setting, in days; 0 keeps forever) that an organization's
`RetentionPolicy` overrides per kind (empty: the global period; 0: keep forever). Rows are deleted by primary key,
`RETENTION_BATCH_SIZE` at a time, each batch in its own short transaction: no statement holds locks on more than
one batch, and a prune interrupted half-way has deleted whole batches only. Beat runs `prune_all` hourly
(`concertmaster.retention.prune`); finished executions are pruned by the engine (`engine/recovery.py: prune`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from apps.orgs.models import RetentionPolicy


@dataclass(frozen=True)
class Kind:
    """One kind of row retention applies to: its model, the field that dates it, its global setting and the
    `RetentionPolicy` field that overrides it."""

    name: str
    model: str
    date_field: str
    setting: str
    policy_field: str

    def queryset(self) -> models.QuerySet:
        return apps.get_model(self.model)._default_manager.all()

    def global_days(self) -> int:
        return int(getattr(settings, self.setting))


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("audit_log", "orgs.AuditLog", "at", "CONCERTMASTER_RETENTION_AUDIT_LOG_DAYS", "audit_log_days"),
        Kind(
            "webhook_deliveries",
            "executions.WebhookDelivery",
            "created_at",
            "CONCERTMASTER_WEBHOOK_INBOX_DAYS",
            "webhook_delivery_days",
        ),
        Kind(
            "form_submissions",
            "workflows.FormSubmission",
            "created_at",
            "CONCERTMASTER_RETENTION_FORM_SUBMISSION_DAYS",
            "form_submission_days",
        ),
        Kind(
            "execution_logs",
            "executions.ExecutionLog",
            "at",
            "CONCERTMASTER_RETENTION_EXECUTION_LOG_DAYS",
            "execution_log_days",
        ),
        # A datastore row's age is the time since it was last written, not since it was created.
        Kind("datastore", "nodes.DataRecord", "updated_at", "CONCERTMASTER_RETENTION_DATASTORE_DAYS", "datastore_days"),
        # Deleting a file's row discards its stored bytes (apps/executions/files.py); the execution's deletion takes
        # its files anyway, so this only matters when it is shorter than the executions' period.
        Kind("files", "executions.ExecutionFile", "created_at", "CONCERTMASTER_RETENTION_FILE_DAYS", "file_days"),
    )
}


def delete_in_batches(queryset: models.QuerySet, *, batch: int) -> int:
    """Delete the rows of `queryset` by primary key, `batch` at a time, one transaction per batch; returns how many."""
    model = queryset.model
    total = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        with transaction.atomic():
            _, per_model = model._default_manager.filter(pk__in=ids).delete()
        total += per_model.get(model._meta.label, 0)


def prune_kind(kind: Kind, *, now: datetime | None = None, batch: int | None = None) -> int:
    """Delete the rows of `kind` past their organization's period (or the global one); returns how many."""
    now = now or timezone.now()
    batch = batch or settings.CONCERTMASTER_RETENTION_BATCH_SIZE
    rows = kind.queryset()
    overridden = RetentionPolicy.objects.filter(**{f"{kind.policy_field}__isnull": False})
    total = 0
    for organization_id, days in overridden.values_list("organization_id", kind.policy_field):
        if days > 0:
            old = rows.filter(organization_id=organization_id, **{f"{kind.date_field}__lt": now - timedelta(days=days)})
            total += delete_in_batches(old, batch=batch)
    if kind.global_days() > 0:
        cutoff = now - timedelta(days=kind.global_days())
        old = rows.filter(**{f"{kind.date_field}__lt": cutoff}).exclude(
            organization_id__in=overridden.values("organization_id")
        )
        total += delete_in_batches(old, batch=batch)
    return total


def prune_all(*, now: datetime | None = None, batch: int | None = None) -> dict[str, int]:
    """Prune every kind; returns how many rows of each were deleted."""
    now = now or timezone.now()
    return {name: prune_kind(kind, now=now, batch=batch) for name, kind in KINDS.items()}


def retention_days(*, kind: str, organization_id) -> int:
    """The period in days that applies to `kind` in an organization (0: kept forever)."""
    spec = KINDS[kind]
    override = (
        RetentionPolicy.objects.filter(organization_id=organization_id)
        .values_list(spec.policy_field, flat=True)
        .first()
    )
    return spec.global_days() if override is None else override
