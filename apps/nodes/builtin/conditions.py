"""Condition nodes: they choose a branch, or wait (a delay, a human, child workflows) without holding a worker.

Branching nodes emit their input unchanged on the port they take; ports they do not emit are branches
not taken. Waiting nodes return `Suspend` on their first run; the engine runs them again with
`ctx.resume` set once the wait is over (see `apps.nodes.base.Suspend`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from apps.nodes.base import MAIN, Node, NodeContext, NodeError, NodeResult, Suspend
from apps.nodes.expressions import has_expression
from apps.nodes.registry import register

DEFAULT_PORT = "default"
SUCCEEDED = "succeeded"
FALSE_STRINGS = frozenset({"", "false", "0", "no", "off", "none", "null"})
MAX_DELAY_SECONDS = 366 * 24 * 3600

DUPLICATE_PORT = "Port {port!r} is used by more than one case."
PORT_IS_EXPRESSION = "A case's port is part of the graph and cannot be an expression."
INVALID_UNTIL = "Invalid date-time {value!r} for 'until': use ISO 8601, e.g. 2030-01-31T09:00:00Z."
DELAY_TOO_LONG = f"A delay may last at most {MAX_DELAY_SECONDS} seconds."
APPROVAL_TIMED_OUT = "Nobody approved or rejected within {seconds} seconds."
UNKNOWN_DECISION = "Unknown approval decision {decision!r}."
ITEMS_NOT_A_LIST = "foreach needs a list of items (got {type})."
TOO_MANY_ITEMS = "foreach may run at most {limit} items (got {count})."
RESULTS_MISMATCH = "Expected {expected} child results, got {got}."
ITEM_FAILED = "Item {index} failed: {error}"
SUB_WORKFLOW_FAILED = "The sub-workflow {status}: {error}"

WORKFLOW_ID = {"type": "string", "format": "uuid", "description": "Id of the workflow to run."}
PORT_NAME = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$", "not": {"enum": [DEFAULT_PORT, "error"]}}


def is_truthy(value: Any) -> bool:
    """Python truthiness, except that text reading as false ("false", "0", "no", "off", "none", "null",
    blank) is false: a condition rendered inside a larger string arrives as text."""
    if isinstance(value, str):
        return value.strip().lower() not in FALSE_STRINGS
    return bool(value)


def now() -> datetime:
    return datetime.now(UTC)


def children_results(ctx: NodeContext, expected: int) -> list[dict]:
    """The child results the engine resumed this node with, checked against how many children it asked for."""
    results = (ctx.resume or {}).get("results")
    if not isinstance(results, list) or len(results) != expected:
        got = len(results) if isinstance(results, list) else 0
        raise NodeError(RESULTS_MISMATCH.format(expected=expected, got=got), retryable=False)
    return results


@register
class IfElseNode(Node):
    type_name = "if_else"
    category = "conditions"
    display_name = "If / else"
    icon = "git-branch"
    description = (
        "Sends its input to the true port when the condition holds and to the false port otherwise; the "
        "other branch is skipped. The condition is usually an expression such as "
        "{{ trigger.body.amount > 100 }} and is judged by truthiness: false, 0, null, empty lists and "
        'objects are false, and so is text reading "false", "0", "no", "off", "none", "null" or blank.'
    )
    outputs = ("true", "false")
    config_schema = {
        "type": "object",
        "properties": {"condition": {"description": "Any value, judged by truthiness."}},
        "required": ["condition"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        port = "true" if is_truthy(ctx.config["condition"]) else "false"
        return NodeResult.single(ctx.input, port=port)


@register
class SwitchNode(Node):
    type_name = "switch"
    category = "conditions"
    display_name = "Switch"
    icon = "split"
    description = (
        "Compares a value with each case in order and sends its input to the port of the first case that "
        "equals it, or to the default port when none does. Each case names its own output port; "
        "numbers compare by value (1 equals 1.0) but booleans only equal booleans, and strings compare "
        "exactly."
    )
    outputs = (DEFAULT_PORT,)
    config_schema = {
        "type": "object",
        "properties": {
            "value": {"description": "The value to compare; usually an expression."},
            "cases": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "properties": {"port": PORT_NAME, "equals": {"description": "Any JSON value."}},
                    "required": ["port", "equals"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["value", "cases"],
        "additionalProperties": False,
    }

    @classmethod
    def output_ports(cls, config: dict) -> tuple[str, ...]:
        cases = config.get("cases") if isinstance(config, dict) else None
        ports = [case["port"] for case in cases or [] if isinstance(case, dict) and isinstance(case.get("port"), str)]
        return (*dict.fromkeys(ports), DEFAULT_PORT)

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        problems, seen = [], set()
        for index, case in enumerate(config["cases"]):
            if has_expression(case["port"]):
                problems.append((f"/cases/{index}/port", PORT_IS_EXPRESSION))
            elif case["port"] in seen:
                problems.append((f"/cases/{index}/port", DUPLICATE_PORT.format(port=case["port"])))
            seen.add(case["port"])
        return problems

    def run(self, ctx: NodeContext) -> NodeResult:
        value = ctx.config["value"]
        for case in ctx.config["cases"]:
            if same_value(value, case["equals"]):
                return NodeResult.single(ctx.input, port=case["port"])
        return NodeResult.single(ctx.input, port=DEFAULT_PORT)


def same_value(left: Any, right: Any) -> bool:
    """JSON equality: True is not 1, but 1 is 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return left == right


