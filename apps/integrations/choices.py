from django.db import models


class Service(models.TextChoices):
    N8N = "n8n", "n8n"


class IntegrationStatus(models.TextChoices):
    INACTIVE = "inactive", "Inactive"
    ACTIVE = "active", "Active"
    ERROR = "error", "Error"


class SyncOutcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    CONFLICT = "conflict", "Conflict"
    FAILED = "failed", "Failed"


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


JOB_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})
