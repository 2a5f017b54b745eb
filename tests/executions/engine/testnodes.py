"""Node types that exist only in tests: slow, failing, flaky, crashing, port-choosing and waiting nodes.

`registered()` adds them to the real registry for the duration of a test and removes them afterwards, so
the shipped registry never contains them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apps.nodes.base import MAIN, Node, NodeContext, NodeError, NodeResult, Suspend
from apps.nodes.registry import registry

_ANY = {"description": "Any value."}


def _schema(**properties) -> dict:
    return {"type": "object", "properties": properties, "additionalProperties": False}


class NoopNode(Node):
    """Passes its input on."""

    type_name = "test.noop"
    category = "actions"

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single(ctx.input)


class EchoNode(Node):
    """Outputs its rendered config's `value` (expressions tests) and records what it received."""

    type_name = "test.echo"
    category = "actions"
    config_schema = _schema(value=_ANY)

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single({"value": ctx.config.get("value"), "input": ctx.input, "inputs": ctx.inputs})


class PortsNode(Node):
    """Emits its input on the ports named in `ports` (a branch chooser with any ports)."""

    type_name = "test.ports"
    category = "conditions"
    outputs = ("a", "b", "c")
    config_schema = _schema(ports={"type": "array", "items": {"type": "string"}})

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(outputs={port: ctx.input for port in ctx.config.get("ports", [])})


class SlowNode(Node):
    """Sleeps `seconds`; with `marker`, writes the file at start and appends one line per finished run."""

    type_name = "test.slow"
    category = "actions"
    config_schema = _schema(seconds={"type": "number"}, marker={"type": "string"})
    started = threading.Event()

    def run(self, ctx: NodeContext) -> NodeResult:
        type(self).started.set()
        marker = ctx.config.get("marker")
        if marker:
            Path(marker + ".started").write_text(ctx.execution_id)
        time.sleep(float(ctx.config.get("seconds", 1)))
        if marker:
            with open(marker + ".done", "a") as done:
                done.write(f"{ctx.node_id}\n")
        return NodeResult.single({"slept": ctx.config.get("seconds", 1)})


class FailNode(Node):
    """Always fails with `message`; `retryable` says whether retrying could help."""

    type_name = "test.fail"
    category = "actions"
    config_schema = _schema(message={"type": "string"}, retryable={"type": "boolean"})

    def run(self, ctx: NodeContext) -> NodeResult:
        raise NodeError(ctx.config.get("message", "boom"), retryable=ctx.config.get("retryable", True))


class FlakyNode(Node):
    """Fails until attempt number `succeed_on`, then succeeds with the attempt number."""

    type_name = "test.flaky"
    category = "actions"
    config_schema = _schema(succeed_on={"type": "integer"})

    def run(self, ctx: NodeContext) -> NodeResult:
        if ctx.attempt < ctx.config.get("succeed_on", 2):
            raise NodeError(f"flaky attempt {ctx.attempt}")
        return NodeResult.single({"attempt": ctx.attempt})


class GateNode(Node):
    """Fails while the file at `path` exists (a closed gate), succeeds once it is gone."""

    type_name = "test.gate"
    category = "actions"
    config_schema = _schema(path={"type": "string"})

    def run(self, ctx: NodeContext) -> NodeResult:
        if Path(ctx.config["path"]).exists():
            raise NodeError("the gate is closed")
        return NodeResult.single({"passed": True})


class CrashNode(Node):
    """Raises an unexpected exception (a bug in a node)."""

    type_name = "test.crash"
    category = "actions"

    def run(self, ctx: NodeContext) -> NodeResult:
        raise ZeroDivisionError("division by zero")


class BigNode(Node):
    """Outputs a string of `size` characters."""

    type_name = "test.big"
    category = "actions"
    config_schema = _schema(size={"type": "integer"})

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single("x" * ctx.config.get("size", 10))


class WaitNode(Node):
    """Suspends once (`kind`, `seconds` until wake-up, `children`), then outputs what it resumed with."""

    type_name = "test.wait"
    category = "conditions"
    config_schema = _schema(
        kind={"type": "string"}, seconds={"type": "number"}, children=_ANY, concurrency={"type": "integer"}
    )

    def run(self, ctx: NodeContext) -> NodeResult | Suspend:
        if ctx.resume is not None:
            return NodeResult.single({"resume": ctx.resume, "input": ctx.input})
        seconds = ctx.config.get("seconds")
        wake_at = datetime.now(UTC) + timedelta(seconds=seconds) if seconds is not None else None
        data = {"children": ctx.config.get("children", []), "concurrency": ctx.config.get("concurrency", 1)}
        return Suspend(kind=ctx.config.get("kind", "delay"), wake_at=wake_at, data=data)


TEST_NODES = (NoopNode, EchoNode, PortsNode, SlowNode, FailNode, FlakyNode, GateNode, CrashNode, BigNode, WaitNode)
MAIN_PORT = MAIN


@contextmanager
def registered() -> Iterator[None]:
    for cls in TEST_NODES:
        registry.register(cls)
    try:
        yield
    finally:
        for cls in TEST_NODES:
            if cls.type_name in registry:
                registry.unregister(cls.type_name)
