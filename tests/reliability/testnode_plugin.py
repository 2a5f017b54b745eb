"""Loaded into a worker subprocess with `celery -A concertmaster worker --include tests.reliability.testnode_plugin`:
registers the test node types and routes the engine's tasks to the queue the test names, so that only the
test's own workers take them."""

import os
import signal

from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.registry import registry
from concertmaster.celery import app
from tests.executions.engine.testnodes import TEST_NODES

QUEUE_ENV = "CONCERTMASTER_TEST_QUEUE"


class PoisonNode(Node):
    """Kills the worker process running it, every time (SIGKILL, as the kernel's OOM killer would); with
    `marker`, first appends one line per run to that file. The fault suite's poison node: the engine must fail
    it after a bounded number of lost runs instead of re-queuing it forever."""

    type_name = "test.poison"
    category = "actions"
    config_schema = {"type": "object", "properties": {"marker": {"type": "string"}}, "additionalProperties": False}

    def run(self, ctx: NodeContext) -> NodeResult:
        marker = ctx.config.get("marker")
        if marker:
            with open(marker, "a") as runs:
                runs.write(f"{ctx.execution_id} {ctx.attempt} {os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable: the process is gone")


for node_class in (*TEST_NODES, PoisonNode):
    registry.register(node_class)

if os.environ.get(QUEUE_ENV):
    app.conf.task_routes = {"concertmaster.engine.*": {"queue": os.environ[QUEUE_ENV]}}
