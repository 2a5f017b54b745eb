"""Organizations, who belongs to them, their API keys and what happened in them."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from apps.core.crypto import EncryptedJSONField
from apps.core.models import BaseModel, TenantModel

from .choices import Role


class Organization(BaseModel):
    """A tenant: every workflow, credential and execution belongs to exactly one."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TenantModel):
    """A user's role in one organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class ApiKey(TenantModel):
    """An organization's API key. Only a hash of the secret is stored; the key is shown once."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_secret = models.CharField(max_length=128, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (cm_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditLog(TenantModel):
    """One mutating action: who did what to which object, and with which data."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="audit_logs")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["organization", "-at"], name="auditlog_org_at")]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"


#: What an organization variable's or secret's name may be: an identifier, so `org.vars.NAME` reads it.
ORG_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
ORG_NAME_INVALID = "A name starts with a letter or underscore and holds only letters, digits and underscores (≤ 100)."


class OrganizationVariable(TenantModel):
    """A value every workflow of the organization reads in expressions as `org.vars.NAME` (not secret: members
    see it, and it may appear in rendered configs and events)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="variables")
    name = models.CharField(
        max_length=100, validators=[RegexValidator(ORG_NAME_PATTERN, ORG_NAME_INVALID, code="invalid_name")]
    )
    value = models.TextField(max_length=10000, blank=True)
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="orgvariable_unique_name")]

    def __str__(self) -> str:
        return self.name


class OrganizationSecret(TenantModel):
    """A secret of the organization, encrypted at rest and never shown again: only credentials read it, by a field
    whose whole value is `{{ org.secrets.NAME }}`, resolved when a node receives the credential."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(
        max_length=100, validators=[RegexValidator(ORG_NAME_PATTERN, ORG_NAME_INVALID, code="invalid_name")]
    )
    value = EncryptedJSONField(default=str)
    description = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="orgsecret_unique_name")]

    def __str__(self) -> str:
        return self.name


from .retention_models import RetentionPolicy  # noqa: E402, F401  (a model in a module of its own, of this app)
