"""The built-in node library, one module per category. Importing this package registers every node."""

from . import actions, conditions, integrations, transforms, triggers

__all__ = ["actions", "conditions", "integrations", "transforms", "triggers"]
