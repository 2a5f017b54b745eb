"""Services of an organization's retention periods (the pruning itself: apps/executions/retention.py)."""

from django.db import transaction

from .models import Organization, RetentionPolicy
from .services import Actor, audit

#: The `RetentionPolicy` fields an organization may set (days; None: the global setting; 0: keep forever).
RETENTION_FIELDS = (
    "audit_log_days",
    "webhook_delivery_days",
    "form_submission_days",
    "execution_log_days",
    "datastore_days",
    "file_days",
)


@transaction.atomic
def retention_policy_set(*, organization: Organization, actor: Actor = None, **days: int | None) -> RetentionPolicy:
    """Set the given periods of the organization (the others stay); audited as `retention_policy.update`."""
    unknown = sorted(set(days) - set(RETENTION_FIELDS))
    if unknown:
        raise TypeError(f"Unknown retention fields: {', '.join(unknown)}")
    policy, _ = RetentionPolicy.objects.get_or_create(organization=organization)
    for field, value in days.items():
        setattr(policy, field, value)
    policy.full_clean()
    policy.save()
    data = {field: getattr(policy, field) for field in sorted(days)}
    audit(actor=actor, organization=organization, action="retention_policy.update", target=policy, data=data)
    return policy
