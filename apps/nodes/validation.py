"""Check a node's config against its type: JSON Schema (Draft 2020-12 with formats), expression syntax,
and the node's own `check_config`. Every problem is reported at once, each with a JSON pointer."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .base import Node
from .expressions import expression_syntax_errors, has_expression, pointer_join
from .registry import registry

CONFIG_NOT_OBJECT = "The config must be an object."


@dataclass(frozen=True)
class ConfigError:
    """One problem in a config: `path` is a JSON pointer relative to the config ("" is the config itself)."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


@lru_cache(maxsize=512)
def _validator(node_class: type[Node]) -> Draft202012Validator:
    return Draft202012Validator(node_class.config_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _pointer(error: ValidationError) -> str:
    pointer = ""
    for part in error.absolute_path:
        pointer = pointer_join(pointer, part)
    return pointer


def _schema_errors(node_class: type[Node], config: dict, *, rendered: bool) -> list[ConfigError]:
    errors = []
    for error in _validator(node_class).iter_errors(config):
        if not rendered and has_expression(error.instance):
            # A value written as an expression is only known once rendered: the engine checks it then.
            continue
        errors.append(ConfigError(_pointer(error), error.message))
    return sorted(errors, key=lambda error: (error.path, error.message))


def instance_errors(schema: dict, instance: Any) -> list[ConfigError]:
    """Every way `instance` fails `schema` (a JSON Schema held in a config, e.g. a form's fields)."""
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = (ConfigError(_pointer(error), error.message) for error in validator.iter_errors(instance))
    return sorted(errors, key=lambda error: (error.path, error.message))


def validate_config(type_name: str, config: Any, *, rendered: bool = False) -> list[ConfigError]:
    """Every problem of `config` for node type `type_name`; an empty list means valid.

    `rendered=False` (editing time) skips schema checks of values that hold `{{ ... }}` and reports
    expression syntax errors; `rendered=True` (just before a run) checks every value as it is.
    Raises UnknownNodeType for a type that is not registered.
    """
    node_class = registry.get(type_name)
    if not isinstance(config, dict):
        return [ConfigError("", CONFIG_NOT_OBJECT)]
    errors = _schema_errors(node_class, config, rendered=rendered)
    if not rendered:
        expressions = node_class.expression_config(config)
        errors.extend(ConfigError(path, message) for path, message in expression_syntax_errors(expressions))
    if not errors:
        errors.extend(ConfigError(path, message) for path, message in node_class.check_config(config))
    return errors
