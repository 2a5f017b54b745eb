"""Workflows, their immutable versions, how they are triggered, and the credentials they use."""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.core.models import TenantModel

from .choices import WorkflowStatus
from .crypto import EncryptedJSONField
from .trigger_kinds import KIND_NAME_MAX_LENGTH, trigger_kind_choices

VERSION_IMMUTABLE = "A workflow version is an immutable snapshot: save a new version instead."
ERROR_WORKFLOW_OTHER_ORGANIZATION = "Must be a workflow of the same organization."
ERROR_WORKFLOW_ITSELF = "A workflow cannot be its own error workflow."


def _token() -> str:
    return secrets.token_urlsafe(24)


class Workflow(TenantModel):
    """A graph of nodes. `definition` is the working copy (a draft while it has problems); each save of a
    valid definition also records a WorkflowVersion, which is what runs. Its variables live in the
    definition (`definition.variables`), so versions carry them."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=WorkflowStatus.choices, default=WorkflowStatus.DRAFT)
    definition = models.JSONField(default=dict, blank=True)
    revision = models.PositiveIntegerField(
        default=1, editable=False, help_text="Bumped by every save; a save based on an older one is refused."
    )
    max_concurrent_executions = models.PositiveIntegerField(
        null=True, blank=True, help_text="Executions beyond this many wait in order. Empty: no limit."
    )
    pins = models.JSONField(
        default=dict,
        blank=True,
        help_text="Pinned data of the draft: node id -> the output test runs use instead of running the node.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error_workflow = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Started with the details of each failed run of this workflow. Empty: the organization's default.",
    )
    is_default_error_workflow = models.BooleanField(
        default=False,
        help_text="The organization's error workflow: started when a workflow without one of its own fails.",
    )

    class Meta:
        ordering = ["name"]
        permissions = [("execute_workflow", "Can execute workflow")]
        indexes = [models.Index(fields=["organization", "status"], name="workflow_org_status")]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=WorkflowStatus.values), name="workflow_status_valid"),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default_error_workflow=True),
                name="workflow_one_default_error_workflow",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.error_workflow_id is None:
            return
        if self.error_workflow_id == self.pk:
            raise ValidationError({"error_workflow": [ERROR_WORKFLOW_ITSELF]})
        if self.error_workflow is not None and self.error_workflow.organization_id != self.organization_id:
            raise ValidationError({"error_workflow": [ERROR_WORKFLOW_OTHER_ORGANIZATION]})

    @property
    def latest_version(self) -> "WorkflowVersion | None":
        return self.versions.order_by("-number").first()


class WorkflowVersionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError(VERSION_IMMUTABLE)


class WorkflowVersion(TenantModel):
    """An immutable snapshot of a workflow's definition; executions pin one."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WorkflowVersionQuerySet.as_manager()

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="workflowversion_unique_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="workflowversion_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError(VERSION_IMMUTABLE)
        super().save(*args, **kwargs)


class Trigger(TenantModel):
    """How a workflow starts: by hand, by a webhook call, on a schedule, by a form submission, or by a plugin's kind.

    The row publishes the workflow's start node: it holds the public token, the webhook signing secret and the
    on/off switch. `kind` is a registered trigger kind (apps/workflows/trigger_kinds.py): callable choices, so a
    new kind needs no migration.
    """

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="triggers")
    kind = models.CharField(max_length=KIND_NAME_MAX_LENGTH, choices=trigger_kind_choices)
    name = models.CharField(max_length=200, blank=True)
    config = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    webhook_token = models.CharField(max_length=64, unique=True, default=_token, editable=False)
    signing_secret = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["workflow", "kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} trigger of {self.workflow}"


class Credential(TenantModel):
    """A secret a node uses (an API token, SMTP login). Encrypted at rest; never returned in clear."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="credentials")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=50, help_text="What the secret is for, e.g. http_bearer, smtp, github.")
    data = EncryptedJSONField(default=dict)
    allow_private = models.BooleanField(
        default=False,
        help_text="Internal: nodes may reach a private address with it (set by an administrator in the admin).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="credential_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class WorkflowUserObjectPermission(UserObjectPermissionBase):
    """Guardian object permission of a user on one workflow (direct foreign key, indexed)."""

    content_object = models.ForeignKey(Workflow, on_delete=models.CASCADE)


class WorkflowGroupObjectPermission(GroupObjectPermissionBase):
    """Guardian object permission of a group on one workflow (direct foreign key, indexed)."""

    content_object = models.ForeignKey(Workflow, on_delete=models.CASCADE)


class FormSubmission(TenantModel):
    """One submission of a form trigger: stored whether or not it started an execution."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")
    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="form_submissions")
    data = models.JSONField(default=dict)
    errors = models.JSONField(default=list, blank=True, help_text="Per-field errors of an invalid submission.")
    # A plain id, not a foreign key: executions depend on workflows, never the other way round.
    execution_id = models.UUIDField(null=True, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["trigger", "-created_at"], name="formsubmission_trigger_created")]

    def __str__(self) -> str:
        return f"Submission to {self.trigger_id} at {self.created_at:%Y-%m-%d %H:%M}"
