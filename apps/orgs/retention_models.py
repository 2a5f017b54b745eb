"""An organization's retention periods, overriding the global CONCERTMASTER_RETENTION_* settings per kind of row.

Imported by `apps/orgs/models.py` (a module of its own so the retention feature stays in one place).
"""

from django.db import models

from apps.core.models import TenantModel

DAYS_HELP = "Days to keep; empty: the global setting; 0: keep forever."


def _days(verbose_name: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(verbose_name, null=True, blank=True, help_text=DAYS_HELP)


class RetentionPolicy(TenantModel):
    """How long one organization keeps each kind of row the prune task deletes (apps/orgs/retention.py)."""

    organization = models.OneToOneField("orgs.Organization", on_delete=models.CASCADE, related_name="retention")
    audit_log_days = _days("audit log")
    webhook_delivery_days = _days("webhook deliveries")
    form_submission_days = _days("form submissions")
    execution_log_days = _days("execution logs")
    datastore_days = _days("datastore rows (days since last written)")
    file_days = _days("execution files")

    class Meta:
        verbose_name = "retention policy"
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return f"Retention of {self.organization_id}"