@register
class DelayNode(Node):
    type_name = "delay"
    category = "conditions"
    display_name = "Delay"
    icon = "timer"
    description = (
        "Waits for a number of seconds, or until a date-time (ISO 8601; without an offset it is UTC), then "
        "passes its input on unchanged. The execution is parked while it waits, so no worker is held, "
        "however long the delay. A date-time already past, or zero seconds, does not wait at all."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
            "until": {"type": "string", "format": "date-time"},
        },
        "oneOf": [{"required": ["seconds"]}, {"required": ["until"]}],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult | Suspend:
        if ctx.resume is not None:
            return NodeResult.single(ctx.input)
        current = now()
        wake_at = self._wake_at(ctx.config, current)
        if wake_at <= current:
            return NodeResult.single(ctx.input)
        return Suspend(kind="delay", wake_at=wake_at, data={"wake_at": wake_at.isoformat()})

    def _wake_at(self, config: dict, current: datetime) -> datetime:
        if "seconds" in config:
            if config["seconds"] > MAX_DELAY_SECONDS:
                raise NodeError(DELAY_TOO_LONG, retryable=False)
            return current + timedelta(seconds=config["seconds"])
        try:
            until = datetime.fromisoformat(config["until"])
        except (TypeError, ValueError) as exc:
            raise NodeError(INVALID_UNTIL.format(value=config["until"]), retryable=False) from exc
        return until if until.tzinfo else until.replace(tzinfo=UTC)


@register
class WaitForApprovalNode(Node):
    type_name = "wait_for_approval"
    category = "conditions"
    display_name = "Wait for approval"
    icon = "user-check"
    description = (
        "Pauses the execution until a person approves or rejects it through the API or the admin, then "
        "continues on the approved or rejected port with {decision, by, comment, input}. The message "
        "tells approvers what they decide; approvers optionally lists who may decide. Without a decision "
        "within timeout_seconds it continues on the timeout port, or fails when on_timeout is fail."
    )
    outputs = ("approved", "rejected", "timeout")
    config_schema = {
        "type": "object",
        "properties": {
            "message": {"type": "string", "minLength": 1, "maxLength": 5000},
            "approvers": {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True},
            "timeout_seconds": {"type": "integer", "minimum": 60, "maximum": 90 * 24 * 3600, "default": 604800},
            "on_timeout": {"enum": ["route", "fail"], "default": "route"},
        },
        "required": ["message"],
        "additionalProperties": False,
    }

    @classmethod
    def output_ports(cls, config: dict) -> tuple[str, ...]:
        if isinstance(config, dict) and config.get("on_timeout") == "fail":
            return ("approved", "rejected")
        return cls.outputs

    def run(self, ctx: NodeContext) -> NodeResult | Suspend:
        config = ctx.config
        timeout = config.get("timeout_seconds", 604800)
        if ctx.resume is None:
            data = {"message": config["message"], "approvers": list(config.get("approvers", []))}
            return Suspend(kind="approval", wake_at=now() + timedelta(seconds=timeout), data=data)
        decision = ctx.resume.get("decision")
        if decision not in self.outputs:
            raise NodeError(UNKNOWN_DECISION.format(decision=decision), retryable=False)
        if decision == "timeout" and config.get("on_timeout", "route") == "fail":
            raise NodeError(APPROVAL_TIMED_OUT.format(seconds=timeout), retryable=False)
        output = {
            "decision": decision,
            "by": ctx.resume.get("by"),
            "comment": ctx.resume.get("comment", ""),
            "input": ctx.input,
        }
        return NodeResult.single(output, port=decision)


