"""n8n conditions (IF, Filter, Switch rules) as per-item ConcertMaster expressions. Pure."""

from __future__ import annotations

from .expressions import Scope, Untranslatable, value_expression

UNSUPPORTED_OPERATION = "condition operation {type}.{operation} is not translated"
NO_CONDITIONS = "no conditions"

_COMPARE = {"equals": "==", "notEquals": "!=", "gt": ">", "lt": "<", "gte": ">=", "lte": "<="}
_V1_COMPARE = {
    "equal": "==",
    "notEqual": "!=",
    "larger": ">",
    "largerEqual": ">=",
    "smaller": "<",
    "smallerEqual": "<=",
}


def _one(condition: dict, scope: Scope, case_sensitive: bool) -> str:
    operator = condition.get("operator") or {}
    kind, operation = operator.get("type", "string"), operator.get("operation", "equals")
    left = value_expression(condition.get("leftValue", ""), scope)
    right = value_expression(condition.get("rightValue", ""), scope)
    if kind == "string" and not case_sensitive:
        left, right = f"({left} | lower)", f"({right} | lower)"
    if operation in ("exists", "notExists"):
        test = f"({left} is defined and {left} is not none)"
        return test if operation == "exists" else f"(not {test})"
    if operation in ("empty", "notEmpty", "isEmpty", "isNotEmpty"):
        test = f"(not {left})"
        return test if operation in ("empty", "isEmpty") else f"(not {test})"
    if kind == "boolean" and operation in ("true", "false"):
        return f"({left} == {'true' if operation == 'true' else 'false'})"
    if operation in _COMPARE and kind in ("string", "number", "boolean"):
        return f"({left} {_COMPARE[operation]} {right})"
    if kind == "string" and operation in ("contains", "notContains"):
        test = f"({right} in {left})"
        return test if operation == "contains" else f"(not {test})"
    if kind == "string" and operation in ("startsWith", "notStartsWith", "endsWith", "notEndsWith"):
        method = "startswith" if "tarts" in operation else "endswith"
        test = f"({left} | string).{method}({right})"
        return f"(not {test})" if operation.startswith("not") else test
    if kind == "array" and operation in ("contains", "notContains"):
        test = f"({right} in {left})"
        return test if operation == "contains" else f"(not {test})"
    if kind == "array" and operation.startswith("length"):
        sign = {"lengthEquals": "==", "lengthNotEquals": "!=", "lengthGt": ">", "lengthLt": "<"}.get(operation)
        sign = sign or {"lengthGte": ">=", "lengthLte": "<="}.get(operation)
        if sign:
            return f"(({left} | length) {sign} {right})"
    raise Untranslatable(UNSUPPORTED_OPERATION.format(type=kind, operation=operation))


def filter_condition(conditions: dict, scope: Scope) -> str:
    """The `conditions` parameter of IF 2.x, Filter 2.x and Switch 3.x rules (n8n's filter format)."""
    options = conditions.get("options") or {}
    case_sensitive = options.get("caseSensitive", True)
    parts = [_one(condition, scope, case_sensitive) for condition in conditions.get("conditions") or []]
    if not parts:
        raise Untranslatable(NO_CONDITIONS)
    joiner = " or " if conditions.get("combinator") == "or" else " and "
    return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"


def v1_condition(parameters: dict, scope: Scope) -> str:
    """IF 1.x: `conditions: {string|number|boolean: [{value1, operation, value2}]}`, `combineOperation`."""
    parts = []
    for kind, rows in (parameters.get("conditions") or {}).items():
        for row in rows or []:
            operation = row.get("operation", "equal")
            left = value_expression(row.get("value1", ""), scope)
            right = value_expression(row.get("value2", ""), scope)
            if operation in _V1_COMPARE:
                parts.append(f"({left} {_V1_COMPARE[operation]} {right})")
            elif operation in ("contains", "notContains"):
                test = f"({right} in {left})"
                parts.append(test if operation == "contains" else f"(not {test})")
            elif operation in ("startsWith", "endsWith"):
                parts.append(f"({left} | string).{operation.lower()}({right})")
            elif operation in ("isEmpty", "isNotEmpty"):
                parts.append(f"(not {left})" if operation == "isEmpty" else f"(not (not {left}))")
            else:
                raise Untranslatable(UNSUPPORTED_OPERATION.format(type=kind, operation=operation))
    if not parts:
        raise Untranslatable(NO_CONDITIONS)
    joiner = " or " if parameters.get("combineOperation") == "any" else " and "
    return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"
