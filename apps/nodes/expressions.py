"""Expressions in node configs: `{{ ... }}` rendered by Jinja2's immutable sandbox over plain data.

The context holds `trigger`, `nodes` (`nodes.<id>.output`), `vars` and `execution`. A string that is
exactly one `{{ ... }}` renders to the expression's native value (number, list, object); any other
string containing template syntax renders to text. Nodes that work item by item (map, filter, sort)
evaluate bare expressions such as `item.amount > 10` themselves with `evaluate`.

The sandbox blocks attribute access to internals (`__class__`, `__globals__`, ...). On top of it this
module caps what one expression may build: `range` sizes (per call and per render), repeated sequences
(`'a' * n`), powers, padded and formatted strings, and the length of rendered text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, meta
from jinja2 import nodes as jinja_nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup

#: Largest `range(...)` one call may create.
MAX_RANGE = 10_000
#: Items all `range(...)` calls of one render may create together (nested loops multiply).
MAX_RANGE_TOTAL = 100_000
#: Longest string or sequence an operator or string method may build, and longest rendered text.
MAX_LENGTH = 1_000_000
#: Largest integer power, in bits of the result.
MAX_POWER_BITS = 100_000

RANGE_TOO_LARGE = f"range() is limited to {MAX_RANGE} items."
RANGE_BUDGET_EXHAUSTED = f"range() calls of one expression are limited to {MAX_RANGE_TOTAL} items in total."
RESULT_TOO_LARGE = f"The result would be longer than {MAX_LENGTH} characters or items."
POWER_TOO_LARGE = f"The power would be larger than {MAX_POWER_BITS} bits."
NESTED_FORMAT_SPEC = "A format specification may not be taken from the arguments."
NOT_DATA = "The expression returned a {kind}, not JSON data."
EXPRESSION_FAILED = 'Expression "{expression}"{where} failed: {reason}'
INVALID_SYNTAX = "Invalid expression syntax: {reason}"

_MARKERS = ("{{", "{%", "{#")
#: A whole string that is one `{{ ... }}` and nothing else (no other delimiters inside).
_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|%\}|\{#|#\}).)*)\}\}$", re.DOTALL)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:(?P<spec>[^{}]*)\}")
_NESTED_BRACE_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})

_range_budget: ContextVar[list[int] | None] = ContextVar("expression_range_budget", default=None)


class ExpressionError(Exception):
    """An expression failed to render. The message names the expression and where it sits in the config."""

    def __init__(self, reason: str, *, expression: str, pointer: str = "") -> None:
        where = f" at {pointer}" if pointer else ""
        super().__init__(EXPRESSION_FAILED.format(expression=expression, where=where, reason=reason))
        self.reason = reason
        self.expression = expression
        self.pointer = pointer

    @property
    def message(self) -> str:
        return str(self)


def _too_large(size: int) -> None:
    if size > MAX_LENGTH:
        raise SecurityError(RESULT_TOO_LARGE)


def _check_size(value: Any) -> Any:
    if isinstance(value, str | list | tuple | dict):
        _too_large(len(value))
    return value


def _check_repeat(left: Any, right: Any) -> None:
    """`'ab' * n` and `[x] * n` allocate before anything could stop them: check the size first."""
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            _too_large(len(sequence) * max(count, 0))


def _check_power(base: Any, exponent: Any) -> None:
    if not (isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1):
        return
    if abs(base).bit_length() * exponent > MAX_POWER_BITS:
        raise SecurityError(POWER_TOO_LARGE)


def _int_arguments(args: Iterable[Any]) -> list[int]:
    return [arg for arg in args if isinstance(arg, int) and not isinstance(arg, bool)]


def _check_percent_format(template: str, args: Any) -> None:
    """`'%999999999s' % x` pads to the width: cap widths and precisions, including `*` ones."""
    star_values = _int_arguments(args if isinstance(args, tuple) else (args,))
    for match in _PERCENT_SPEC.finditer(template):
        for part in (match.group("width"), match.group("precision")):
            if part == "*":
                for value in star_values:
                    _too_large(abs(value))
            elif part:
                _too_large(int(part))


def _check_brace_format(template: str) -> None:
    if _NESTED_BRACE_SPEC.search(template):
        raise SecurityError(NESTED_FORMAT_SPEC)
    for match in _BRACE_SPEC.finditer(template):
        for digits in re.findall(r"\d+", match.group("spec")):
            _too_large(int(digits))


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    occurrences = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    _too_large(len(text) + occurrences * (len(new) - len(old)))


def _check_method_call(obj: Any, args: tuple, kwargs: dict) -> None:
    """Guard the `str` methods whose result size comes from an argument rather than from the data."""
    wrapped = getattr(obj, "__wrapped__", obj)
    owner = getattr(wrapped, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(wrapped, "__name__", "")
    if name in _PADDING_METHODS:
        for value in _int_arguments([*args, *kwargs.values()]):
            _too_large(value)
    elif name == "expandtabs":
        for value in _int_arguments([*args, *kwargs.values()]):
            _too_large(owner.count("\t") * value + len(owner))
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, *args[:3])
    elif name in ("format", "format_map"):
        _check_brace_format(owner)


def _guarded_filter(original, check):
    """Wrap a built-in filter so `check(*args, **kwargs)` runs before it, keeping Jinja's pass-arg marker."""

    @wraps(original)
    def guarded(*args, **kwargs):
        check(*args, **kwargs)
        return _check_size(original(*args, **kwargs))

    return guarded


