"""Executions: one run of a pinned workflow version, one row per node, and an append-only event log."""

from django.conf import settings
from django.db import models

from apps.core.models import TenantModel
from apps.workflows.choices import TriggerKind
from apps.workflows.trigger_kinds import KIND_NAME_MAX_LENGTH, trigger_kind_choices

from .alert_models import AlertMessage, AlertRule, ErrorWorkflowRun  # noqa: F401  (error workflows and alerts)
from .choices import BreakerState, DeliveryOutcome, ExecutionStatus, LogLevel, NodeStatus, RunMode
from .file_models import ExecutionFile  # noqa: F401  (its own module; imported here so Django finds it)


class WorkflowExecution(TenantModel):
    """One run of a workflow. It pins a WorkflowVersion, so editing the workflow never changes it."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="executions")
    workflow = models.ForeignKey("workflows.Workflow", on_delete=models.CASCADE, related_name="executions")
    # RESTRICT, not PROTECT: a version cannot be deleted under its executions, yet deleting the workflow
    # (or organization) takes its versions and executions together.
    version = models.ForeignKey("workflows.WorkflowVersion", on_delete=models.RESTRICT, related_name="executions")
    status = models.CharField(max_length=20, choices=ExecutionStatus.choices, default=ExecutionStatus.PENDING)
    trigger_kind = models.CharField(
        max_length=KIND_NAME_MAX_LENGTH, choices=trigger_kind_choices, default=TriggerKind.MANUAL
    )
    trigger_data = models.JSONField(default=dict, blank=True)
    context = models.JSONField(default=dict, blank=True)
    variables_override = models.JSONField(
        null=True,
        blank=True,
        help_text="Variables the run was started with, over its version's (null: none given).",
    )
    output = models.JSONField(null=True, blank=True, help_text="What the last nodes produced.")
    error = models.JSONField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, blank=True, db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    parent_node_id = models.CharField(max_length=100, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_seq = models.PositiveIntegerField(default=0, help_text="Sequence number of the last event.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source_execution = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reruns",
        help_text="The execution this one re-runs.",
    )
    rerun_from = models.CharField(
        max_length=100, blank=True, help_text="Where the re-run started: 'failed', 'trigger' or a node id."
    )
    test_run = models.BooleanField(default=False, help_text="A test run: pinned node outputs stand in for the nodes.")
    run_mode = models.CharField(
        max_length=10, choices=RunMode.choices, default=RunMode.FULL, help_text="full, or a partial test run."
    )
    run_node_id = models.CharField(max_length=100, blank=True, help_text="The node a partial run is about.")
    custom_data = models.JSONField(default=dict, blank=True, help_text="Key-values the nodes attached to the run.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="execution_status_created"),
            models.Index(fields=["workflow", "status", "created_at"], name="execution_wf_status_created"),
            models.Index(fields=["organization", "-created_at"], name="execution_org_created"),
            # The ops dashboard: executions by status over a time window (an index-only range), a workflow's last run.
            models.Index(fields=["created_at", "status"], name="execution_created_status"),
            models.Index(fields=["workflow", "-created_at"], name="execution_wf_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ExecutionStatus.values), name="execution_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(run_mode__in=RunMode.values), name="execution_run_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow} #{str(self.pk)[:8]} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class NodeExecution(TenantModel):
    """The state of one node in one execution: exactly one row per execution and node id."""

    # Every index costs each node update (a status change is never a HOT update): the execution's id leads two
    # of them already, the creation time is only read per execution, and the recovery scans have partial ones.
    created_at = models.DateTimeField(auto_now_add=True)
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    execution = models.ForeignKey(
        WorkflowExecution, on_delete=models.CASCADE, related_name="node_executions", db_index=False
    )
    node_id = models.CharField(max_length=100)
    node_type = models.CharField(max_length=100)
    status = models.CharField(max_length=20, choices=NodeStatus.choices, default=NodeStatus.PENDING)
    attempt = models.PositiveIntegerField(default=0)
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    rendered_config = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    ports = models.JSONField(default=list, blank=True, help_text="The output ports the node emitted.")
    state = models.JSONField(
        default=dict, blank=True, help_text="Engine bookkeeping: why the node waits, what it resumes with."
    )
    task_id = models.CharField(max_length=64, blank=True, help_text="The Celery task that may run the node.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    wake_at = models.DateTimeField(null=True, blank=True, help_text="When a waiting or retrying node is due.")
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When the node was first queued in this run (kept across retries and waits)."
    )
    started_at = models.DateTimeField(null=True, blank=True, help_text="When the last attempt started.")
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Compute time of the run that produced the result, in milliseconds."
    )

    class Meta:
        ordering = ["execution", "started_at", "created_at"]
        indexes = [
            models.Index(fields=["execution", "status"], name="nodeexec_exec_status"),
            models.Index(
                fields=["node_type", "finished_at"],
                name="nodeexec_failed_type",
                condition=models.Q(status=NodeStatus.FAILED),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="nodeexec_inflight_lease",
                condition=models.Q(status__in=[NodeStatus.QUEUED, NodeStatus.RUNNING]),
            ),
            models.Index(
                fields=["wake_at"],
                name="nodeexec_parked_wake",
                condition=models.Q(status__in=[NodeStatus.RETRYING, NodeStatus.WAITING]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["execution", "node_id"], name="nodeexec_unique_node"),
            models.CheckConstraint(condition=models.Q(status__in=NodeStatus.values), name="nodeexec_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id} ({self.status})"

    @property
    def waited_ms(self) -> int | None:
        """Milliseconds from first queued to finished that were not the result's compute time: queueing, a
        delay, an approval, retry back-offs (None until the node has finished)."""
        return waited_ms(queued_at=self.queued_at, finished_at=self.finished_at, duration_ms=self.duration_ms)


def waited_ms(*, queued_at, finished_at, duration_ms: int | None) -> int | None:
    """`finished_at - queued_at - duration_ms` in milliseconds, never below 0; None when a time is unknown."""
    if queued_at is None or finished_at is None:
        return None
    total = int((finished_at - queued_at).total_seconds() * 1000)
    return max(total - (duration_ms or 0), 0)


class ExecutionEvent(TenantModel):
    """One transition of an execution, in order: clients replay these after reconnecting."""

    # Read by execution and seq only (the unique constraint's index): no index of their own, one insert each fewer.
    created_at = models.DateTimeField(auto_now_add=True)
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    execution = models.ForeignKey(WorkflowExecution, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=50)
    node_id = models.CharField(max_length=100, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["execution", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "seq"], name="event_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}"


class ExecutionLog(models.Model):
    """One line a node logged (the `log` node, `ctx.logger`, `ctx.log`), kept with its execution.

    Not a TenantModel: an integer key orders the lines of an execution as they were written and lets a client
    ask for those after the last one it has (`?after=<id>`). Bounded per execution (CONCERTMASTER_EXECUTION_LOG_*).
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    execution = models.ForeignKey(WorkflowExecution, on_delete=models.CASCADE, related_name="logs", db_index=False)
    node_id = models.CharField(max_length=100, blank=True)
    level = models.CharField(max_length=10, choices=LogLevel.choices, default=LogLevel.INFO)
    message = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["execution", "id"]
        indexes = [
            models.Index(fields=["execution", "id"], name="executionlog_exec_id"),
            models.Index(fields=["at"], name="executionlog_at"),  # retention deletes by age
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(level__in=LogLevel.values), name="executionlog_level_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.node_id}: {self.message[:50]}"


class SavedExecutionFilter(TenantModel):
    """A person's named search of the execution list: the list's query parameters, applied with `?saved=<id>`."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="execution_filters")
    name = models.CharField(max_length=100)
    query = models.JSONField(
        default=dict, help_text='Query parameters of the execution list, e.g. {"status": "failed"}.'
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization", "name"], name="savedfilter_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(TenantModel):
    """One call of a webhook trigger, whatever became of it: the webhook inbox, kept CONCERTMASTER_WEBHOOK_INBOX_DAYS.

    An accepted row is also what makes a later call a duplicate: its signature digest and sender message id for as
    long as the row is kept, its `Idempotency-Key` while `idempotency_active` (CONCERTMASTER_WEBHOOK_IDEMPOTENCY_HOURS).
    """

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    trigger = models.ForeignKey("workflows.Trigger", on_delete=models.CASCADE, related_name="webhook_deliveries")
    outcome = models.CharField(max_length=20, choices=DeliveryOutcome.choices)
    status_code = models.PositiveSmallIntegerField(help_text="The HTTP status the caller was answered with.")
    detail = models.CharField(max_length=500, blank=True, help_text="Why it was refused.")
    method = models.CharField(max_length=10, default="POST")
    headers = models.JSONField(default=dict, blank=True, help_text="Request headers; secrets are left out.")
    query = models.JSONField(default=dict, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="The body as text, up to CONCERTMASTER_WEBHOOK_INBOX_MAX_BODY_BYTES.")
    body_truncated = models.BooleanField(default=False)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    signature_scheme = models.CharField(max_length=30, blank=True, help_text="The scheme checked; blank if none.")
    signature_digest = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the verified signature: a delivery is accepted once per digest.",
    )
    message_id = models.CharField(
        max_length=200, blank=True, help_text="The sender's message id (webhook-id, X-GitHub-Delivery)."
    )
    idempotency_key = models.CharField(max_length=200, blank=True)
    idempotency_active = models.BooleanField(
        default=False, help_text="This accepted delivery still answers for its Idempotency-Key."
    )
    execution = models.ForeignKey(
        WorkflowExecution, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="webhookdelivery_org_created"),
            models.Index(fields=["trigger", "-created_at"], name="webhookdelivery_trig_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["trigger", "idempotency_key"],
                condition=models.Q(idempotency_active=True),
                name="webhookdelivery_unique_key",
            ),
            models.UniqueConstraint(
                fields=["trigger", "signature_digest"],
                condition=models.Q(outcome="accepted") & ~models.Q(signature_digest=""),
                name="webhookdelivery_unique_signature",
            ),
            models.UniqueConstraint(
                fields=["trigger", "message_id"],
                condition=models.Q(outcome="accepted") & ~models.Q(message_id=""),
                name="webhookdelivery_unique_message",
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=DeliveryOutcome.values), name="webhookdelivery_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} {self.status_code} ({self.created_at:%Y-%m-%d %H:%M:%S})"


class CircuitBreaker(TenantModel):
    """A circuit breaker that has opened at least once, per organization, node type and target.

    The breaker's live state is in the cache (engine/breaker.py); this row mirrors its transitions (open,
    half-open, closed), written only when one happens, so the admin can list open breakers and reset them.
    """

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    node_type = models.CharField(max_length=100)
    target = models.CharField(
        max_length=300, blank=True, help_text="What failed: a host, a credential; blank for the node type as a whole."
    )
    state = models.CharField(max_length=20, choices=BreakerState.choices, default=BreakerState.CLOSED)
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failures when it last opened.")
    opened_until = models.DateTimeField(null=True, blank=True, help_text="When the breaker lets a probe through.")
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "node_type", "target"], name="breaker_unique_key"),
            models.CheckConstraint(condition=models.Q(state__in=BreakerState.values), name="breaker_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.node_type} {self.target or '(any target)'}: {self.state}"
