"""The trigger kind registry: every way a Trigger row can start its workflow, by name.

A trigger kind is a declaration: the config a Trigger row of the kind keeps (a JSON Schema, plus any further
check), the start node types it fits, its public endpoint if it has one, and what a run it starts receives.
Built-ins (manual, webhook, schedule, form, api) register in `apps.workflows.builtin_triggers`; third-party
packages declare entry points in the `concertmaster.triggers` group (a TriggerKindSpec subclass, or a module
whose import registers its kinds). `WorkflowsConfig.ready()` does both. `Trigger.kind` is a string checked
against this registry (callable model choices), so adding a kind needs no migration. How a row starts a run
(`trigger_fire`) and the built-in public endpoints are apps/executions/triggers.py and views.py.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.choices import CallableChoiceIterator
from jsonschema import Draft202012Validator

from apps.core.plugins import load_entry_points
from apps.nodes.expressions import pointer_join
from apps.nodes.registry import schema_errors

if TYPE_CHECKING:
    from .models import Trigger, Workflow

ENTRY_POINT_GROUP = "concertmaster.triggers"
KIND_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
#: The width of `Trigger.kind` and `WorkflowExecution.trigger_kind`.
KIND_NAME_MAX_LENGTH = 20

UNKNOWN_TRIGGER_KIND = 'Unknown trigger kind "{name}".'
NOT_A_KIND = "{obj!r} is not a subclass of apps.workflows.trigger_kinds.TriggerKindSpec."
BAD_KIND_NAME = (
    'Trigger kind {path} has name {name!r}: use lowercase letters, digits and "_" (dots separate a plugin '
    f"prefix), at most {KIND_NAME_MAX_LENGTH} characters."
)
NO_START_NODES = "Trigger kind {path} must declare start_nodes as a non-empty tuple of node type names."
DUPLICATE_KIND = 'Trigger kind "{name}" of {path} is already registered by {other}.'
INVALID_KIND_SCHEMA = 'Trigger kind "{name}" of {path} has an invalid config_schema at {where}: {message}'
CONFIG_NOT_OBJECT = "Must be an object."
CONFIG_BELONGS_TO_NODE = (
    "A {kind} trigger keeps no config: the workflow's {node} node defines it. Move {keys} into that node's config."
)
LIVE_DEFAULT = "Live: the workflow can be started this way."

#: The config schema of a kind whose row keeps no config (its start node's config is the truth).
NO_CONFIG: dict[str, Any] = {"type": "object", "maxProperties": 0}
#: The config schema of a kind whose row keeps any object.
ANY_CONFIG: dict[str, Any] = {"type": "object"}


class UnknownTriggerKind(LookupError):
    """No trigger kind is registered under that name."""

    def __init__(self, name: str) -> None:
        super().__init__(UNKNOWN_TRIGGER_KIND.format(name=name))
        self.name = name


class TriggerKindRegistrationError(ImproperlyConfigured):
    """A trigger kind cannot be registered (bad name, no start nodes, invalid schema, duplicate)."""


class TriggerKindSpec:
    """A trigger kind. Subclass it, set the class attributes, override a hook where the kind needs more, and
    register the class with `@register_trigger_kind` (or name it in a `concertmaster.triggers` entry point).

    A kind holds no state: the registry keeps one instance of each class.
    """

    #: The registered string stored in `Trigger.kind` and `WorkflowExecution.trigger_kind`.
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    #: The start node types a workflow must begin with; the first is the node whose config the trigger publishes.
    start_nodes: ClassVar[tuple[str, ...]] = ()
    #: What the Trigger row's `config` may hold (Draft 2020-12). NO_CONFIG: the start node's config is the truth.
    config_schema: ClassVar[dict[str, Any]] = NO_CONFIG
    #: The public endpoint: a Django URL name reversed with the row's `token`. None: the kind has no public address.
    url_name: ClassVar[str | None] = None
    #: Whether the row holds a signing secret that callers sign with.
    has_signing_secret: ClassVar[bool] = False
    live_detail_text: ClassVar[str] = LIVE_DEFAULT

    @property
    def public(self) -> bool:
        """Whether the kind has a public address (publishing a workflow creates a trigger of each public kind)."""
        return self.url_name is not None

    @property
    def keeps_config(self) -> bool:
        return self.config_schema is not NO_CONFIG

    def validate_config(self, config: dict, *, workflow: Workflow) -> dict:
        """Check the config a Trigger row of this kind keeps against `config_schema`; return it normalised.

        Raises ValidationError keyed by `config` or `config/<pointer>`.
        """
        if not self.keeps_config:
            if config:
                keys = ", ".join(sorted(config))
                message = CONFIG_BELONGS_TO_NODE.format(kind=self.name, node=self.start_nodes[0], keys=keys)
                raise ValidationError({"config": [message]})
            return config
        errors: dict[str, list[str]] = {}
        for error in Draft202012Validator(self.config_schema).iter_errors(config):
            pointer = "config"
            for part in error.absolute_path:
                pointer = pointer_join(pointer, part)
            errors.setdefault(pointer, []).append(error.message)
        if errors:
            raise ValidationError(errors)
        return config

    def run_input(self, *, trigger: Trigger, payload: Any) -> Any:
        """What a run this trigger starts receives as its trigger data (the start node's input)."""
        return payload

    def unusable(self, *, trigger: Trigger) -> tuple[str, str] | None:
        """(state, sentence) when a live-looking row cannot start runs for a reason of the kind's own, else None."""
        return None

    def live_detail(self, *, trigger: Trigger) -> str:
        """The sentence people read about a live trigger of this kind."""
        return self.live_detail_text


def class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def check_kind_class(cls: object) -> None:
    """Raise TriggerKindRegistrationError unless `cls` is a complete, well-declared trigger kind class."""
    if not (inspect.isclass(cls) and issubclass(cls, TriggerKindSpec)):
        raise TriggerKindRegistrationError(NOT_A_KIND.format(obj=cls))
    path = class_path(cls)
    name = cls.name
    if not isinstance(name, str) or len(name) > KIND_NAME_MAX_LENGTH or not KIND_NAME_PATTERN.match(name):
        raise TriggerKindRegistrationError(BAD_KIND_NAME.format(path=path, name=name))
    nodes = cls.start_nodes
    if not isinstance(nodes, tuple) or not nodes or not all(isinstance(node, str) and node for node in nodes):
        raise TriggerKindRegistrationError(NO_START_NODES.format(path=path))
    errors = schema_errors(cls.config_schema)
    if errors:
        where, message = errors[0]
        raise TriggerKindRegistrationError(
            INVALID_KIND_SCHEMA.format(name=name, path=path, where=where or "/", message=message)
        )


class TriggerKindRegistry:
    """Trigger kinds by name, in registration order. Registering the same class twice is a no-op; another class
    under a taken name is an error."""

    def __init__(self) -> None:
        self._kinds: dict[str, TriggerKindSpec] = {}

    def register(self, cls: type[TriggerKindSpec]) -> type[TriggerKindSpec]:
        """Register a kind class (usable as a class decorator); raise TriggerKindRegistrationError if it is bad."""
        check_kind_class(cls)
        existing = self._kinds.get(cls.name)
        if existing is not None and type(existing) is cls:
            return cls
        if existing is not None:
            raise TriggerKindRegistrationError(
                DUPLICATE_KIND.format(name=cls.name, path=class_path(cls), other=class_path(type(existing)))
            )
        self._kinds[cls.name] = cls()
        return cls

    def unregister(self, name: str) -> None:
        """Forget a kind (tests and plugin reloads); raise UnknownTriggerKind if it is not registered."""
        if self._kinds.pop(name, None) is None:
            raise UnknownTriggerKind(name)

    def get(self, name: str) -> TriggerKindSpec:
        try:
            return self._kinds[name]
        except KeyError:
            raise UnknownTriggerKind(name) from None

    def all(self) -> list[TriggerKindSpec]:
        """Every registered kind, in registration order (built-ins first)."""
        return list(self._kinds.values())

    def choices(self) -> list[tuple[str, str]]:
        """(name, label) of every kind: the model fields' and filters' callable choices."""
        return [(kind.name, kind.label or kind.name) for kind in self._kinds.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def __len__(self) -> int:
        return len(self._kinds)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[type[TriggerKindSpec]]:
        """Load every entry point of `group`: a TriggerKindSpec subclass is registered; a module registers its
        kinds when imported. Returns the classes the entry points named directly."""
        return load_entry_points(group, register=self.register, error=TriggerKindRegistrationError)


trigger_kinds = TriggerKindRegistry()
register_trigger_kind = trigger_kinds.register


def trigger_kind_choices() -> list[tuple[str, str]]:
    """The registered kinds as choices; a model field's callable `choices` (migrations keep the reference)."""
    return trigger_kinds.choices()


#: The same, as an iterable read each time a form field or the OpenAPI schema is built (query filters).
TRIGGER_KIND_CHOICES = CallableChoiceIterator(trigger_kind_choices)