def _check_center(value: Any, width: Any = 80, *args, **kwargs) -> None:
    if isinstance(width, int):
        _too_large(width)


def _check_indent(text: Any, width: Any = 4, *args, **kwargs) -> None:
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _too_large(size * (str(text).count("\n") + 1) + len(str(text)))


def _check_format_filter(value: Any, *args, **kwargs) -> None:
    if isinstance(value, str):
        _check_percent_format(value, tuple(args) or tuple(kwargs.values()))


def _check_replace_filter(eval_ctx: Any, text: Any, old: Any, new: Any, count: Any = None) -> None:
    _check_replace(str(text), str(old), str(new), count)


def _range(*args: int) -> range:
    """`range` capped per call and, across one render, in total (nested loops over ranges multiply)."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(RANGE_TOO_LARGE)
    budget = _range_budget.get()
    if budget is not None:
        budget[0] -= len(numbers)
        if budget[0] < 0:
            raise SecurityError(RANGE_BUDGET_EXHAUSTED)
    return numbers


class ExpressionEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with size checks on the operators and calls that can allocate without bound."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        # Only plain helpers: cycler, joiner, lipsum and namespace serve templates, not data expressions.
        self.globals = {"range": _range, "dict": dict}
        self.filters["center"] = _guarded_filter(self.filters["center"], _check_center)
        self.filters["indent"] = _guarded_filter(self.filters["indent"], _check_indent)
        self.filters["format"] = _guarded_filter(self.filters["format"], _check_format_filter)
        self.filters["replace"] = _guarded_filter(self.filters["replace"], _check_replace_filter)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left, right)
        return _check_size(self.binop_table[operator](left, right))

    def call(__self, __context, __obj, *args, **kwargs):
        _check_method_call(__obj, args, kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs))


environment = ExpressionEnvironment()


@lru_cache(maxsize=2048)
def _template(source: str):
    return environment.from_string(source)


@lru_cache(maxsize=2048)
def _expression(source: str):
    return environment.compile_expression(source, undefined_to_none=False)


def has_expression(value: Any) -> bool:
    """True for a string holding template syntax (its value is only known once rendered)."""
    return isinstance(value, str) and any(marker in value for marker in _MARKERS)


def pointer_join(pointer: str, key: str | int) -> str:
    """Append one reference token to a JSON pointer (RFC 6901 escaping)."""
    return f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, TemplateError):
        return exc.message or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def to_data(value: Any) -> Any:
    """Turn what an expression returned into JSON data, or raise SecurityError naming what it was."""
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError, naming the missing variable.
    if isinstance(value, Markup):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {key if isinstance(key, str) else str(key): to_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple | range | set | frozenset) or type(value).__name__ in (
        "dict_keys",
        "dict_values",
        "dict_items",
        "generator",
    ):
        return [to_data(item) for item in value]
    raise SecurityError(NOT_DATA.format(kind=type(value).__name__))


def _render_text(template, context: dict) -> str:
    """Render chunk by chunk so text that grows past MAX_LENGTH stops early instead of filling memory."""
    parts: list[str] = []
    size = 0
    for chunk in template.generate(context):
        size += len(chunk)
        _too_large(size)
        parts.append(chunk)
    return "".join(parts)


def _render_string(source: str, context: dict, pointer: str) -> Any:
    if not has_expression(source):
        return source
    single = _SINGLE_EXPRESSION.match(source)
    try:
        if single:
            return to_data(_expression(single.group("expr"))(**context))
        return _render_text(_template(source), context)
    except Exception as exc:  # any failure of user-written code is the user's error, reported with its place
        raise ExpressionError(_describe(exc), expression=source, pointer=pointer) from exc


def _render_value(value: Any, context: dict, pointer: str) -> Any:
    if isinstance(value, str):
        return _render_string(value, context, pointer)
    if isinstance(value, dict):
        return {key: _render_value(item, context, pointer_join(pointer, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, context, pointer_join(pointer, index)) for index, item in enumerate(value)]
    return value


def render(value: Any, context: dict, *, pointer: str = "") -> Any:
    """Render every string in `value` (nested dicts and lists) over `context`; raise ExpressionError."""
    token = _range_budget.set([MAX_RANGE_TOTAL])
    try:
        return _render_value(value, context, pointer)
    finally:
        _range_budget.reset(token)


def evaluate(expression: str, context: dict) -> Any:
    """Evaluate one bare expression (no braces), e.g. `item.amount > 10`, to JSON data."""
    token = _range_budget.set([MAX_RANGE_TOTAL])
    try:
        return to_data(_expression(expression)(**context))
    except Exception as exc:  # as in _render_string
        raise ExpressionError(_describe(exc), expression=expression) from exc
    finally:
        _range_budget.reset(token)


def _syntax_error(compile_: Any, source: str) -> str | None:
    try:
        compile_(source)
    except TemplateSyntaxError as exc:
        return INVALID_SYNTAX.format(reason=exc.message)
    except TemplateError as exc:  # unknown filter or test, found when compiling
        return INVALID_SYNTAX.format(reason=exc.message)
    return None


def expression_syntax_error(expression: str) -> str | None:
    """The syntax error of one bare expression (no braces), or None."""
    return _syntax_error(_expression, expression)


def expression_syntax_errors(value: Any, pointer: str = "") -> list[tuple[str, str]]:
    """Every template syntax error in the strings of `value`, as (JSON pointer, message) pairs."""
    if isinstance(value, str):
        if not has_expression(value):
            return []
        error = _syntax_error(_template, value)
        return [(pointer, error)] if error else []
    if isinstance(value, dict):
        items: Iterable = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    errors: list[tuple[str, str]] = []
    for key, item in items:
        errors.extend(expression_syntax_errors(item, pointer_join(pointer, key)))
    return errors


#: Attributes of the `nodes` mapping itself (`nodes.items()`): a read of them may reach any node.
_MAPPING_ATTRIBUTES = frozenset(dir(dict))


@lru_cache(maxsize=4096)
def template_node_references(source: str) -> frozenset[str] | None:
    """The node ids a template reads as `nodes.<id>` or `nodes['<id>']`, from Jinja's syntax tree.

    None when it reads `nodes` in a way only a run resolves (`nodes[trigger.which]`, `nodes | length`).
    A template that does not parse reads nothing here (the syntax check reports it).
    """
    try:
        tree = environment.parse(source)
    except TemplateSyntaxError:
        return frozenset()
    if "nodes" not in meta.find_undeclared_variables(tree):
        return frozenset()  # no `nodes`, or only a local variable of that name
    loads = [name for name in tree.find_all(jinja_nodes.Name) if name.name == "nodes" and name.ctx == "load"]
    found: set[str] = set()
    static = 0
    for access in tree.find_all((jinja_nodes.Getattr, jinja_nodes.Getitem)):
        target = access.node
        if not (isinstance(target, jinja_nodes.Name) and target.name == "nodes" and target.ctx == "load"):
            continue
        if isinstance(access, jinja_nodes.Getattr):
            key = None if access.attr in _MAPPING_ATTRIBUTES else access.attr
        else:
            arg = access.arg
            key = arg.value if isinstance(arg, jinja_nodes.Const) and isinstance(arg.value, str) else None
        if key is None:
            return None
        found.add(key)
        static += 1
    return frozenset(found) if static == len(loads) else None


def node_references(value: Any, pointer: str = "") -> list[tuple[str, frozenset[str] | None]]:
    """(JSON pointer, node ids) for every string of `value` that reads `nodes`; ids None: any node."""
    if isinstance(value, str):
        if not has_expression(value):
            return []
        found = template_node_references(value)
        return [] if found is not None and not found else [(pointer, found)]
    if isinstance(value, dict):
        items: Iterable = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    references: list[tuple[str, frozenset[str] | None]] = []
    for key, item in items:
        references.extend(node_references(item, pointer_join(pointer, key)))
    return references


def config_node_references(config: Any) -> frozenset[str] | None:
    """Every node id a node's config reads through expressions; None when one of them may read any node."""
    found: set[str] = set()
    for _, ids in node_references(config):
        if ids is None:
            return None
        found |= ids
    return frozenset(found)
