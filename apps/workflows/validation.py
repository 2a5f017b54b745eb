"""Validate a definition against the node types this installation has: the registry plus the admin's switches.

`graph.py` is pure and knows node types only as `NodeSpec`s; this module builds them from
`apps.nodes.registry` (ports, schema checks) and `NodeType.is_enabled` (one query per call).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from apps.nodes.expressions import expression_syntax_errors, node_references
from apps.nodes.models import NodeType
from apps.nodes.registry import registry
from apps.nodes.validation import validate_config

from .graph import NodeSpec, Problem, unreadable, validate_definition

#: How one problem reads inside a ValidationError: the JSON pointer first, then the message.
PROBLEM_FORMAT = "%(path)s: %(message)s"


def _config_errors(type_name: str) -> Callable[[dict], list[tuple[str, str]]]:
    def config_errors(config: dict) -> list[tuple[str, str]]:
        # validate_config also reports expression syntax; graph.py reports that itself (as bad_expression)
        # for every node, including nodes of unknown type, so drop it here rather than report it twice.
        errors = validate_config(type_name, config)
        if not errors:
            return []
        syntax = set(expression_syntax_errors(registry.get(type_name).expression_config(config)))
        return [(e.path, e.message) for e in errors if (e.path, e.message) not in syntax]

    return config_errors


def node_specs(*, disabled: Collection[str] | None = None) -> dict[str, NodeSpec]:
    """A `NodeSpec` for every registered node type; types disabled in the admin are marked so.

    `disabled` names the disabled types; by default they are read from NodeType (one query).
    """
    if disabled is None:
        disabled = set(NodeType.objects.filter(is_enabled=False).values_list("name", flat=True))
    return {
        cls.type_name: NodeSpec(
            type_name=cls.type_name,
            category=cls.category,
            inputs=tuple(cls.inputs),
            outputs=tuple(cls.outputs),
            output_ports=cls.output_ports,
            enabled=cls.type_name not in disabled,
            config_errors=_config_errors(cls.type_name),
            verbatim=tuple(cls.verbatim_fields),
        )
        for cls in registry.all()
    }


def workflow_definition_problems(definition: Any, *, node_types: Mapping[str, NodeSpec] | None = None) -> list[Problem]:
    """Every problem of `definition` with this installation's node types (see graph.validate_definition)."""
    return validate_definition(
        definition,
        node_types=node_specs() if node_types is None else node_types,
        expression_errors=expression_syntax_errors,
        node_references=node_references,
    )


def problems_to_validation_error(problems: list[Problem], *, field: str = "definition") -> ValidationError:
    """One ValidationError on `field` whose messages read "<pointer>: <message>", each with the problem's code.

    The pointer also travels in `params["path"]`, so an API can address each problem precisely.
    """
    return ValidationError(
        {
            field: [
                ValidationError(PROBLEM_FORMAT, code=p.code, params={"path": p.path, "message": p.message})
                for p in problems
            ]
        }
    )


def problems_payload(problems: list[Problem]) -> list[dict]:
    """Problems as the API lists them: {"path": JSON pointer, "message", "code"}."""
    return [{"path": p.path, "message": p.message, "code": p.code} for p in problems]


class DefinitionInvalid(ValidationError):
    """A ValidationError on `definition` (one message per problem) that keeps the problems themselves.

    The API's error handler adds `response_extra` to the error body, so a refused activation or run lists
    the problems in the shape of the validate endpoint.
    """

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems_to_validation_error(problems).error_dict)
        self.problems = problems

    @property
    def response_extra(self) -> dict:
        return {"problems": problems_payload(self.problems)}


def definition_validate(definition: Any) -> None:
    """Raise DefinitionInvalid (a ValidationError({"definition": [...]})) when `definition` has any problem."""
    problems = workflow_definition_problems(definition)
    if problems:
        raise DefinitionInvalid(problems)


def definition_draft_problems(definition: Any) -> list[Problem]:
    """The problems a draft may be saved with; raise DefinitionInvalid when it is not a definition at all.

    Unreadable (graph.UNREADABLE): not an object, `nodes`/`edges`/`variables` of the wrong type, a node or
    edge that is not an object, a node without a string id or type, an edge end or port that is not a
    string. Everything else (unknown types, bad configs, missing edges, cycles, references) is a draft's.
    """
    problems = workflow_definition_problems(definition)
    refused = unreadable(problems)
    if refused:
        raise DefinitionInvalid(refused)
    return problems
