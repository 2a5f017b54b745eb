"""Error workflows and alert rules: the rows behind apps/executions/failures.py and alerts.py."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from apps.core.models import TenantModel

from .choices import AlertChannel, AlertKind


class ErrorWorkflowRun(TenantModel):
    """A failed run's error workflow to start: written in the transaction that fails the run (so the start survives
    a broker outage: the alert pass re-sends what is left), then linked to the run it started."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    # Not one-to-one: a failed run retried (retry-from-failed) may fail again and start the error workflow again.
    failed_execution = models.ForeignKey(
        "executions.WorkflowExecution", on_delete=models.CASCADE, related_name="error_workflow_runs"
    )
    error_workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="+")
    execution = models.ForeignKey(
        "executions.WorkflowExecution",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The run of the error workflow (empty: not started yet).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="Why the error workflow could not start.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="errorrun_unstarted", condition=models.Q(started_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"error workflow {self.error_workflow_id} for {self.failed_execution_id}"


class AlertRule(TenantModel):
    """A built-in alert of one organization: what to watch, where to say it, and at most one message per digest
    window. `checked_until` is how far failures and stuck runs have been looked at."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="alert_rules")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=AlertKind.choices)
    workflow = models.ForeignKey(
        "workflows.Workflow",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Only this workflow's runs (empty: every workflow of the organization).",
    )
    channel = models.CharField(max_length=20, choices=AlertChannel.choices)
    target = models.CharField(
        max_length=1000,
        help_text="Email: addresses separated by commas. Slack and webhook: the http(s) URL to POST to.",
    )
    signing_secret = models.CharField(
        max_length=200, blank=True, help_text="Webhook: the HMAC-SHA256 key of the X-ConcertMaster-Signature header."
    )
    threshold_percent = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Failure rate: alert when at least this share of the window's finished runs failed.",
    )
    min_runs = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1)], help_text="Failure rate: fewer finished runs say nothing."
    )
    window_minutes = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="Failure rate: the window the rate is taken over. Stuck run: how long a run may run.",
    )
    digest_minutes = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
        help_text="At most one message per this many minutes; what happens meanwhile goes into the next one.",
    )
    is_active = models.BooleanField(default=True)
    checked_until = models.DateTimeField(default=timezone.now, editable=False)
    last_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False, help_text="Why the last message could not be sent.")

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=AlertKind.values), name="alertrule_kind_valid"),
            models.CheckConstraint(condition=models.Q(channel__in=AlertChannel.values), name="alertrule_channel_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class AlertMessage(TenantModel):
    """One message an alert rule sent (or tried to): the digest of what it saw since the last one."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="messages")
    subject = models.CharField(max_length=300)
    payload = models.JSONField(default=dict, help_text="What was sent: the rule, the runs, the figures.")
    count = models.PositiveIntegerField(default=0, help_text="How many runs the message is about.")
    test = models.BooleanField(default=False, help_text="A test message sent from the admin or the API.")
    delivered = models.BooleanField(default=False)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.subject
