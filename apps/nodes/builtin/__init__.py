"""The built-in node library, one module per category. Importing this package registers every node."""

from . import actions, code_steps, conditions, databases, files, integrations, per_item, transforms, triggers

__all__ = [
    "actions",
    "code_steps",
    "conditions",
    "databases",
    "files",
    "integrations",
    "per_item",
    "transforms",
    "triggers",
]
