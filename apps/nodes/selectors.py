"""Reads for node types (the registry mirrored in the database, with the admin's on/off switch)."""

from __future__ import annotations

import hashlib

from django.db.models import Count, Max, QuerySet

from .models import NodeType
from .registry import registry


def node_type_list() -> QuerySet[NodeType]:
    """Every node type, enabled or not, in palette order (category, then name)."""
    return NodeType.objects.order_by("category", "name")


def node_type_config_schema(*, node_type: NodeType) -> dict:
    """The config schema as the node class declares it, keys in the author's order.

    The row's copy is a jsonb column in PostgreSQL, which stores object keys sorted by length then bytes, so
    forms built from it would list fields in an order nobody chose. A row whose class is gone (a plugin
    uninstalled until the next sync) falls back to its stored copy.
    """
    if node_type.name in registry:
        return registry.get(node_type.name).config_schema
    return node_type.config_schema


def node_types_version() -> str:
    """A short fingerprint of every node type row: changes whenever a row is added, changed or deleted."""
    state = NodeType.objects.aggregate(count=Count("id"), changed=Max("updated_at"))
    return hashlib.sha256(f"{state['count']}|{state['changed']}".encode()).hexdigest()[:16]
