"""Writes for node types: mirror the registry into NodeType rows, and switch types on and off."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from .base import Node
from .models import NodeType
from .registry import NodeRegistry, class_path, registry

MIRRORED_FIELDS = (
    "category",
    "version",
    "display_name",
    "description",
    "icon",
    "config_schema",
    "inputs",
    "outputs",
    "implementation",
)


@dataclass(frozen=True)
class SyncResult:
    """Type names the sync created, updated and deleted (rows of types no longer registered)."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]


def _row_values(node_class: type[Node]) -> dict:
    return {
        "category": str(node_class.category),
        "version": str(node_class.version),
        "display_name": node_class.display_name or node_class.type_name,
        "description": node_class.description,
        "icon": node_class.icon,
        "config_schema": node_class.config_schema,
        "inputs": list(node_class.inputs),
        "outputs": list(node_class.outputs),
        "implementation": class_path(node_class),
    }


@transaction.atomic
def node_type_sync(*, node_registry: NodeRegistry = registry, using: str = DEFAULT_DB_ALIAS) -> SyncResult:
    """Make the NodeType rows match the registry; `is_enabled` (the admin's choice) is kept.

    Rows of types the registry no longer has are deleted: the code is the source of truth, and a
    workflow using such a type already fails validation as an unknown type.
    """
    rows = {row.name: row for row in NodeType.objects.using(using).select_for_update()}
    created, updated = [], []
    for node_class in node_registry.all():
        values = _row_values(node_class)
        row = rows.pop(node_class.type_name, None)
        if row is None:
            row = NodeType(name=node_class.type_name, **values)
            row.full_clean()
            row.save(using=using)
            created.append(row.name)
        elif any(getattr(row, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(row, field, value)
            row.full_clean()
            row.save(using=using)
            updated.append(row.name)
    deleted = tuple(sorted(rows))
    NodeType.objects.using(using).filter(name__in=deleted).delete()
    return SyncResult(created=tuple(created), updated=tuple(updated), deleted=deleted)


@transaction.atomic
def node_type_set_enabled(*, node_type: NodeType, is_enabled: bool) -> NodeType:
    """Switch a node type on or off; workflows using a disabled type fail validation."""
    node_type.is_enabled = is_enabled
    node_type.full_clean()
    node_type.save(update_fields=["is_enabled", "updated_at"])
    return node_type


def sync_after_migrate(sender, *, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate receiver: keep the rows in step with the code after every `migrate` (and test DB setup)."""
    if NodeType._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated backwards past the table
    node_type_sync(using=using)
