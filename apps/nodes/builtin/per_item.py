"""`per_item`: run an action node once per item of a list, as n8n runs its nodes (once per input item).

The items are objects merged over the wrapped node's `config` for that item's call, usually the output of a
`map` node that computes each item's values (the n8n translator emits that pair). The calls run one after
another in the node's run; the output is the list of the calls' outputs, in the order of the items.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from apps.nodes.base import Node, NodeContext, NodeError, NodeResult, Suspend, idempotency_key
from apps.nodes.builtin.actions import CREDENTIAL_NAME
from apps.nodes.registry import register, registry
from apps.nodes.validation import validate_config

#: Nodes that finish in one call (actions take their credential from `credential`; date_time for n8n's Date & Time).
WRAPPABLE = (
    "http_request",
    "email_send",
    "slack_message",
    "github_issue",
    "outgoing_webhook",
    "n8n_workflow",
    "date_time",
)
MAX_ITEMS = 1000

ITEMS_NOT_A_LIST = "items must be a list of objects (got {kind})."
ITEM_NOT_AN_OBJECT = "Item {index} must be an object (got {kind})."
TOO_MANY_ITEMS = f"per_item runs at most {MAX_ITEMS} items (got {{count}})."
ITEM_INVALID = "Item {index}: {path}: {message}"
ITEM_FAILED = "Item {index}: {error}"
ITEM_SUSPENDED = "Item {index}: {type} waited; per_item only wraps nodes that finish in one call."
CREDENTIAL_IN_ITEM = "The credential is set once, in per_item's own `credential`, not per item."


@register
class PerItemNode(Node):
    type_name = "per_item"
    category = "actions"
    display_name = "Per item"
    icon = "repeat"
    description = (
        "Runs an action node (`node_type`: http_request, email_send, slack_message, github_issue, "
        "outgoing_webhook, n8n_workflow) or date_time once per element of `items`: each element is an object "
        "merged over "
        "`config` for that call (so `config` holds what every call shares and the items what differs). Outputs "
        "the list of the calls' outputs, in order. The calls run one after another; the first failure fails the "
        "node (`Item <index>: ...`, its data says which). Each call carries its own idempotency key (the node's "
        "key and the item's index), so a retried node repeats the same calls. n8n's item model: the n8n "
        "translator emits it for HTTP Request, Slack, GitHub, Send Email and Date & Time."
    )
    credential_fields = ("credential",)
    config_schema = {
        "type": "object",
        "properties": {
            "node_type": {"enum": list(WRAPPABLE)},
            "config": {"type": "object", "description": "The wrapped node's config, shared by every call."},
            "items": {"type": "array", "maxItems": MAX_ITEMS, "description": "One object per call."},
            "credential": CREDENTIAL_NAME,
        },
        "required": ["node_type", "items"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config: dict) -> list[tuple[str, str]]:
        shared = config.get("config") or {}
        if "credential" in shared:
            return [("/config/credential", CREDENTIAL_IN_ITEM)]
        # The shared part alone may lack what the items bring: only its present values are checked here.
        return [
            (f"/config{error.path}", error.message)
            for error in validate_config(config["node_type"], shared)
            if not (
                error.path == ""
                and (error.message.endswith("is a required property") or "valid under" in error.message)
            )
        ]

    @classmethod
    def breaker_target(cls, config: dict) -> str | None:
        items = config.get("items")
        first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        return registry.get(config["node_type"]).breaker_target({**(config.get("config") or {}), **first})

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        node_type = config["node_type"]
        items = config["items"]
        if not isinstance(items, list):
            raise NodeError(ITEMS_NOT_A_LIST.format(kind=type(items).__name__), retryable=False)
        if len(items) > MAX_ITEMS:
            raise NodeError(TOO_MANY_ITEMS.format(count=len(items)), retryable=False)
        calls = [self._call_config(config, index, item) for index, item in enumerate(items)]
        node = registry.get(node_type)()
        outputs: list[Any] = []
        for index, (item, call) in enumerate(zip(items, calls, strict=True)):
            item_ctx = replace(
                ctx,
                config=call,
                inputs={"main": item},
                idempotency_key=idempotency_key(str(ctx.execution_id), f"{ctx.node_id}#{index}"),
            )
            try:
                result = node.run(item_ctx)
            except NodeError as error:
                data = {**error.data, "index": index, "done": outputs}
                message = ITEM_FAILED.format(index=index, error=error.message)
                raise NodeError(message, retryable=error.retryable, data=data) from error
            if isinstance(result, Suspend):
                raise NodeError(ITEM_SUSPENDED.format(index=index, type=node_type), retryable=False)
            outputs.append(result.outputs.get("main"))
        return NodeResult.single(outputs)

    @staticmethod
    def _call_config(config: dict, index: int, item: Any) -> dict:
        """The wrapped node's config for one item, checked as the engine checks a rendered config."""
        if not isinstance(item, dict):
            raise NodeError(ITEM_NOT_AN_OBJECT.format(index=index, kind=type(item).__name__), retryable=False)
        if "credential" in item:
            raise NodeError(CREDENTIAL_IN_ITEM, retryable=False)
        call = {**(config.get("config") or {}), **item}
        if config.get("credential"):
            call["credential"] = config["credential"]
        errors = validate_config(config["node_type"], call, rendered=True)
        if errors:
            first = errors[0]
            message = ITEM_INVALID.format(index=index, path=first.path or "/", message=first.message)
            raise NodeError(message, retryable=False, data={"index": index, "errors": [e.as_dict() for e in errors]})
        return call
