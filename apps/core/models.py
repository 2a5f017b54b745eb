"""Abstract bases shared by every app's models."""

import uuid

from django.db import models


class BaseModel(models.Model):
    """A row with a UUID primary key and created/updated timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TenantModel(BaseModel):
    """A row that belongs to one organization; every query on it is scoped by that organization."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True