@register
class ForeachNode(Node):
    type_name = "foreach"
    category = "conditions"
    display_name = "For each"
    icon = "repeat"
    description = (
        "Runs a workflow once per item (the items from the config, or the node's input list), at most "
        "concurrency at a time, and waits for all of them. Outputs {results, errors}: each child's output "
        "in the order of the items (null for a failed one) and the failures as {index, status, error}. "
        "With fail_fast (the default) any failed item fails the node instead."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "workflow_id": WORKFLOW_ID,
            "items": {"type": "array"},
            "concurrency": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
            "fail_fast": {"type": "boolean", "default": True},
        },
        "required": ["workflow_id"],
        "additionalProperties": False,
    }

    MAX_ITEMS = 10_000

    def run(self, ctx: NodeContext) -> NodeResult | Suspend:
        items = self._items(ctx)
        if not items:
            return NodeResult.single({"results": [], "errors": []})
        if ctx.resume is None:
            children = [{"workflow_id": ctx.config["workflow_id"], "input": item} for item in items]
            data = {
                "children": children,
                "concurrency": ctx.config.get("concurrency", 5),
                "fail_fast": ctx.config.get("fail_fast", True),
            }
            return Suspend(kind="children", data=data)
        results = children_results(ctx, len(items))
        errors = [
            {"index": index, "status": result.get("status"), "error": result.get("error")}
            for index, result in enumerate(results)
            if result.get("status") != SUCCEEDED
        ]
        if errors and ctx.config.get("fail_fast", True):
            message = ITEM_FAILED.format(index=errors[0]["index"], error=errors[0]["error"])
            raise NodeError(message, retryable=False, data={"errors": errors})
        outputs = [result.get("output") if result.get("status") == SUCCEEDED else None for result in results]
        return NodeResult.single({"results": outputs, "errors": errors})

    def _items(self, ctx: NodeContext) -> list:
        items = ctx.config.get("items", ctx.input)
        if not isinstance(items, list):
            raise NodeError(ITEMS_NOT_A_LIST.format(type=type(items).__name__), retryable=False)
        if len(items) > self.MAX_ITEMS:
            raise NodeError(TOO_MANY_ITEMS.format(limit=self.MAX_ITEMS, count=len(items)), retryable=False)
        return items


@register
class SubWorkflowNode(Node):
    type_name = "sub_workflow"
    category = "conditions"
    display_name = "Sub-workflow"
    icon = "workflow"
    description = (
        "Runs another workflow with an input (from the config, or this node's input) and waits for it "
        "without holding a worker. Outputs the child execution's output when it succeeds; when it fails "
        "or is cancelled this node fails with the child's error, which the error port can route."
    )
    config_schema = {
        "type": "object",
        "properties": {"workflow_id": WORKFLOW_ID, "input": {"description": "Any JSON; defaults to the input."}},
        "required": ["workflow_id"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult | Suspend:
        if ctx.resume is None:
            child = {"workflow_id": ctx.config["workflow_id"], "input": ctx.config.get("input", ctx.input)}
            return Suspend(kind="children", data={"children": [child], "concurrency": 1})
        result = children_results(ctx, 1)[0]
        if result.get("status") != SUCCEEDED:
            message = SUB_WORKFLOW_FAILED.format(status=result.get("status"), error=result.get("error"))
            raise NodeError(message, retryable=False, data=result)
        return NodeResult.single(result.get("output"), port=MAIN)
