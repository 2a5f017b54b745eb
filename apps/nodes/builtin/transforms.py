"""Transform nodes: reshape data between other nodes. Pure functions of their input and config.

List transforms (map, filter, sort, limit, aggregate, split) work on `items` when the config sets it
(usually an expression such as `{{ nodes.fetch.output.body.results }}`), else on the main input. Per-item
expressions (`item.amount > 10`) are written without braces: the node evaluates them once per item with
`item`, `index` and `input` (the whole main input) in scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jmespath
from dateutil.relativedelta import relativedelta
from jmespath.exceptions import JMESPathError

from apps.core.jsonparse import json_loads_bounded
from apps.nodes.base import Node, NodeContext, NodeError, NodeResult
from apps.nodes.choices import Category
from apps.nodes.expressions import (
    ExpressionError,
    evaluate,
    expression_budget,
    expression_syntax_error,
    has_expression,
)
from apps.nodes.registry import register

NOT_A_LIST = "{what} must be a list (got {kind})."
NOT_AN_OBJECT = "{what} must be an object (got {kind})."
ITEM_FAILED = "Item {index}: {error}"
NOT_COMPARABLE = "Cannot sort these values: {error}"
NOT_NUMERIC = "{op} needs numbers; item {index} gave {value!r}."
DUPLICATE_OUTPUT_NAME = 'Output name "{name}" is used twice.'
INVALID_JSON = "Invalid JSON at line {line}, column {column}: {error}"
NOT_TEXT = "{what} must be text (got {kind})."
INVALID_JMESPATH = "Invalid JMESPath expression: {error}"
JMESPATH_FAILED = "The JMESPath query failed: {error}"
UNKNOWN_TIMEZONE = "Unknown time zone {timezone!r}."
INVALID_DATE = "Cannot read {value!r} as a date: {error}"
INVALID_DATE_FORMAT = "Invalid date format {format!r}: {error}"
NOT_SERIALIZABLE = "The value cannot be written as JSON: {error}"

ITEMS = {"description": "The list to work on; the main input when absent.", "type": "array"}


def _kind(value: Any) -> str:
    return type(value).__name__


def _items(ctx: NodeContext, key: str = "items") -> list:
    items = ctx.config.get(key, ctx.input)
    if not isinstance(items, list):
        what = f'The "{key}" config' if key in ctx.config else "The input"
        raise NodeError(NOT_A_LIST.format(what=what, kind=_kind(items)), retryable=False)
    return items


def _per_item(ctx: NodeContext, expression: str, items: list) -> list:
    """Evaluate `expression` once per item, with `item`, `index` and `input` in scope. The items share one
    operation budget: the node run's, set by the engine (else one for this call)."""
    results = []
    with expression_budget():
        for index, item in enumerate(items):
            try:
                results.append(evaluate(expression, {"item": item, "index": index, "input": ctx.input}))
            except ExpressionError as exc:
                raise NodeError(ITEM_FAILED.format(index=index, error=exc), retryable=False) from exc
    return results


def _expression_errors(pointer: str, expression: Any) -> list[tuple[str, str]]:
    """Syntax check of a bare per-item expression (one that holds `{{ }}` is only complete once rendered)."""
    if not isinstance(expression, str) or has_expression(expression):
        return []
    error = expression_syntax_error(expression)
    return [(pointer, error)] if error else []


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise NodeError(UNKNOWN_TIMEZONE.format(timezone=timezone), retryable=False) from None


