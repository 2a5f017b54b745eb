"""Node models: the registry mirrored into the database, and the organizations' datastore.

NodeType lets admins see and disable node types; DataRecord holds the JSON records of the datastore nodes.
"""

from django.db import models

from apps.core.models import BaseModel, TenantModel

from .choices import Category


class NodeType(BaseModel):
    """One registered node type. The code is the source of truth; this row adds `is_enabled`."""

    name = models.CharField(max_length=100, unique=True)
    category = models.CharField(max_length=20, choices=Category.choices)
    version = models.CharField(max_length=20, default="1")
    display_name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    icon = models.CharField(max_length=50, blank=True)
    config_schema = models.JSONField(default=dict, blank=True)
    inputs = models.JSONField(default=list, blank=True)
    outputs = models.JSONField(default=list, blank=True)
    implementation = models.CharField(max_length=300, help_text="Dotted path of the node class.")
    is_enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["category", "name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(category__in=Category.values), name="nodetype_category_valid"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.name


class DataRecord(TenantModel):
    """One JSON record of an organization's datastore, written and read by the datastore nodes."""

    collection = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["collection", "key"]
        indexes = [models.Index(fields=["updated_at"], name="datarecord_updated")]  # retention deletes by age
        constraints = [
            models.UniqueConstraint(fields=["organization", "collection", "key"], name="datarecord_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.collection}/{self.key}"
