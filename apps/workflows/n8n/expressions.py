"""n8n expressions (`={{ ... }}`, JavaScript) to ConcertMaster expressions (Jinja2). Pure: no ORM, no network.

A small JavaScript expression parser (literals, names, member access, calls, unary, binary, ternary, array
and object literals, template strings) builds a tree; the emitter writes Jinja for the forms whose meaning is
the same and raises `Untranslatable` for anything else, so nothing is silently changed. How `$json` and the
other n8n variables are spelled depends on the `Scope`: a per-item expression (map, filter, sort: `item`,
`index`, `input`) or a config rendered once per run (`nodes.<id>.output[0]`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TypeGuard, cast

from .dates import luxon_iso_slices
from .errors import Untranslatable

UNSUPPORTED_SYNTAX = "JavaScript syntax not translated: {detail}"
UNSUPPORTED_NAME = "n8n variable {name} has no ConcertMaster equivalent"
UNSUPPORTED_METHOD = "method .{name}() has no ConcertMaster equivalent"
UNKNOWN_NODE = "refers to node {name!r}, which is not in this workflow or was not translated"
ARROW_FUNCTIONS = "arrow functions and callbacks are not translated, except .map / .filter of a field path"
ENV_NAME = "$env.{name}: an organization variable's name is an identifier"
ENV_CHANGE = "$env.{name} reads the organization variable {name} (org.vars.{name}): create it in the organization"
LUXON_ARITHMETIC = (
    "date arithmetic in an expression ($now.plus / .minus) is not translated: use a Date & Time node (add to date)"
)


@dataclass
class Scope:
    """How n8n's variables read where the expression lands.

    per_item: inside a per-item expression (`item`, `index`, `input` in scope, no braces);
    json_ref: the expression for `$json` when not per item (the first input item);
    input_ref: the expression for the input item list when not per item;
    node_refs: n8n node name -> the ConcertMaster expression for that node's item list, rendered at run time;
    workflow: n8n's workflow id and name (`$workflow.id`, `$workflow.name`), known at translation.
    """

    per_item: bool
    json_ref: str = "input[0]"
    input_ref: str = "input"
    node_refs: dict[str, str] = field(default_factory=dict)
    workflow: dict = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


# --- tokens -----------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<tpl>`(?:[^`\\]|\\.)*`)
    | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||\?\?|\?\.|=>|\.\.\.|[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    source = source.strip()
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        if match is None or match.end() == pos:
            raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=source[pos : pos + 20]))
        kind = cast(str, match.lastgroup)  # every alternative of _TOKEN is a named group
        tokens.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(source) and source[pos].isspace():
            pos += 1
    tokens.append(("end", ""))
    return tokens


# --- parser: a Pratt parser over the tokens ----------------------------------------------------------------

_BINARY = {
    "??": 1,
    "||": 2,
    "&&": 3,
    "===": 4,
    "!==": 4,
    "==": 4,
    "!=": 4,
    "<": 5,
    ">": 5,
    "<=": 5,
    ">=": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "%": 7,
}


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.pos]
        if value is not None and token[1] != value:
            raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=f"expected {value!r}, got {token[1]!r}"))
        self.pos += 1
        return token

    def parse(self) -> tuple:
        tree = self.expression()
        if self.peek()[0] != "end":
            raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=self.peek()[1]))
        return tree

    def expression(self, power: int = 0) -> tuple:
        left = self.unary()
        while True:
            kind, value = self.peek()
            if kind == "op" and value == "=>":
                raise Untranslatable(ARROW_FUNCTIONS)
            if kind == "op" and value == "?" and power == 0:
                self.take()
                then = self.expression()
                self.take(":")
                return ("cond", left, then, self.expression())
            if kind != "op" or value not in _BINARY or _BINARY[value] <= power:
                return left
            self.take()
            left = ("bin", value, left, self.expression(_BINARY[value]))

    def unary(self) -> tuple:
        kind, value = self.peek()
        if kind == "op" and value in ("!", "-", "+"):
            self.take()
            return ("unary", value, self.unary())
        return self.postfix(self.primary())

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "num":
            return ("lit", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "str":
            return ("lit", _js_string(value))
        if kind == "tpl":
            return ("tpl", _template_parts(value[1:-1]))
        if kind == "name" and self.peek() == ("op", "=>"):
            self.take()
            return ("arrow", value, self.expression())
        if (
            kind == "op"
            and value == "("
            and self.tokens[self.pos][0] == "name"
            and self.tokens[self.pos + 1 :][:2]
            == [
                ("op", ")"),
                ("op", "=>"),
            ]
        ):
            param = self.take()[1]
            self.take(")")
            self.take("=>")
            return ("arrow", param, self.expression())
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value in ("null", "undefined"):
                return ("lit", None)
            return ("name", value)
        if value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if value == "[":
            return ("array", self.items("]"))
        if value == "{":
            return self.object_literal()
        raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=value))

    def items(self, close: str) -> list:
        values = []
        while self.peek()[1] != close:
            values.append(self.expression())
            if self.peek()[1] == ",":
                self.take()
        self.take(close)
        return values

    def object_literal(self) -> tuple:
        pairs = []
        while self.peek()[1] != "}":
            kind, key = self.take()
            if kind == "str":
                key = _js_string(key)
            elif kind not in ("name", "num"):
                raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=f"object key {key}"))
            self.take(":")
            pairs.append((key, self.expression()))
            if self.peek()[1] == ",":
                self.take()
        self.take("}")
        return ("object", pairs)

    def postfix(self, tree: tuple) -> tuple:
        while True:
            value = self.peek()[1]
            if value in (".", "?."):
                self.take()
                kind, name = self.take()
                if kind != "name":
                    raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=name))
                tree = ("attr", tree, name)
            elif value == "[":
                self.take()
                index = self.expression()
                self.take("]")
                tree = ("index", tree, index)
            elif value == "(":
                self.take()
                tree = ("call", tree, self.items(")"))
            else:
                return tree


def _js_string(token: str) -> str:
    body = token[1:-1]
    return json.loads('"' + body.replace('\\"', '"').replace('"', '\\"').replace("\\'", "'") + '"')


def _template_parts(body: str) -> list:
    parts, pos = [], 0
    for match in re.finditer(r"\$\{(.*?)\}", body):
        parts.append(("lit", body[pos : match.start()]))
        parts.append(_Parser(match.group(1)).parse())
        pos = match.end()
    parts.append(("lit", body[pos:]))
    return [part for part in parts if part != ("lit", "")]


# --- emitter ----------------------------------------------------------------------------------------------

_STRING_FILTERS = {"toUpperCase": "upper", "toLowerCase": "lower", "trim": "trim"}
_STRING_METHODS = {"startsWith": "startswith", "endsWith": "endswith", "split": "split"}
_GLOBAL_FILTERS = {"parseInt": "int", "parseFloat": "float", "Number": "float", "String": "string"}


class _Items:
    """An n8n item list (`$input.all()`, `$('X').all()`): each entry is `{json}`, held here as the json list."""

    def __init__(self, expression: str) -> None:
        self.expression = expression


class _Node:
    """`$('Name')` / `$node["Name"]` before `.item`, `.first()`, `.all()`."""

    def __init__(self, expression: str) -> None:
        self.expression = expression


class _Emitter:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def emit(self, tree: tuple) -> str:
        value = self.value(tree)
        if isinstance(value, _Items):
            return value.expression
        if not isinstance(value, str):
            raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail="a node reference without .json"))
        return value

    def value(self, tree: tuple):
        kind = tree[0]
        if kind == "lit":
            return _literal(tree[1])
        if kind == "tpl":
            return "(" + " ~ ".join(self.text_part(part) for part in tree[1]) + ")"
        if kind == "name":
            return self.name(tree[1])
        if kind == "array":
            return "[" + ", ".join(self.emit(item) for item in tree[1]) + "]"
        if kind == "object":
            return "{ " + ", ".join(f"{_literal(str(k))}: {self.emit(v)}" for k, v in tree[1]) + " }"
        if kind == "unary":
            operand = self.emit(tree[2])
            return f"(not {operand})" if tree[1] == "!" else f"({tree[1]}{operand})"
        if kind == "bin":
            return self.binary(tree[1], tree[2], tree[3])
        if kind == "cond":
            return f"({self.emit(tree[2])} if {self.emit(tree[1])} else {self.emit(tree[3])})"
        if kind == "attr":
            return self.attribute(tree[1], tree[2])
        if kind == "index":
            base = self.value(tree[1])
            if base == ("special", "$node"):
                return self.node_ref([tree[2]])
            if base == ("special", "$env"):
                if tree[2][0] != "lit" or not isinstance(tree[2][1], str):
                    raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail="$env[...] with a computed name"))
                return self.special_attribute("$env", tree[2][1])
            if isinstance(base, _Items):
                return _Items(f"{base.expression}[{self.emit(tree[2])}]")
            return f"{self.emit(tree[1])}[{self.emit(tree[2])}]"
        if kind == "call":
            return self.call(tree[1], tree[2])
        if kind == "arrow":
            raise Untranslatable(ARROW_FUNCTIONS)
        raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=kind))

    def text_part(self, part: tuple) -> str:
        return _literal(part[1]) if part[0] == "lit" else f"({self.emit(part)} | string)"

    def binary(self, op: str, left: tuple, right: tuple) -> str:
        a, b = self.emit(left), self.emit(right)
        if op == "+" and (_is_text(left) or _is_text(right)):
            return f"({a} ~ {b})"
        if op == "??":
            return f"({a} if {a} is defined and {a} is not none else {b})"
        jinja = {"===": "==", "!==": "!=", "&&": "and", "||": "or"}.get(op, op)
        return f"({a} {jinja} {b})"

    def name(self, name: str):
        scope = self.scope
        if name == "$json":
            return "item" if scope.per_item else scope.json_ref
        if name == "$itemIndex":
            return "index" if scope.per_item else "0"
        if name == "$now":
            scope.changes.append("$now is the run's start time (execution.started_at, ISO 8601 text)")
            return "execution.started_at" if not scope.per_item else "{{ execution.started_at | tojson }}"
        if name == "$today":
            scope.changes.append("$today is the run's start date at midnight, as ISO 8601 text")
            start = "execution.started_at" if not scope.per_item else "{{ execution.started_at | tojson }}"
            return f"({start}[:10] ~ 'T00:00:00.000+00:00')"
        if name in ("$input", "$node", "$execution", "$workflow", "$vars", "$env", "Math", "JSON", "$", "$items"):
            return ("special", name)
        if name in _GLOBAL_FILTERS:
            return ("global", name)
        raise Untranslatable(UNSUPPORTED_NAME.format(name=name))

    def attribute(self, base_tree: tuple, name: str):
        base = self.value(base_tree)
        scope = self.scope
        if isinstance(base, tuple) and base[0] == "special":
            return self.special_attribute(base[1], name)
        if isinstance(base, _Node):
            if name == "json":  # $node["X"].json: the item at the same index
                return self.paired(base.expression)
            if name == "item":
                return ("paired", base.expression)
            raise Untranslatable(UNSUPPORTED_NAME.format(name=f".{name} of a node"))
        if isinstance(base, tuple) and base[0] == "paired":
            if name == "json":
                return self.paired(base[1])
            raise Untranslatable(UNSUPPORTED_NAME.format(name=f".item.{name}"))
        if isinstance(base, tuple) and base[0] == "input":
            if name == "item":
                return ("input_item",)
            raise Untranslatable(UNSUPPORTED_NAME.format(name=f"$input.{name}"))
        if base == ("input_item",):
            if name == "json":
                return "item" if scope.per_item else scope.json_ref
            raise Untranslatable(UNSUPPORTED_NAME.format(name=f"$input.item.{name}"))
        if isinstance(base, _Items):
            if name == "length":
                return f"({base.expression} | length)"
            if name == "json":  # $input.all()[0].json
                return base.expression
            raise Untranslatable(UNSUPPORTED_NAME.format(name=f".{name} of an item list"))
        if isinstance(base, tuple) and base[0] == "first":
            if name == "json":
                return base[1]
            raise Untranslatable(UNSUPPORTED_NAME.format(name=f".{name}"))
        if isinstance(base, tuple):
            raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail=f".{name}"))
        if name == "length":
            return f"({base} | length)"
        if name in ("items", "keys", "values", "get", "update", "pop"):  # dict methods shadow keys
            return f"{base}[{_literal(name)}]"
        return f"{base}.{name}"

    def special_attribute(self, special: str, name: str):
        scope = self.scope
        if special == "$input":
            if name == "item":
                return ("input_item",)
            return ("input_method", name)
        if special == "$execution" and name == "id":
            return "execution.id" if not scope.per_item else "{{ execution.id | tojson }}"
        if special == "$workflow" and name in ("id", "name"):
            scope.changes.append(f"$workflow.{name} is n8n's workflow {name}, fixed at import")
            return _literal(str(scope.workflow.get(name, "")))
        if special == "$vars":
            return f"vars.{name}" if not scope.per_item else f"{{{{ vars.{name} | tojson }}}}"
        if special == "$env":
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,99}", name):
                raise Untranslatable(ENV_NAME.format(name=name))
            scope.changes.append(ENV_CHANGE.format(name=name))
            return f"org.vars.{name}" if not scope.per_item else f"{{{{ org.vars.{name} | tojson }}}}"
        if special in ("Math", "JSON"):
            return ("static", f"{special}.{name}")
        raise Untranslatable(UNSUPPORTED_NAME.format(name=f"{special}.{name}"))

    def paired(self, items_expression: str) -> str:
        if self.scope.per_item:
            self.scope.changes.append("another node's item is paired with this one by position")
            return f"({{{{ {items_expression} | tojson }}}})[index]"
        return f"{items_expression}[0]"

    def node_ref(self, args: list) -> _Node:
        if len(args) != 1 or args[0][0] != "lit" or not isinstance(args[0][1], str):
            raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail="a node named by an expression"))
        name = args[0][1]
        if name not in self.scope.node_refs:
            raise Untranslatable(UNKNOWN_NODE.format(name=name))
        return _Node(self.scope.node_refs[name])

    def items_ref(self, expression: str) -> str:
        return f"({{{{ {expression} | tojson }}}})" if self.scope.per_item else expression

    def call(self, callee_tree: tuple, args: list):
        if callee_tree == ("name", "$"):
            return self.node_ref(args)
        if callee_tree == ("name", "$items"):
            return _Items(self.items_ref(self.node_ref(args).expression))
        if callee_tree[0] == "attr":
            method = callee_tree[2]
            if callee_tree[1] in (("name", "$now"), ("name", "$today")) and method in _LUXON:
                return self.luxon(callee_tree[1][1], method, args)
            inner = callee_tree[1]
            if (
                inner[0] == "call"
                and inner[1][0] == "attr"
                and inner[1][2] in ("plus", "minus")
                and inner[1][1]
                in (
                    ("name", "$now"),
                    ("name", "$today"),
                )
            ):
                raise Untranslatable(LUXON_ARITHMETIC)
            base = self.value(callee_tree[1])
            if method in ("map", "filter") and len(args) == 1 and args[0][0] == "arrow":
                return self.callback(base, method, args[0])
            if isinstance(base, tuple) and base[0] == "special" and base[1] == "$input":
                return self.input_method(method)
            if isinstance(base, tuple) and base[0] == "special" and base[1] in ("Math", "JSON"):
                return self.static_call(f"{base[1]}.{method}", args)
            if isinstance(base, _Node):
                return self.node_method(base.expression, method)
            if isinstance(base, _Items):
                raise Untranslatable(UNSUPPORTED_METHOD.format(name=method))
            if isinstance(base, tuple):
                raise Untranslatable(UNSUPPORTED_METHOD.format(name=method))
            return self.method(base, method, [self.emit(arg) for arg in args])
        if callee_tree[0] == "name" and callee_tree[1] in _GLOBAL_FILTERS and len(args) == 1:
            return f"({self.emit(args[0])} | {_GLOBAL_FILTERS[callee_tree[1]]})"
        raise Untranslatable(UNSUPPORTED_SYNTAX.format(detail="this call"))

    def input_method(self, method: str):
        scope = self.scope
        source = "input" if scope.per_item else scope.input_ref
        if method == "all":
            return _Items(source)
        if method == "first":
            return ("first", f"{source}[0]")
        if method == "last":
            return ("first", f"{source}[-1]")
        raise Untranslatable(UNSUPPORTED_METHOD.format(name=f"$input.{method}"))

    def node_method(self, expression: str, method: str):
        if method == "all":
            return _Items(self.items_ref(expression))
        if method == "first":
            return ("first", f"{self.items_ref(expression)}[0]")
        if method == "last":
            return ("first", f"{self.items_ref(expression)}[-1]")
        raise Untranslatable(UNSUPPORTED_METHOD.format(name=method))

    def static_call(self, name: str, args: list) -> str:
        emitted = [self.emit(arg) for arg in args]
        if name == "JSON.stringify" and len(emitted) == 1:
            return f"({emitted[0]} | tojson)"
        if name == "Math.round" and len(emitted) == 1:
            return f"({emitted[0]} | round | int)"
        if name == "Math.floor" and len(emitted) == 1:
            return f"({emitted[0]} | round(0, 'floor') | int)"
        if name == "Math.ceil" and len(emitted) == 1:
            return f"({emitted[0]} | round(0, 'ceil') | int)"
        if name == "Math.abs" and len(emitted) == 1:
            return f"({emitted[0]} | abs)"
        if name in ("Math.max", "Math.min") and emitted:
            return f"([{', '.join(emitted)}] | {name[5:]})"
        raise Untranslatable(UNSUPPORTED_METHOD.format(name=name))

    def luxon(self, name: str, method: str, args: list) -> str:
        """`$now` / `$today` with a Luxon method: formats that are fixed-width fields of the ISO text."""
        text = self.emit(("name", name))
        if method in ("toISO", "toString", "toJSON") and not args:
            self.scope.changes.append(f"{name}.{method}() is ISO 8601 text of the run's start (Python's form)")
            return text
        if method == "toISODate" and not args:
            return f"{text}[:10]"
        if method == "toFormat" and len(args) == 1 and args[0][0] == "lit" and isinstance(args[0][1], str):
            return luxon_iso_slices(args[0][1], text)
        if method in ("plus", "minus"):
            raise Untranslatable(LUXON_ARITHMETIC)
        raise Untranslatable(UNSUPPORTED_METHOD.format(name=f"{name}.{method}"))

    def callback(self, base, method: str, arrow: tuple):
        """`.map(x => x.json.a.b)` / `.map(x => x.a)`, `.filter(x => x.json.a > 1)` (one comparison with a literal,
        or a field's truth) on an item list or a list value: Jinja's map / selectattr / rejectattr."""
        items = isinstance(base, _Items)
        if not items and not isinstance(base, str):
            raise Untranslatable(ARROW_FUNCTIONS)
        source = base.expression if isinstance(base, _Items) else base
        param, body = arrow[1], arrow[2]
        if method == "map":
            path, filters = _arrow_path(body, param, items)
            mapped = f"{source} | map(attribute={_literal(path)})" if path else source
            for name in filters:
                mapped = f"{mapped} | map({_literal(name)})"
            return f"({mapped} | list)"
        negate = body[0] == "unary" and body[1] == "!"
        if negate:
            body = body[2]
        if body[0] == "bin" and body[1] in _ARROW_TESTS and body[3][0] == "lit":
            path, filters = _arrow_path(body[2], param, items)
            if filters or not path:
                raise Untranslatable(ARROW_FUNCTIONS + " (a filter compares one field with a literal)")
            kind = "rejectattr" if negate else "selectattr"
            selected = f"{source} | {kind}({_literal(path)}, {_literal(_ARROW_TESTS[body[1]])}, {_literal(body[3][1])})"
        else:
            path, filters = _arrow_path(body, param, items)
            if filters or not path:
                raise Untranslatable(ARROW_FUNCTIONS + " (a filter compares one field with a literal)")
            selected = f"{source} | {'rejectattr' if negate else 'selectattr'}({_literal(path)})"
        return _Items(f"({selected} | list)") if items else f"({selected} | list)"

    def method(self, base: str, name: str, args: list[str]) -> str:
        if name in _STRING_FILTERS and not args:
            return f"({base} | {_STRING_FILTERS[name]})"
        if name in _STRING_METHODS:
            return f"{base}.{_STRING_METHODS[name]}({', '.join(args)})"
        if name == "includes" and len(args) == 1:
            return f"({args[0]} in {base})"
        if name == "replace" and len(args) == 2:  # JavaScript replaces the first occurrence of a string
            return f"{base}.replace({args[0]}, {args[1]}, 1)"
        if name == "replaceAll" and len(args) == 2:
            return f"({base} | replace({args[0]}, {args[1]}))"
        if name == "toString" and not args:
            return f"({base} | string)"
        if name == "toFixed" and len(args) <= 1:
            digits = args[0] if args else "0"
            return f"(('%.' ~ {digits} ~ 'f') | format({base}))"
        if name == "join" and len(args) <= 1:
            return f"({base} | join({args[0] if args else _literal(',')}))"
        if name == "slice" and 1 <= len(args) <= 2:
            return f"{base}[{args[0]}:{args[1] if len(args) == 2 else ''}]"
        if name == "isEmpty" and not args:
            return f"(({base} | length) == 0)"
        if name == "toNumber" and not args:
            return f"({base} | float)"
        raise Untranslatable(UNSUPPORTED_METHOD.format(name=name))


_ARROW_TESTS = {"===": "eq", "==": "eq", "!==": "ne", "!=": "ne", ">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_LUXON = {"toFormat", "toISO", "toISODate", "toString", "toJSON", "plus", "minus", "toMillis", "toSeconds"}


def _arrow_path(body: tuple, param: str, items: bool) -> tuple[str, list[str]]:
    """The dotted field path an arrow body reads from its parameter (`x.json.a.b` -> "a.b" for items), and the
    string filters applied after it (`.toUpperCase()`); anything else is refused."""
    filters: list[str] = []
    while body[0] == "call" and body[1][0] == "attr" and body[1][2] in _STRING_FILTERS and not body[2]:
        filters.insert(0, _STRING_FILTERS[body[1][2]])
        body = body[1][1]
    names: list[str] = []
    while body[0] == "attr" or (body[0] == "index" and body[2][0] == "lit" and isinstance(body[2][1], str)):
        names.insert(0, body[2] if body[0] == "attr" else body[2][1])
        body = body[1]
    if names and names[-1] == "length":  # `.length` of the field: Jinja's length filter, after the path
        names.pop()
        filters.insert(0, "length")
    if body != ("name", param) or any("." in name or name == "length" for name in names):
        raise Untranslatable(ARROW_FUNCTIONS + " (only a field path of the parameter is translated)")
    if items:
        if not names or names[0] != "json":
            raise Untranslatable(ARROW_FUNCTIONS + " (an item's data is read through .json)")
        names = names[1:]
    return ".".join(names), filters


def _literal(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def _is_text(tree: tuple) -> bool:
    return (
        (tree[0] == "lit" and isinstance(tree[1], str))
        or tree[0] == "tpl"
        or (tree[0] == "bin" and tree[1] == "+" and (_is_text(tree[2]) or _is_text(tree[3])))
    )


# --- whole n8n values ---------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def is_expression(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith("=")


def js_to_jinja(source: str, scope: Scope) -> str:
    """One JavaScript expression as a Jinja expression (no braces); raises Untranslatable."""
    return _Emitter(scope).emit(_Parser(source).parse())


def _segments(text: str) -> list[tuple[str, str]]:
    """('text', ...) and ('code', ...) pieces of an n8n value after its leading '='."""
    pieces, pos = [], 0
    for match in _SEGMENT.finditer(text):
        if match.start() > pos:
            pieces.append(("text", text[pos : match.start()]))
        pieces.append(("code", match.group(1)))
        pos = match.end()
    if pos < len(text):
        pieces.append(("text", text[pos:]))
    return pieces


def value_expression(value: object, scope: Scope) -> str:
    """An n8n parameter value as a Jinja expression (no braces): a per-item expression, or the inside of one
    config `{{ }}`. A plain value becomes a literal."""
    if not is_expression(value):
        return _literal(value) if not isinstance(value, dict | list) else _data_literal(value)
    pieces = _segments(value[1:])
    if len(pieces) == 1 and pieces[0][0] == "code":
        return js_to_jinja(pieces[0][1], scope)
    parts = [_literal(text) if kind == "text" else f"({js_to_jinja(text, scope)} | string)" for kind, text in pieces]
    return "(" + " ~ ".join(parts or ["''"]) + ")"


def _data_literal(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_literal(str(k))}: {_data_literal(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_data_literal(v) for v in value) + "]"
    return _literal(value)


def config_value(value: object, scope: Scope) -> object:
    """An n8n parameter value as a ConcertMaster config value: plain values stay as they are, an expression
    becomes a `{{ }}` template (one `{{ }}` keeps the native value, like n8n)."""
    if not is_expression(value):
        return value
    pieces = _segments(value[1:])
    if len(pieces) == 1 and pieces[0][0] == "code":
        return "{{ " + js_to_jinja(pieces[0][1], scope) + " }}"
    out = []
    for kind, text in pieces:
        out.append(text if kind == "text" else "{{ " + js_to_jinja(text, scope) + " }}")
    return "".join(out)