@register
class SetNode(Node):
    type_name = "set"
    category = Category.TRANSFORMS
    display_name = "Set values"
    icon = "edit"
    description = (
        "Builds an object from `values`, whose strings may be expressions: "
        '`{"total": "{{ trigger.qty * trigger.price }}", "greeting": "Hello {{ trigger.name }}"}` outputs a '
        "number and a text. With `keep_input`, the values are added to (and override) the input object."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "values": {"type": "object", "description": "Output keys and their values (expressions allowed)."},
            "keep_input": {"type": "boolean", "default": False},
        },
        "required": ["values"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        values = ctx.config["values"]
        if not ctx.config.get("keep_input"):
            return NodeResult.single(dict(values))
        base = {} if ctx.input is None else ctx.input
        if not isinstance(base, dict):
            raise NodeError(NOT_AN_OBJECT.format(what="The input", kind=_kind(base)), retryable=False)
        return NodeResult.single({**base, **values})


@register
class MapNode(Node):
    type_name = "map"
    category = Category.TRANSFORMS
    display_name = "Map"
    icon = "shuffle"
    description = (
        "Turns every item of a list into the value of `expression`, evaluated per item with `item` and "
        "`index`: `{'name': item.user.name, 'total': item.qty * item.price}` outputs one object per item, "
        "in order."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "expression": {"type": "string", "minLength": 1, "description": "Per-item expression, no braces."},
            "items": ITEMS,
        },
        "required": ["expression"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        return _expression_errors("/expression", config["expression"])

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single(_per_item(ctx, ctx.config["expression"], _items(ctx)))


@register
class FilterNode(Node):
    type_name = "filter"
    category = Category.TRANSFORMS
    display_name = "Filter"
    icon = "filter"
    description = (
        "Keeps the items of a list for which `condition` is true, evaluated per item with `item` and "
        "`index` (`item.status == 'paid' and item.amount > 100`); the others go out on the `rejected` port. "
        "Order is kept. With `skip_empty`, a port whose list is empty is not taken (its branch is skipped)."
    )
    outputs = ("main", "rejected")
    config_schema = {
        "type": "object",
        "properties": {
            "condition": {"type": "string", "minLength": 1, "description": "Per-item expression, no braces."},
            "items": ITEMS,
            "skip_empty": {
                "type": "boolean",
                "default": False,
                "description": "Take no port whose list is empty (n8n: a node with no items does not run).",
            },
        },
        "required": ["condition"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        return _expression_errors("/condition", config["condition"])

    def run(self, ctx: NodeContext) -> NodeResult:
        items = _items(ctx)
        verdicts = _per_item(ctx, ctx.config["condition"], items)
        kept = [item for item, keep in zip(items, verdicts, strict=True) if keep]
        rejected = [item for item, keep in zip(items, verdicts, strict=True) if not keep]
        outputs = {"main": kept, "rejected": rejected}
        if ctx.config.get("skip_empty"):
            outputs = {port: value for port, value in outputs.items() if value}
        return NodeResult(outputs=outputs)


@register
class SortNode(Node):
    type_name = "sort"
    category = Category.TRANSFORMS
    display_name = "Sort"
    icon = "sort"
    description = (
        "Sorts a list by one or more keys, each a per-item expression (`item.last_name`) ascending or "
        "descending; later keys break ties of earlier ones and equal items keep their order. Items whose "
        'key is null go last unless `nulls` is "first". Without `by`, the items themselves are compared.'
    )
    config_schema = {
        "type": "object",
        "properties": {
            "by": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "expression": {"type": "string", "minLength": 1},
                        "descending": {"type": "boolean", "default": False},
                    },
                    "required": ["expression"],
                    "additionalProperties": False,
                },
            },
            "nulls": {"enum": ["first", "last"], "default": "last"},
            "items": ITEMS,
        },
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        for index, key in enumerate(config.get("by", [])):
            errors.extend(_expression_errors(f"/by/{index}/expression", key["expression"]))
        return errors

    def run(self, ctx: NodeContext) -> NodeResult:
        items = _items(ctx)
        rows = list(zip(range(len(items)), items, strict=True))
        keys = ctx.config.get("by") or [{"expression": "item"}]
        nulls_first = ctx.config.get("nulls", "last") == "first"
        # Stable sorts applied from the last key to the first give a multi-key sort with mixed directions.
        for key in reversed(keys):
            values = _per_item(ctx, key["expression"], [item for _, item in rows])
            by_position = {position: value for (position, _), value in zip(rows, values, strict=True)}
            present = [row for row in rows if by_position[row[0]] is not None]
            missing = [row for row in rows if by_position[row[0]] is None]
            try:
                present.sort(key=lambda row: by_position[row[0]], reverse=bool(key.get("descending")))
            except TypeError as exc:
                raise NodeError(NOT_COMPARABLE.format(error=exc), retryable=False) from exc
            rows = missing + present if nulls_first else present + missing
        return NodeResult.single([item for _, item in rows])


@register
class LimitNode(Node):
    type_name = "limit"
    category = Category.TRANSFORMS
    display_name = "Limit"
    icon = "scissors"
    description = (
        "Keeps at most `count` items of a list, after skipping `offset` of them, counted from the start "
        '(the first items) or, with `from: "end"`, from the end (the last items, still in their order).'
    )
    config_schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0, "default": 0},
            "from": {"enum": ["start", "end"], "default": "start"},
            "items": ITEMS,
        },
        "required": ["count"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        items = _items(ctx)
        count, offset = ctx.config["count"], ctx.config.get("offset", 0)
        if ctx.config.get("from", "start") == "start":
            return NodeResult.single(items[offset : offset + count])
        stop = max(len(items) - offset, 0)
        return NodeResult.single(items[max(stop - count, 0) : stop])


def _numbers(op: str, values: list) -> list[float | int]:
    numbers = []
    for index, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise NodeError(NOT_NUMERIC.format(op=op, index=index, value=value), retryable=False)
        numbers.append(value)
    return numbers


def _extreme(pick: Callable) -> Callable[[list], Any]:
    def reduce(values: list) -> Any:
        present = [value for value in values if value is not None]
        if not present:
            return None
        try:
            return pick(present)
        except TypeError as exc:
            raise NodeError(NOT_COMPARABLE.format(error=exc), retryable=False) from exc

    return reduce


def _average(values: list) -> float | None:
    numbers = _numbers("avg", values)
    return sum(numbers) / len(numbers) if numbers else None


_REDUCERS: dict[str, Callable[[list], Any]] = {
    "count": lambda values: sum(value is not None for value in values),
    "sum": lambda values: sum(_numbers("sum", values)),
    "avg": _average,
    "min": _extreme(min),
    "max": _extreme(max),
}


@register
class AggregateNode(Node):
    type_name = "aggregate"
    category = Category.TRANSFORMS
    display_name = "Aggregate"
    icon = "sigma"
    description = (
        "Summarises a list: each operation (count, sum, avg, min, max) reduces the per-item `value` "
        "expression (nulls ignored; count without `value` counts items) into the key named by `as`. Without "
        "`group_by` the output is one object; with it, one object per group "
        '(`{"group": <key>, ...}`), in the order groups first appear.'
    )
    config_schema = {
        "type": "object",
        "properties": {
            "operations": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "op": {"enum": list(_REDUCERS)},
                        "value": {"type": "string", "minLength": 1, "description": "Per-item expression."},
                        "as": {"type": "string", "minLength": 1, "maxLength": 100},
                    },
                    "required": ["op", "as"],
                    "additionalProperties": False,
                    "if": {"properties": {"op": {"not": {"const": "count"}}}},
                    "then": {"required": ["value"]},
                },
            },
            "group_by": {"type": "string", "minLength": 1, "description": "Per-item expression."},
            "items": ITEMS,
        },
        "required": ["operations"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        errors = _expression_errors("/group_by", config.get("group_by"))
        taken = {"group"} if "group_by" in config else set()
        for index, operation in enumerate(config["operations"]):
            errors.extend(_expression_errors(f"/operations/{index}/value", operation.get("value")))
            if operation["as"] in taken:
                errors.append((f"/operations/{index}/as", DUPLICATE_OUTPUT_NAME.format(name=operation["as"])))
            taken.add(operation["as"])
        return errors

    def run(self, ctx: NodeContext) -> NodeResult:
        items = _items(ctx)
        if "group_by" not in ctx.config:
            return NodeResult.single(self._summarise(ctx, items))
        groups: dict[str, tuple[Any, list]] = {}
        for key, item in zip(_per_item(ctx, ctx.config["group_by"], items), items, strict=True):
            # JSON text identifies a group, so lists and objects can be keys too.
            groups.setdefault(json.dumps(key, sort_keys=True), (key, []))[1].append(item)
        return NodeResult.single([{"group": key, **self._summarise(ctx, members)} for key, members in groups.values()])

    @staticmethod
    def _summarise(ctx: NodeContext, items: list) -> dict:
        summary = {}
        for operation in ctx.config["operations"]:
            expression = operation.get("value")
            values = _per_item(ctx, expression, items) if expression else [True] * len(items)
            summary[operation["as"]] = _REDUCERS[operation["op"]](values)
        return summary


def _path(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@register
class MergeNode(Node):
    type_name = "merge"
    category = Category.TRANSFORMS
    display_name = "Merge"
    icon = "merge"
    description = (
        "Joins two branches; it runs once both inputs `a` and `b` are settled (a branch not taken gives "
        'nothing). "append" concatenates the two lists; "combine" merges two objects (b wins); "by_key" '
        "pairs the objects of the two lists whose `key` field (a dotted path) is equal, as an inner, left or "
        'outer join; "wait" outputs `{"a": ..., "b": ...}` unchanged.'
    )
    inputs = ("a", "b")
    config_schema = {
        "type": "object",
        "properties": {
            "mode": {"enum": ["append", "combine", "by_key", "wait"]},
            "key": {"type": "string", "minLength": 1, "description": "Field to match on, e.g. id or user.id."},
            "join": {"enum": ["inner", "left", "outer"], "default": "inner"},
        },
        "required": ["mode"],
        "additionalProperties": False,
        # `required` inside the `if`: without it the `if` matches a config that has no mode yet.
        "if": {"properties": {"mode": {"const": "by_key"}}, "required": ["mode"]},
        "then": {"required": ["key"]},
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        a, b = ctx.inputs.get("a"), ctx.inputs.get("b")
        mode = ctx.config["mode"]
        if mode == "wait":
            return NodeResult.single({port: ctx.inputs[port] for port in ("a", "b") if port in ctx.inputs})
        if mode == "append":
            return NodeResult.single(_as_list(a) + _as_list(b))
        if mode == "combine":
            for port, value in (("a", a), ("b", b)):
                if value is not None and not isinstance(value, dict):
                    raise NodeError(NOT_AN_OBJECT.format(what=f"Input {port}", kind=_kind(value)), retryable=False)
            return NodeResult.single({**(a or {}), **(b or {})})
        return NodeResult.single(self._join(_as_list(a), _as_list(b), ctx.config["key"], ctx.config.get("join")))

    @staticmethod
    def _join(left: list, right: list, key: str, join: str | None) -> list:
        for port, items in (("a", left), ("b", right)):
            for item in items:
                if not isinstance(item, dict):
                    raise NodeError(NOT_AN_OBJECT.format(what=f"Items of {port}", kind=_kind(item)), retryable=False)
        by_key: dict[str, list[dict]] = {}
        for item in right:
            by_key.setdefault(json.dumps(_path(item, key), sort_keys=True), []).append(item)
        matched: set[int] = set()
        merged: list[dict] = []
        for item in left:
            partners = by_key.get(json.dumps(_path(item, key), sort_keys=True), [])
            merged.extend({**item, **partner} for partner in partners)
            matched.update(id(partner) for partner in partners)
            if not partners and join in ("left", "outer"):
                merged.append(dict(item))
        if join == "outer":
            merged.extend(dict(item) for item in right if id(item) not in matched)
        return merged


@register
class TemplateNode(Node):
    type_name = "template"
    category = Category.TRANSFORMS
    display_name = "Template"
    icon = "file-text"
    description = (
        "Renders a text template: `{{ ... }}` expressions plus `{% for %}` / `{% if %}` blocks over "
        '`trigger`, `nodes`, `vars` and `execution`. With `output: "json"` the rendered text is parsed as '
        "JSON, a way to build a request body of any shape. `strip` trims surrounding whitespace."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "template": {"type": "string", "maxLength": 100_000},
            "output": {"enum": ["text", "json"], "default": "text"},
            "strip": {"type": "boolean", "default": False},
        },
        "required": ["template"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        rendered = ctx.config["template"]  # the engine rendered it; one bare expression may give any value
        text = rendered if isinstance(rendered, str) else json.dumps(rendered)
        if ctx.config.get("strip"):
            text = text.strip()
        if ctx.config.get("output", "text") == "json":
            return NodeResult.single(_parse_json(text))
        return NodeResult.single(text)


def _parse_json(text: str) -> Any:
    try:
        return json_loads_bounded(text)
    except json.JSONDecodeError as exc:  # JSONTooDeep included
        raise NodeError(INVALID_JSON.format(line=exc.lineno, column=exc.colno, error=exc.msg), retryable=False) from exc


@register
class JsonParseNode(Node):
    type_name = "json_parse"
    category = Category.TRANSFORMS
    display_name = "Parse JSON"
    icon = "braces"
    description = (
        "Parses JSON text (`text`, or the main input) into data. Invalid JSON fails the node with the line "
        "and column of the problem."
    )
    config_schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "The JSON text; the main input when absent."}},
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        text = ctx.config.get("text", ctx.input)
        if not isinstance(text, str | bytes):
            raise NodeError(NOT_TEXT.format(what="The JSON", kind=_kind(text)), retryable=False)
        return NodeResult.single(_parse_json(text if isinstance(text, str) else text.decode()))


@register
class JsonStringifyNode(Node):
    type_name = "json_stringify"
    category = Category.TRANSFORMS
    display_name = "Write JSON"
    icon = "braces"
    description = (
        "Writes data (`value`, or the main input) as JSON text: compact by default, indented by `indent` "
        "spaces, keys sorted with `sort_keys`."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "value": {"description": "The data to write; the main input when absent."},
            "indent": {"type": "integer", "minimum": 0, "maximum": 8},
            "sort_keys": {"type": "boolean", "default": False},
        },
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        value = ctx.config.get("value", ctx.input)
        indent = ctx.config.get("indent")
        separators = (",", ":") if indent is None else None
        try:
            text = json.dumps(value, indent=indent, separators=separators, sort_keys=bool(ctx.config.get("sort_keys")))
        except (TypeError, ValueError) as exc:
            raise NodeError(NOT_SERIALIZABLE.format(error=exc), retryable=False) from exc
        return NodeResult.single(text)


@lru_cache(maxsize=256)
def _jmespath(expression: str) -> jmespath.parser.ParsedResult:
    return jmespath.compile(expression)


@register
class JmespathNode(Node):
    type_name = "jmespath"
    category = Category.TRANSFORMS
    display_name = "JMESPath query"
    icon = "search"
    description = (
        "Queries data (`data`, or the main input) with a JMESPath expression: "
        "`orders[?status=='paid'].{id: id, total: total}` selects and reshapes in one step. A query that "
        "matches nothing outputs null."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "expression": {"type": "string", "minLength": 1},
            "data": {"description": "The data to query; the main input when absent."},
        },
        "required": ["expression"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        expression = config["expression"]
        if has_expression(expression):
            return []
        try:
            _jmespath(expression)
        except JMESPathError as exc:
            return [("/expression", INVALID_JMESPATH.format(error=str(exc).splitlines()[0]))]
        return []

    def run(self, ctx: NodeContext) -> NodeResult:
        data = ctx.config.get("data", ctx.input)
        try:
            return NodeResult.single(_jmespath(ctx.config["expression"]).search(data))
        except JMESPathError as exc:
            raise NodeError(JMESPATH_FAILED.format(error=str(exc).splitlines()[0]), retryable=False) from exc


CALENDAR_UNITS = ("years", "months", "weeks", "days")
CLOCK_UNITS = ("hours", "minutes", "seconds")


@register
class DateTimeNode(Node):
    type_name = "date_time"
    category = Category.TRANSFORMS
    display_name = "Date & time"
    icon = "calendar"
    description = (
        "Reads, formats and shifts dates. `value` is ISO 8601 text, epoch seconds, or text in "
        '`input_format` (strptime codes); a value without a UTC offset is read in `timezone`. "shift" adds '
        'calendar amounts (`{"months": 1, "days": -2}`; Jan 31 + 1 month is Feb 28/29). The output is '
        "`{iso, timestamp, date, time, weekday (1 = Monday), timezone}` in `timezone`, plus `formatted` "
        'when `format` (strftime codes) is given, which "format" requires. "now" needs no value.'
    )
    config_schema = {
        "type": "object",
        "properties": {
            "operation": {"enum": ["parse", "format", "shift", "now"]},
            "value": {"type": ["string", "number"]},
            "input_format": {"type": "string", "minLength": 1},
            "format": {"type": "string", "minLength": 1},
            "timezone": {"type": "string", "minLength": 1, "default": "UTC"},
            "shift": {
                "type": "object",
                "properties": {
                    "years": {"type": "integer"},
                    "months": {"type": "integer"},
                    **{unit: {"type": "number"} for unit in ("weeks", "days", *CLOCK_UNITS)},
                },
                "minProperties": 1,
                "additionalProperties": False,
            },
        },
        "required": ["operation"],
        "additionalProperties": False,
        "allOf": [
            {
                "if": {"properties": {"operation": {"enum": ["parse", "format", "shift"]}}},
                "then": {"required": ["value"]},
            },
            {"if": {"properties": {"operation": {"const": "format"}}}, "then": {"required": ["format"]}},
            {"if": {"properties": {"operation": {"const": "shift"}}}, "then": {"required": ["shift"]}},
        ],
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        timezone = config.get("timezone", "UTC")
        if has_expression(timezone):
            return []
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return [("/timezone", UNKNOWN_TIMEZONE.format(timezone=timezone))]
        return []

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        zone = _zone(config.get("timezone", "UTC"))
        if config["operation"] == "now":
            moment = datetime.now(UTC).astimezone(zone)
        else:
            moment = self._read(config["value"], config.get("input_format"), zone)
        if config["operation"] == "shift":
            shift = config["shift"]
            calendar = {unit: shift[unit] for unit in CALENDAR_UNITS if unit in shift}
            clock = {unit: shift[unit] for unit in CLOCK_UNITS if unit in shift}
            # Calendar units move the wall clock (9:00 stays 9:00 across a DST change); clock units move
            # absolute time.
            moment = (moment + relativedelta(**calendar)).astimezone(zone)
            moment = (moment.astimezone(UTC) + timedelta(**clock)).astimezone(zone)
        result = {
            "iso": moment.isoformat(),
            "timestamp": moment.timestamp(),
            "date": moment.date().isoformat(),
            "time": moment.time().isoformat(),
            "weekday": moment.isoweekday(),
            "timezone": str(zone),
        }
        if "format" in config:
            try:
                result["formatted"] = moment.strftime(config["format"])
            except ValueError as exc:
                raise NodeError(
                    INVALID_DATE_FORMAT.format(format=config["format"], error=exc), retryable=False
                ) from exc
        return NodeResult.single(result)

    @staticmethod
    def _read(value: Any, input_format: str | None, zone: ZoneInfo) -> datetime:
        try:
            if isinstance(value, bool):
                raise TypeError("a boolean is not a date")
            if isinstance(value, int | float):
                return datetime.fromtimestamp(value, UTC).astimezone(zone)
            moment = datetime.strptime(value, input_format) if input_format else datetime.fromisoformat(value)
        except (TypeError, ValueError, OverflowError, OSError) as exc:
            raise NodeError(INVALID_DATE.format(value=value, error=exc), retryable=False) from exc
        return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


@register
class SplitNode(Node):
    type_name = "split"
    category = Category.TRANSFORMS
    display_name = "Split"
    icon = "split"
    description = (
        "Turns a value into a list of items for a foreach or a list transform: a list stays a list, text is "
        "cut at `separator` (blank pieces dropped with `skip_empty`, pieces trimmed with `trim`), an object "
        "becomes `[{key, value}]`. With `batch_size`, the items are grouped into lists of that many."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "value": {"description": "What to split; the main input when absent."},
            "separator": {"type": "string", "minLength": 1, "default": "\n"},
            "trim": {"type": "boolean", "default": False},
            "skip_empty": {"type": "boolean", "default": False},
            "batch_size": {"type": "integer", "minimum": 1, "maximum": 10_000},
        },
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        value = config.get("value", ctx.input)
        if isinstance(value, list):
            items = value
        elif isinstance(value, str):
            items = value.split(config.get("separator", "\n"))
            if config.get("trim"):
                items = [item.strip() for item in items]
            if config.get("skip_empty"):
                items = [item for item in items if item.strip()]
        elif isinstance(value, dict):
            items = [{"key": key, "value": item} for key, item in value.items()]
        else:
            raise NodeError(NOT_A_LIST.format(what="The value to split", kind=_kind(value)), retryable=False)
        size = config.get("batch_size")
        if size:
            items = [items[start : start + size] for start in range(0, len(items), size)]
        return NodeResult.single(items)
