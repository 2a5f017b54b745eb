"""Expressions in node configs: `{{ ... }}` rendered by Jinja2's immutable sandbox over plain data.

The context holds `trigger`, `nodes` (`nodes.<id>.output`), `vars`, `org` (`org.vars.NAME`: the organization's
variables) and `execution`. A string that is
exactly one `{{ ... }}` renders to the expression's native value (number, list, object); any other
string containing template syntax renders to text. Nodes that work item by item (map, filter, sort)
evaluate bare expressions such as `item.amount > 10` themselves with `evaluate`.

The sandbox blocks attribute access to internals (`__class__`, `__globals__`, ...). On top of it this
module caps what one expression may build: `range` sizes (per call and per render), repeated sequences
(`'a' * n`), powers, padded and formatted strings, joins, sums, `~` concatenations and the length of
rendered text. It also bounds the work: every loop step, call, attribute or item lookup, operator and
filter or test applied per item spends one operation of a budget (`MAX_OPERATIONS` per render, or one
budget for a whole node run under `expression_budget`, which may also carry a deadline). Objects that
are not data (functions, methods) print as a neutral `<function>`, never with a name or heap address,
and an expression nested too deeply for the parser is a syntax error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any, cast

from jinja2 import (
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    meta,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2 import nodes as jinja_nodes
from jinja2.compiler import CodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg
from markupsafe import Markup

#: Largest `range(...)` one call may create.
MAX_RANGE = 10_000
#: Items all `range(...)` calls of one render may create together (nested loops multiply).
MAX_RANGE_TOTAL = 100_000
#: Longest string or sequence an operator or string method may build, and longest rendered text.
MAX_LENGTH = 1_000_000
#: Largest integer power, in bits of the result.
MAX_POWER_BITS = 100_000
#: Operations (loop steps, calls, lookups, operators, per-item filters and tests) one render may take by default;
#: the engine passes CONCERTMASTER_EXPRESSION_MAX_OPERATIONS for a whole node run.
MAX_OPERATIONS = 1_000_000
#: Operations between two looks at the clock, when a budget has a deadline.
_CLOCK_EVERY = 512

RANGE_TOO_LARGE = f"range() is limited to {MAX_RANGE} items."
RANGE_BUDGET_EXHAUSTED = f"range() calls of one expression are limited to {MAX_RANGE_TOTAL} items in total."
RESULT_TOO_LARGE = f"The result would be longer than {MAX_LENGTH} characters or items."
POWER_TOO_LARGE = f"The power would be larger than {MAX_POWER_BITS} bits."
NESTED_FORMAT_SPEC = "A format specification may not be taken from the arguments."
NOT_DATA = "The expression returned a {kind}, not JSON data."
EXPRESSION_FAILED = 'Expression "{expression}"{where} failed: {reason}'
INVALID_SYNTAX = "Invalid expression syntax: {reason}"
TOO_EXPENSIVE = "The expression is too expensive: it took more than {limit} operations (loop steps, calls, lookups)."
PAST_DEADLINE = "The expression was still running when the node's time ran out."
NESTED_TOO_DEEPLY = "The expression is nested too deeply."

_MARKERS = ("{{", "{%", "{#")
#: A whole string that is one `{{ ... }}` and nothing else (no other delimiters inside).
_SINGLE_EXPRESSION = re.compile(r"^\{\{(?P<expr>(?:(?!\{\{|\}\}|\{%|%\}|\{#|#\}).)*)\}\}$", re.DOTALL)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:(?P<spec>[^{}]*)\}")
_NESTED_BRACE_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")
_PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class _Budget:
    """What the renders and evaluations of one block (one render, or one node run) may still spend."""

    __slots__ = ("check_at", "deadline", "left", "limit", "range_left")

    def __init__(self, operations: int, deadline: float | None) -> None:
        self.limit = self.left = operations
        self.range_left = MAX_RANGE_TOTAL
        self.deadline = deadline
        self.check_at = max(operations - _CLOCK_EVERY, -1)

    def spend(self, cost: int = 1) -> None:
        self.left -= cost
        if self.left <= self.check_at:
            self._check()

    def _check(self) -> None:
        if self.left < 0:
            raise SecurityError(TOO_EXPENSIVE.format(limit=self.limit))
        self.check_at = max(self.left - _CLOCK_EVERY, -1)
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SecurityError(PAST_DEADLINE)


_budget: ContextVar[_Budget | None] = ContextVar("expression_budget", default=None)


@contextmanager
def expression_budget(*, operations: int | None = None, deadline: float | None = None) -> Iterator[None]:
    """One budget for every render and evaluation inside the block: `operations` (MAX_OPERATIONS when None),
    and a `deadline` (a `time.monotonic()` value) past which they stop. Inside another block, the outer
    budget goes on (a node run's budget covers its per-item evaluations)."""
    if _budget.get() is not None:
        yield
        return
    token = _budget.set(_Budget(operations or MAX_OPERATIONS, deadline))
    try:
        yield
    finally:
        _budget.reset(token)


def _spend(cost: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.left -= cost  # Budget.spend, inlined: this runs for every lookup and call
        if budget.left <= budget.check_at:
            budget._check()


def _counted(iterable: Any) -> Iterator[Any]:
    """The items of a `{% for %}` loop, one operation each."""
    budget = _budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.spend()
        yield item


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


class _Opaque:
    """Stands in for an object that is not data where text is made of it: no name, no heap address."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<{self.kind}>"

    __str__ = __repr__


_PLAIN = (str, int, float, type(None), range)


def _neutral(value: Any) -> Any:
    """`value` with every object that is not data (functions, methods, classes) replaced by an `_Opaque`."""
    if isinstance(value, (*_PLAIN, Undefined)):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_neutral(item) for item in value)
    if isinstance(value, dict):
        return {_neutral(key): _neutral(item) for key, item in value.items()}
    if type(value).__name__ in ("dict_keys", "dict_values", "dict_items"):
        return [_neutral(item) for item in value]
    return _Opaque("function" if callable(value) else "object")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(_neutral(value))


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


def _format_filter(original):
    """`'%s' | format(x)`: widths capped, and arguments that are not data printed neutrally."""

    @wraps(original)
    def guarded(value: Any, *args, **kwargs):
        args = tuple(_neutral(arg) for arg in args)
        kwargs = {key: _neutral(arg) for key, arg in kwargs.items()}
        if isinstance(value, str):
            _check_percent_format(value, args or tuple(kwargs.values()))
        return _check_size(original(value, *args, **kwargs))

    return guarded


def _text_filter(original):
    """`string` and `pprint`: the value printed with objects that are not data neutral."""

    @wraps(original)
    def guarded(value: Any, *args, **kwargs):
        return _check_size(original(_neutral(value), *args, **kwargs))

    return guarded


def _neutral_value_filter(original):
    """Any other filter: a function or method it is applied to (`range | upper`) is seen as the text
    `<function>`, so no filter prints an internal name or heap address."""
    skip = 0 if _PassArg.from_obj(original) is None else 1  # the context, eval context or environment

    @wraps(original)
    def guarded(*args, **kwargs):
        if len(args) > skip and callable(args[skip]) and not isinstance(args[skip], Undefined):
            args = (*args[:skip], "<function>", *args[skip + 1 :])
        return original(*args, **kwargs)

    return guarded


def _join_filter(original):
    """`join`: the size of the result is known before it is built (separators included)."""

    @pass_eval_context
    @wraps(original)
    def guarded(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None):
        items = list(value)
        _spend(len(items))
        separator = len(d) if isinstance(d, str) else 0
        _too_large(separator * max(len(items) - 1, 0) + sum(len(item) for item in items if isinstance(item, str)))
        return _check_size(original(eval_ctx, [_neutral(item) for item in items], _neutral(d), attribute))

    return guarded


def _sum_filter(original):
    """`sum`: lists are added up in linear time and within the size cap (`sum(start=[])` of lists)."""

    @pass_environment
    @wraps(original)
    def guarded(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0):
        items = list(iterable)
        _spend(len(items))
        if attribute is None and isinstance(start, list | tuple) and all(isinstance(i, list | tuple) for i in items):
            _too_large(len(start) + sum(len(item) for item in items))
            total = list(start)
            for item in items:
                total.extend(item)
            return total if isinstance(start, list) else tuple(total)
        return _check_size(original(environment, items, attribute, start))

    return guarded


def _check_replace_filter(eval_ctx: Any, text: Any, old: Any, new: Any, count: Any = None) -> None:
    _check_replace(str(text), str(old), str(new), count)


def _range(*args: int) -> range:
    """`range` capped per call and, across one budget, in total (nested loops over ranges multiply)."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise SecurityError(RANGE_TOO_LARGE)
    budget = _budget.get()
    if budget is not None:
        budget.range_left -= len(numbers)
        if budget.range_left < 0:
            raise SecurityError(RANGE_BUDGET_EXHAUSTED)
    return numbers


#: The filter each `{% for %}` loop's iterable is passed through (Jinja allows no custom syntax nodes).
_LOOP_FILTER = "_loop_items"


@pass_context
def _loop_items(context: Any, iterable: Any) -> Iterator[Any]:
    """The items of a `{% for %}` loop, one operation each (takes the context so it is never run early)."""
    return _counted(iterable)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with two changes: loops spend an operation per step, and `~` goes through
    the environment's `concat_text` (size-checked, objects printed neutrally) instead of a plain join."""

    def visit_Template(self, node: jinja_nodes.Template, frame: Any = None) -> None:
        for loop in list(node.find_all(jinja_nodes.For)):
            loop.iter = jinja_nodes.Filter(loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: jinja_nodes.Concat, frame: Any) -> None:
        self.write("environment.concat_text((")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


def _nesting_error(exc: BaseException | None = None) -> TemplateSyntaxError:
    error = TemplateSyntaxError(NESTED_TOO_DEEPLY, 1)
    error.__cause__ = exc
    return error


#: Deepest syntax tree compiled. Parsing is cheap, but Python's compiler takes seconds on the code Jinja generates
#: for a few hundred nested operators (`not not ... x`: 300 levels took 10 s), so deeper trees are refused first.
MAX_SYNTAX_DEPTH = 64


def _syntax_depth(root: jinja_nodes.Node) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


#: Filters wrapped with their own checks above (they print their values neutrally themselves, or never print).
_GUARDED_FILTERS = frozenset({"center", "indent", "format", "replace", "join", "sum", "string", "pprint"})


class ExpressionEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with size checks on the operators and calls that can allocate without bound, and an
    operation budget spent by loop steps, calls, lookups, operators and per-item filters and tests."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=self._finalize
        )
        # Only plain helpers: cycler, joiner, lipsum and namespace serve templates, not data expressions.
        self.globals = {"range": _range, "dict": dict}
        self.filters["center"] = _guarded_filter(self.filters["center"], _check_center)
        self.filters["indent"] = _guarded_filter(self.filters["indent"], _check_indent)
        self.filters["format"] = _format_filter(self.filters["format"])
        self.filters["replace"] = _guarded_filter(self.filters["replace"], _check_replace_filter)
        self.filters["join"] = _join_filter(self.filters["join"])
        self.filters["sum"] = _sum_filter(self.filters["sum"])
        self.filters["string"] = _text_filter(self.filters["string"])
        self.filters["pprint"] = _text_filter(self.filters["pprint"])
        for name, original in list(self.filters.items()):
            if name not in _GUARDED_FILTERS:
                self.filters[name] = _neutral_value_filter(original)
        self.filters[_LOOP_FILTER] = _loop_items

    @staticmethod
    def _finalize(value: Any) -> Any:
        """What `{{ ... }}` prints in text: objects that are not data print neutrally."""
        return value if isinstance(value, _PLAIN) else _neutral(value)

    @staticmethod
    def concat_text(parts: tuple) -> str:
        """`a ~ b ~ ...`: the parts as text, within the size cap."""
        _spend()
        texts = [_text(part) for part in parts]
        _too_large(sum(len(text) for text in texts))
        return "".join(texts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _spend()
        return ImmutableSandboxedEnvironment.getattr(self, obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _spend()
        return ImmutableSandboxedEnvironment.getitem(self, obj, argument)

    def call_filter(self, *args, **kwargs) -> Any:
        _spend()
        return super().call_filter(*args, **kwargs)

    def call_test(self, *args, **kwargs) -> Any:
        _spend()
        return super().call_test(*args, **kwargs)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            right = _neutral(right)
            _check_percent_format(left, right)
        return _check_size(self.binop_table[operator](left, right))

    def call(__self, __context, __obj, *args, **kwargs):
        _spend()
        if _formats_text(__obj):
            args = tuple(_neutral(arg) for arg in args)
            kwargs = {key: _neutral(arg) for key, arg in kwargs.items()}
        _check_method_call(__obj, args, kwargs)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    # An expression nested deeper than Python's stack allows is the user's syntax error, not a crash.
    def _parse(self, *args, **kwargs):
        try:
            return super()._parse(*args, **kwargs)
        except (RecursionError, MemoryError) as exc:
            raise _nesting_error(exc) from exc

    def compile(self, source, name=None, filename=None, *args, **kwargs):
        if isinstance(source, str):
            source = self._parse(source, name, filename)
        if _syntax_depth(source) > MAX_SYNTAX_DEPTH:
            raise _nesting_error()
        try:
            return super().compile(source, name, filename, *args, **kwargs)
        except (RecursionError, MemoryError, SyntaxError) as exc:
            raise _nesting_error(exc) from exc

    def compile_expression(self, *args, **kwargs):
        try:
            return super().compile_expression(*args, **kwargs)
        except (RecursionError, MemoryError, SyntaxError) as exc:
            raise _nesting_error(exc) from exc


def _formats_text(obj: Any) -> bool:
    """`'...'.format` and `format_map`: their arguments end up printed."""
    wrapped = getattr(obj, "__wrapped__", obj)  # the sandbox hands out str.format wrapped
    owner = getattr(wrapped, "__self__", None)
    return isinstance(owner, str) and getattr(wrapped, "__name__", "") in ("format", "format_map")


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
    if isinstance(exc, RecursionError):
        return NESTED_TOO_DEEPLY
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
    """Render every string in `value` (nested dicts and lists) over `context`; raise ExpressionError.

    The render spends the budget of the enclosing `expression_budget` block, else one of its own."""
    if _budget.get() is not None:
        return _render_value(value, context, pointer)
    token = _budget.set(_Budget(MAX_OPERATIONS, None))
    try:
        return _render_value(value, context, pointer)
    finally:
        _budget.reset(token)


def evaluate(expression: str, context: dict) -> Any:
    """Evaluate one bare expression (no braces), e.g. `item.amount > 10`, to JSON data (budget as `render`)."""
    token = _budget.set(_Budget(MAX_OPERATIONS, None)) if _budget.get() is None else None
    try:
        _spend()  # an evaluation is an operation, however simple (`item`)
        return to_data(_expression(expression)(**context))
    except Exception as exc:  # as in _render_string
        raise ExpressionError(_describe(exc), expression=expression) from exc
    finally:
        if token is not None:
            _budget.reset(token)


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
    accesses = cast(
        "Iterator[jinja_nodes.Getattr | jinja_nodes.Getitem]", tree.find_all((jinja_nodes.Getattr, jinja_nodes.Getitem))
    )
    for access in accesses:
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
