"""Code steps through the engine and a real worker: results flow to the next node, failures and timeouts fail
the node with a clear error, and a cancelled or timed-out run leaves no sandbox process behind."""

from __future__ import annotations

import pytest

from apps.executions.models import ExecutionLog
from apps.executions.services import execution_cancel
from apps.nodes.sandbox import pool
from tests.executions.engine.helpers import chain, make_workflow, node, start, wait_finished, wait_for, wait_node
from tests.nodes.sandbox_helpers import needs_bwrap, sandboxes_left

pytestmark = [pytest.mark.django_db(transaction=True), needs_bwrap, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _no_sandbox_left():
    yield
    pool.close()
    wait_for(lambda: not sandboxes_left(), timeout=10, message="no sandbox process left")


def test_python_per_item_then_javascript_once_through_the_worker(engine_worker):
    workflow = make_workflow(
        *chain(
            {
                "id": "py",
                "type": "code_python",
                "config": {
                    "mode": "per_item",
                    "code": "print('row', index)\nreturn {'name': item['name'].title(), 'limit': vars['limit']}",
                },
            },
            {
                "id": "js",
                "type": "code_js",
                "config": {"code": "return $input.all().map(i => ({json: {...i.json, n: $input.all().length}}))"},
            },
        ),
        variables={"limit": 5},
    )

    execution = wait_finished(start(workflow, [{"name": "ann lee"}, {"name": "bo"}]), timeout=60)

    assert execution.status == "succeeded", execution.error
    assert node(execution, "py").output == [{"name": "Ann Lee", "limit": 5}, {"name": "Bo", "limit": 5}]
    printed = ExecutionLog.objects.get(execution=execution, node_id="py", metadata__source="code")
    assert (printed.level, printed.message) == ("info", "row 0\nrow 1\n")
    assert node(execution, "js").output == [
        {"name": "Ann Lee", "limit": 5, "n": 2},
        {"name": "Bo", "limit": 5, "n": 2},
    ]


def test_the_code_s_error_fails_the_node_with_its_message_and_logs(engine_worker):
    workflow = make_workflow(
        *chain({"id": "py", "type": "code_python", "config": {"code": "print('checking')\nraise ValueError('bad')"}})
    )

    execution = wait_finished(start(workflow), timeout=60)

    assert execution.status == "failed"
    error = node(execution, "py").error
    assert error["message"].startswith("The code failed: ValueError: bad")
    assert error["data"]["kind"] == "code"
    assert error["data"]["logs"] == "checking\n"
    assert ExecutionLog.objects.filter(execution=execution, node_id="py", message="checking\n").exists()


def test_network_asked_for_without_the_operator_s_consent_fails(engine_worker, settings):
    settings.CONCERTMASTER_SANDBOX_ALLOW_NETWORK = False
    workflow = make_workflow(
        *chain({"id": "py", "type": "code_python", "config": {"code": "return 1", "network": True}})
    )

    execution = wait_finished(start(workflow), timeout=60)

    assert "has not allowed" in node(execution, "py").error["message"]


def test_the_node_timeout_stops_the_sandbox(engine_worker, settings):
    settings.CONCERTMASTER_SANDBOX_POOL_SIZE = 0  # no warm sandbox waiting: any sandbox left would be the run's
    workflow = make_workflow(
        *chain({"id": "js", "type": "code_js", "config": {"code": "while (true) {}"}, "timeout_seconds": 1})
    )

    execution = wait_finished(start(workflow), timeout=60)

    assert execution.status == "failed"
    assert node(execution, "js").error["type"] == "timeout"
    wait_for(lambda: not sandboxes_left(), timeout=10, message="the sandbox to be stopped")


def test_cancelling_the_execution_stops_the_sandbox(engine_worker, settings):
    settings.CONCERTMASTER_ENGINE_LEASE_SECONDS = 3  # the task notices the cancel at its next lease renewal
    settings.CONCERTMASTER_SANDBOX_WALL_SECONDS = 120
    settings.CONCERTMASTER_SANDBOX_CPU_SECONDS = 120
    settings.CONCERTMASTER_SANDBOX_POOL_SIZE = 0
    workflow = make_workflow(*chain({"id": "py", "type": "code_python", "config": {"code": "while True:\n    pass"}}))
    execution = start(workflow)
    wait_node(execution, "py", "running", timeout=60)
    wait_for(sandboxes_left, timeout=30, message="the sandbox to start")

    execution_cancel(execution=execution)

    wait_for(lambda: not sandboxes_left(), timeout=30, message="the sandbox to be stopped")
    assert node(execution, "py").status == "cancelled"


def test_code_is_passed_as_written_and_reads_any_finished_node(engine_worker):
    """`{{` in code is the code's own (never rendered), and `$('name')` reaches a node that is not a source."""
    workflow = make_workflow(
        *chain(
            {"id": "first", "type": "code_python", "config": {"code": "return {'base': 40}"}},
            {
                "id": "py",
                "type": "code_python",
                "config": {"code": "return f\"{{literal}} {nodes['first']['output']}\""},
            },
            {
                "id": "js",
                "type": "code_js",
                "config": {"code": "return [{json: {n: $('first').first().json.base + 2}}]"},
            },
        )
    )

    execution = wait_finished(start(workflow), timeout=60)

    assert execution.status == "succeeded", execution.error
    assert node(execution, "py").output == "{literal} {'base': 40}"
    assert node(execution, "js").output == [{"n": 42}]
