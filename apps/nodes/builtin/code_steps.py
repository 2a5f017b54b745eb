"""Code steps: the user's own Python (`code_python`) or JavaScript (`code_js`, n8n Code-node conventions), run
in the bubblewrap sandbox of `apps.nodes.sandbox` with the operator's limits (CONCERTMASTER_SANDBOX_*).

The code gets the node's input and the expression context (`trigger`, `nodes`, `vars`, `execution`) and
returns JSON: once for the whole input ("once") or once per item of a list input ("per_item"). What it
prints goes to the execution's log (`ctx.log`), and with a failure into the node error's `data.logs`.
"""

from __future__ import annotations

import os
import time
from abc import abstractmethod

from django.conf import settings

from apps.nodes.base import Node, NodeContext, NodeError, NodeResult
from apps.nodes.choices import Category
from apps.nodes.registry import register
from apps.nodes.sandbox import Limits, SandboxConfig, SandboxError, run

NETWORK_NOT_ALLOWED = (
    "This code step asks for network access, which the operator has not allowed (CONCERTMASTER_SANDBOX_ALLOW_NETWORK)."
)
CODE_FAILED = "The code failed: {error}"
#: Failures that another attempt cannot fix (the code's own errors and limits); the sandbox missing may be fixed.
_FINAL = {"code", "syntax", "not_json", "memory", "cpu", "output", "timeout", "cancelled"}

MODES = {
    "enum": ["once", "per_item"],
    "default": "once",
    "description": "once: one call for the whole input; per_item: one call per item of a list input.",
}


def _schema(code_description: str) -> dict:
    return {
        "type": "object",
        "properties": {
            "code": {"type": "string", "minLength": 1, "maxLength": 100_000, "description": code_description},
            "mode": MODES,
            "network": {
                "type": "boolean",
                "default": False,
                "description": "Let the code open network connections (only where the operator allows it).",
            },
        },
        "required": ["code"],
        "additionalProperties": False,
    }


def sandbox_limits() -> Limits:
    return Limits(
        memory_mb=settings.CONCERTMASTER_SANDBOX_MEMORY_MB,
        cpu_seconds=settings.CONCERTMASTER_SANDBOX_CPU_SECONDS,
        wall_seconds=settings.CONCERTMASTER_SANDBOX_WALL_SECONDS,
        output_bytes=settings.CONCERTMASTER_NODE_OUTPUT_MAX_BYTES,
        log_bytes=settings.CONCERTMASTER_SANDBOX_LOG_MAX_BYTES,
        scratch_mb=settings.CONCERTMASTER_SANDBOX_SCRATCH_MB,
        processes=settings.CONCERTMASTER_SANDBOX_MAX_THREADS,
    )


def sandbox_config(*, kind: str, network: bool) -> SandboxConfig:
    paths: tuple[str, ...] = tuple(settings.CONCERTMASTER_SANDBOX_PYTHON_PATHS)
    packages: tuple[str, ...] = ()
    if kind == "js":
        import py_mini_racer

        # Only the engine's own package folder, not the worker's site-packages.
        paths, packages = (), (os.path.dirname(py_mini_racer.__file__),)
    return SandboxConfig(
        bwrap=settings.CONCERTMASTER_SANDBOX_BWRAP,
        python=settings.CONCERTMASTER_SANDBOX_PYTHON,
        network=network,
        paths=paths,
        packages=packages,
        modules=tuple(settings.CONCERTMASTER_SANDBOX_PYTHON_MODULES) if kind == "python" else (),
        pool_size=settings.CONCERTMASTER_SANDBOX_POOL_SIZE,
    )


class CodeNode(Node):
    """Shared by both languages: build the job, run it in the sandbox, map its failures to node errors."""

    category = Category.TRANSFORMS
    icon = "code"
    # `{{` in code is the code's own (f-strings, nested literals); `nodes` / `$('name')` may name any node.
    verbatim_fields = ("code",)
    reads_every_output = True

    @classmethod
    @abstractmethod
    def language(cls) -> str:
        """The sandbox's kind of run: "python" or "js"."""

    def run(self, ctx: NodeContext) -> NodeResult:
        kind = self.language()
        network = bool(ctx.config.get("network", False))
        if network and not settings.CONCERTMASTER_SANDBOX_ALLOW_NETWORK:
            raise NodeError(NETWORK_NOT_ALLOWED, retryable=False)
        context = {key: ctx.expression_context.get(key) for key in ("trigger", "nodes", "vars", "execution")}
        job = {
            "code": ctx.config["code"],
            "mode": ctx.config.get("mode", "once"),
            "input": ctx.input,
            "context": context,
        }
        started = time.monotonic()
        try:
            outcome = run(
                kind,
                job,
                config=sandbox_config(kind=kind, network=network),
                limits=sandbox_limits(),
                deadline=ctx.deadline,
                cancelled=ctx.stopped,
            )
        except SandboxError as exc:
            self._log(ctx, exc.logs)
            raise NodeError(
                CODE_FAILED.format(error=exc.message),
                retryable=exc.kind not in _FINAL,
                data={"kind": exc.kind, "logs": exc.logs},
            ) from None
        self._log(ctx, outcome.logs)
        ctx.logger.debug("code step ran in %.1f ms", (time.monotonic() - started) * 1000)
        return NodeResult.single(outcome.result)

    @staticmethod
    def _log(ctx: NodeContext, logs: str) -> None:
        """The code's prints: to the node run's log when the engine offers one (`ctx.log`), else the worker log."""
        if not logs:
            return
        log = getattr(ctx, "log", None)
        if callable(log):
            log("info", logs, source="code")
        else:
            ctx.logger.info("code step output:\n%s", logs)


@register
class CodePython(CodeNode):
    type_name = "code_python"
    display_name = "Code (Python)"
    description = (
        "Runs your Python in a sandbox: a function body that returns JSON, or `def main(input, ...)`. Names: "
        "input, items, item, index, trigger, nodes, vars, execution. No network, files or environment."
    )
    config_schema = _schema("Python: a function body (use `return`) or a module defining `main(input, ...)`.")

    @classmethod
    def language(cls) -> str:
        return "python"


@register
class CodeJs(CodeNode):
    type_name = "code_js"
    display_name = "Code (JavaScript)"
    description = (
        "Runs your JavaScript (V8) in a sandbox with n8n's Code-node names: $input.all(), $input.first(), "
        "$json, items, $('node').all(); return [{json: ...}]. No network, files or environment."
    )
    config_schema = _schema("JavaScript: a function body that returns items ([{json: ...}]) or plain values.")

    @classmethod
    def language(cls) -> str:
        return "js"
