"""Integrations (an n8n instance of an organization), the links between its workflows and ours, sync jobs."""

from django.conf import settings
from django.db import models

from apps.core.models import TenantModel
from apps.workflows.crypto import EncryptedJSONField

from .choices import IntegrationStatus, JobStatus, Service


class Integration(TenantModel):
    """An outside service an organization connects to. `credentials` (the API key) is encrypted at rest like
    workflow credentials and never returned by the API; `allow_private` (set by an admin) lets the connection
    reach a private-network address, which the private-address rule refuses otherwise."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="integrations")
    service = models.CharField(max_length=30, choices=Service.choices, default=Service.N8N)
    name = models.CharField(max_length=200)
    service_url = models.URLField(max_length=500)
    credentials = EncryptedJSONField(default=dict, blank=True)
    configuration = models.JSONField(
        default=dict, blank=True, help_text='What to sync: {"workflow_ids": [...]} (empty: every workflow).'
    )
    status = models.CharField(max_length=20, choices=IntegrationStatus.choices, default=IntegrationStatus.INACTIVE)
    allow_private = models.BooleanField(
        default=False, help_text="Admins only: allow a private-network or loopback address (a self-hosted n8n)."
    )
    periodic_sync = models.BooleanField(default=False, help_text="Sync on a schedule (django-celery-beat).")
    sync_interval_minutes = models.PositiveIntegerField(default=60)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "service", "service_url"], name="integration_unique_url"),
            models.CheckConstraint(condition=models.Q(service__in=Service.values), name="integration_service_valid"),
            models.CheckConstraint(
                condition=models.Q(status__in=IntegrationStatus.values), name="integration_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(sync_interval_minutes__gte=5), name="integration_interval_min"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.service_url})"

    @property
    def has_api_key(self) -> bool:
        return bool((self.credentials or {}).get("api_key"))


class WorkflowLink(TenantModel):
    """One n8n workflow (by its id on the integration's instance) and the ConcertMaster workflow it became.

    `external_version` is n8n's versionId (or updatedAt) at the last sync; `synced_revision` the workflow's
    revision right after it: a higher revision means someone edited the workflow here since."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="links")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=100)
    external_name = models.CharField(max_length=200, blank=True)
    external_version = models.CharField(max_length=100, blank=True)
    synced_revision = models.PositiveIntegerField(default=1)
    synced_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["integration", "external_name"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "external_id"], name="workflowlink_unique_external"),
        ]

    def __str__(self) -> str:
        return f"{self.external_name or self.external_id} -> {self.workflow_id}"


class SyncJob(TenantModel):
    """One sync run (the endpoint waits for it, or answers with it to poll when asked for `?async=1`)."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=20, choices=JobStatus.choices, default=JobStatus.PENDING)
    workflow_ids = models.JSONField(default=list, blank=True)
    force = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=JobStatus.values), name="syncjob_status_valid"),
        ]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.status})"
