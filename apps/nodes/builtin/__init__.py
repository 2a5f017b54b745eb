"""The built-in node library, one module per category. Importing this package registers every node."""

from . import actions, conditions, transforms, triggers

__all__ = ["actions", "conditions", "transforms", "triggers"]
