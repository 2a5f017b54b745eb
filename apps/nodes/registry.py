"""The node registry: every node type the platform can run, by `type_name`.

Built-ins register with the `@register` decorator when `apps.nodes.builtin` is imported; third-party
packages declare entry points in the `concertmaster.nodes` group (a Node class, or a module whose import
registers its nodes). `NodesConfig.ready()` does both, so a bad node stops startup with a clear message.
"""

from __future__ import annotations

import inspect
import re

from django.core.exceptions import ImproperlyConfigured
from jsonschema import Draft202012Validator

from apps.core.plugins import load_entry_points

from .base import ERROR, Node
from .choices import Category
from .expressions import pointer_join

ENTRY_POINT_GROUP = "concertmaster.nodes"
TYPE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
TYPE_NAME_MAX_LENGTH = 100

UNKNOWN_NODE_TYPE = 'Unknown node type "{name}".'
NOT_A_NODE = "{obj!r} is not a subclass of apps.nodes.base.Node."
ABSTRACT_NODE = "Node class {path} does not implement run()."
BAD_TYPE_NAME = (
    'Node class {path} has type_name {name!r}: use lowercase letters, digits and "_" (dots separate a '
    f"plugin prefix), at most {TYPE_NAME_MAX_LENGTH} characters."
)
DUPLICATE_TYPE_NAME = 'Node type "{name}" of {path} is already registered by {other}.'
BAD_CATEGORY = "Node class {path} has category {category!r}; expected one of: {choices}."
BAD_PORTS = "Node class {path} must declare {attribute} as a tuple of distinct port names."
ERROR_PORT_DECLARED = f'Node class {{path}} declares the "{ERROR}" port, which every node has implicitly.'
INVALID_SCHEMA = 'Node type "{name}" of {path} has an invalid config_schema at {where}: {message}'
NOT_STRICT_SCHEMA = (
    'Node type "{name}" of {path} must have a strict config_schema: "type": "object" and '
    '"additionalProperties": false at the top level.'
)


class UnknownNodeType(LookupError):
    """No node type is registered under that name."""

    def __init__(self, name: str) -> None:
        super().__init__(UNKNOWN_NODE_TYPE.format(name=name))
        self.name = name


class NodeRegistrationError(ImproperlyConfigured):
    """A node class cannot be registered (duplicate name, invalid schema, bad declaration)."""


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def schema_errors(schema: object) -> list[tuple[str, str]]:
    """Where and why `schema` fails the Draft 2020-12 metaschema, as (JSON pointer, message) pairs."""
    validator = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    errors = []
    for error in validator.iter_errors(schema):
        pointer = ""
        for part in error.absolute_path:
            pointer = pointer_join(pointer, part)
        errors.append((pointer, error.message))
    return sorted(errors)


def _check_ports(cls: type[Node], path: str) -> None:
    for attribute in ("inputs", "outputs"):
        ports = getattr(cls, attribute)
        if not isinstance(ports, tuple) or not all(isinstance(p, str) and p for p in ports):
            raise NodeRegistrationError(BAD_PORTS.format(path=path, attribute=attribute))
        if len(set(ports)) != len(ports):
            raise NodeRegistrationError(BAD_PORTS.format(path=path, attribute=attribute))
    if ERROR in cls.outputs:
        raise NodeRegistrationError(ERROR_PORT_DECLARED.format(path=path))


def check_node_class(cls: object) -> None:
    """Raise NodeRegistrationError unless `cls` is a complete, well-declared node class."""
    if not (inspect.isclass(cls) and issubclass(cls, Node)):
        raise NodeRegistrationError(NOT_A_NODE.format(obj=cls))
    path = class_path(cls)
    if inspect.isabstract(cls):
        raise NodeRegistrationError(ABSTRACT_NODE.format(path=path))
    name = getattr(cls, "type_name", None)
    if not isinstance(name, str) or len(name) > TYPE_NAME_MAX_LENGTH or not TYPE_NAME_PATTERN.match(name):
        raise NodeRegistrationError(BAD_TYPE_NAME.format(path=path, name=name))
    category = getattr(cls, "category", None)
    if category not in Category.values:
        raise NodeRegistrationError(
            BAD_CATEGORY.format(path=path, category=category, choices=", ".join(Category.values))
        )
    _check_ports(cls, path)
    errors = schema_errors(cls.config_schema)
    if errors:
        where, message = errors[0]
        raise NodeRegistrationError(INVALID_SCHEMA.format(name=name, path=path, where=where or "/", message=message))
    schema = cls.config_schema
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise NodeRegistrationError(NOT_STRICT_SCHEMA.format(name=name, path=path))


class NodeRegistry:
    """Node classes by type name. Registering the same class twice is a no-op; another class under a
    taken name is an error."""

    def __init__(self) -> None:
        self._nodes: dict[str, type[Node]] = {}

    def register(self, cls: type[Node]) -> type[Node]:
        """Register a node class (usable as a class decorator); raise NodeRegistrationError if it is bad."""
        check_node_class(cls)
        existing = self._nodes.get(cls.type_name)
        if existing is cls:
            return cls
        if existing is not None:
            raise NodeRegistrationError(
                DUPLICATE_TYPE_NAME.format(name=cls.type_name, path=class_path(cls), other=class_path(existing))
            )
        self._nodes[cls.type_name] = cls
        return cls

    def unregister(self, type_name: str) -> None:
        """Forget a node type (tests and plugin reloads); raise UnknownNodeType if it is not registered."""
        if self._nodes.pop(type_name, None) is None:
            raise UnknownNodeType(type_name)

    def get(self, type_name: str) -> type[Node]:
        try:
            return self._nodes[type_name]
        except KeyError:
            raise UnknownNodeType(type_name) from None

    def all(self) -> list[type[Node]]:
        """Every registered node class, sorted by category then type name."""
        return sorted(self._nodes.values(), key=lambda cls: (cls.category, cls.type_name))

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[type[Node]]:
        """Load every entry point of `group` and register the node classes it names or its import registers.

        An entry point names a Node class, or a module whose import registers its classes with `@register`.
        Returns the classes the entry points named directly.
        """
        return load_entry_points(group, register=self.register, error=NodeRegistrationError)


registry = NodeRegistry()
register = registry.register
