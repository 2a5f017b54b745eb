"""The rows that list an execution's files (the bytes are in the platform storage: apps/nodes/files.py)."""

from django.db import models

from apps.core.models import TenantModel


class ExecutionFile(TenantModel):
    """A file an execution received (an upload to its webhook or form) or a node wrote. Deleted with the execution;
    its bytes leave the storage when the row is deleted (apps/executions/files.py)."""

    execution = models.ForeignKey("executions.WorkflowExecution", on_delete=models.CASCADE, related_name="files")
    node_id = models.CharField(max_length=100, blank=True, help_text="The node that wrote it; blank: an upload.")
    field = models.CharField(max_length=200, blank=True, help_text="The upload's form field.")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_key = models.CharField(max_length=500, unique=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["execution", "created_at"], name="execfile_execution_created")]
        constraints = [models.CheckConstraint(condition=models.Q(size__gte=0), name="execfile_size_not_negative")]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes)"

    def reference(self) -> dict:
        """The reference nodes and the API pass around (apps/nodes/files.py)."""
        return {
            "type": "file",
            "id": str(self.pk),
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "storage_key": self.storage_key,
        }
