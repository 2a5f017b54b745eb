from django.db import models


class WorkflowStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    ARCHIVED = "archived", "Archived"


class TriggerKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    FORM = "form", "Form"
    API = "api", "API"
    ERROR = "error", "Error workflow"  # apps/workflows/error_trigger.py: runs started for another run's failure
