"""Graph semantics through a real worker: parallel split, AND-join, exclusive choice, simple merge, error
routing, on_error policies and implicit termination."""

import pytest

from apps.executions.engine.runner import run_node
from apps.executions.models import ExecutionEvent, WorkflowExecution
from tests.executions.engine.helpers import (
    event_types,
    make_workflow,
    node,
    start,
    statuses,
    wait_finished,
    wait_node,
)

pytestmark = pytest.mark.django_db(transaction=True)

TRIGGER = {"id": "start", "type": "manual"}


def noop(node_id: str, **extra) -> dict:
    return {"id": node_id, "type": "test.noop", **extra}


def ports(node_id: str, *chosen: str) -> dict:
    return {"id": node_id, "type": "test.ports", "config": {"ports": list(chosen)}}


def test_parallel_split_and_join_runs_the_join_once_with_every_input(engine_worker):
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "a", "type": "test.echo", "config": {"value": "A"}},
            {"id": "b", "type": "test.slow", "config": {"seconds": 0.3}},
            {"id": "join", "type": "test.echo", "config": {"value": "joined"}},
        ],
        [("start", "a"), ("start", "b"), ("a", "join"), ("b", "join")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "succeeded"
    join = node(execution, "join")
    assert join.attempt == 1
    assert event_types(execution, "join").count("node_started") == 1
    received = join.output["inputs"]["main"]
    assert received[0]["value"] == "A"
    assert received[1] == {"slept": 0.3}
    # The join started only after both branches finished.
    join_queued = ExecutionEvent.objects.get(execution=execution, node_id="join", type="node_queued").seq
    b_done = ExecutionEvent.objects.get(execution=execution, node_id="b", type="node_succeeded").seq
    assert join_queued > b_done


def test_exclusive_choice_skips_the_branch_not_taken_to_its_end(engine_worker):
    workflow = make_workflow(
        [TRIGGER, ports("if", "a"), noop("yes"), noop("no"), noop("no_after")],
        [("start", "if"), ("if", "yes", "a"), ("if", "no", "b"), ("no", "no_after")],
    )
    execution = wait_finished(start(workflow, {"v": 1}))
    assert execution.status == "succeeded"
    assert statuses(execution) == {
        "start": "succeeded",
        "if": "succeeded",
        "yes": "succeeded",
        "no": "skipped",
        "no_after": "skipped",
    }
    assert node(execution, "if").ports == ["a"]
    assert node(execution, "yes").output == {"v": 1}


def test_simple_merge_behind_exclusive_branches_runs_once(engine_worker):
    workflow = make_workflow(
        [TRIGGER, ports("if", "b"), noop("left"), noop("right"), noop("merge")],
        [("start", "if"), ("if", "left", "a"), ("if", "right", "b"), ("left", "merge"), ("right", "merge")],
    )
    execution = wait_finished(start(workflow, {"v": 2}))
    assert statuses(execution)["merge"] == "succeeded"
    assert statuses(execution)["left"] == "skipped"
    assert event_types(execution, "merge") == ["node_queued", "node_started", "node_succeeded"]
    assert node(execution, "merge").output == {"v": 2}


def test_join_behind_a_skipped_branch_still_runs(engine_worker):
    workflow = make_workflow(
        [TRIGGER, noop("a"), ports("if", "c"), noop("b"), noop("join")],
        [("start", "a"), ("start", "if"), ("if", "b", "a"), ("a", "join"), ("b", "join")],
    )
    execution = wait_finished(start(workflow))
    assert statuses(execution)["b"] == "skipped"
    assert statuses(execution)["join"] == "succeeded"


def test_route_sends_the_failure_to_the_error_port(engine_worker):
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "call", "type": "test.fail", "config": {"message": "nope", "retryable": False}, "on_error": "route"},
            noop("next"),
            {"id": "handler", "type": "test.echo", "config": {"value": "{{ nodes.call.output.error.message }}"}},
        ],
        [("start", "call"), ("call", "next"), ("call", "handler", "error")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "succeeded"
    assert statuses(execution) == {"start": "succeeded", "call": "failed", "next": "skipped", "handler": "succeeded"}
    assert node(execution, "handler").output["value"] == "nope"
    assert node(execution, "handler").output["input"]["error"]["type"] == "node_error"


def test_continue_passes_the_error_downstream_and_the_execution_succeeds(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "call", "type": "test.crash", "on_error": "continue"}, noop("next")],
        [("start", "call"), ("call", "next")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "succeeded"
    assert statuses(execution) == {"start": "succeeded", "call": "failed", "next": "succeeded"}
    assert node(execution, "next").output["error"]["message"] == "ZeroDivisionError: division by zero"


def test_stop_fails_the_execution_and_cancels_what_did_not_run(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "call", "type": "test.fail", "config": {"retryable": False}}, noop("next")],
        [("start", "call"), ("call", "next")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "failed"
    assert execution.error["node_id"] == "call"
    assert execution.error["message"] == "boom"
    assert statuses(execution) == {"start": "succeeded", "call": "failed", "next": "cancelled"}
    assert event_types(execution)[-1] == "execution_failed"


def test_stop_lets_a_running_node_finish_before_the_execution_fails(engine_worker):
    """A second worker (here: the test thread) fails `bad` while `slow` runs on the worker: `slow` finishes,
    what it would have started is cancelled, and only then does the execution fail."""
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "slow", "type": "test.slow", "config": {"seconds": 0.6}},
            {"id": "bad", "type": "test.fail", "config": {"retryable": False}},
            noop("after_slow"),
        ],
        [("start", "slow"), ("start", "bad"), ("slow", "after_slow")],
    )
    execution = start(workflow)
    running = wait_node(execution, "slow", "running")
    bad = node(execution, "bad")
    if bad.status == "queued":
        run_node(str(execution.pk), str(bad.pk), bad.task_id)
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "running"
    execution = wait_finished(execution)
    assert execution.status == "failed"
    assert statuses(execution) == {
        "start": "succeeded",
        "slow": "succeeded",
        "bad": "failed",
        "after_slow": "cancelled",
    }
    events = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("type", "node_id"))
    assert events.index(("node_failed", "bad")) < events.index(("node_succeeded", "slow"))
    assert events[-1] == ("execution_failed", "")
    assert running.attempt == 1


def test_route_without_an_error_edge_stops(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "call", "type": "test.fail", "config": {"retryable": False}, "on_error": "route"}],
        [("start", "call")],
    )
    assert wait_finished(start(workflow)).status == "failed"


def test_expressions_see_trigger_vars_nodes_and_execution(engine_worker):
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "first", "type": "test.echo", "config": {"value": "{{ trigger.n * 2 }}"}},
            {
                "id": "second",
                "type": "test.echo",
                "config": {
                    "value": {
                        "sum": "{{ nodes.first.output.value + vars.bonus }}",
                        "text": "run {{ execution.id }}",
                    }
                },
            },
        ],
        [("start", "first"), ("first", "second")],
        variables={"bonus": 5},
    )
    execution = wait_finished(start(workflow, {"n": 21}))
    assert node(execution, "second").output["value"] == {"sum": 47, "text": f"run {execution.pk}"}


def test_a_bad_expression_fails_the_node_without_retrying(engine_worker):
    workflow = make_workflow(
        [
            TRIGGER,
            {
                "id": "e",
                "type": "test.echo",
                "config": {"value": "{{ nodes.start.output.missing.deeper }}"},
                "retry": {"max_attempts": 3},
            },
        ],
        [("start", "e")],
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "failed"
    error = node(execution, "e").error
    assert error["type"] == "expression"
    assert error["data"]["pointer"] == "/config/value"
    assert node(execution, "e").attempt == 1


def test_each_run_records_its_input_by_port_and_its_rendered_config(engine_worker):
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "greet", "type": "test.echo", "config": {"value": "Hello {{ trigger.name }}"}},
            {"id": "fail", "type": "test.fail", "config": {"message": "no {{ nodes.greet.output.value }}"}},
        ],
        [("start", "greet"), ("greet", "fail")],
    )
    execution = wait_finished(start(workflow, {"name": "Ada"}))
    assert execution.status == "failed"
    start_node, greet, fail = node(execution, "start"), node(execution, "greet"), node(execution, "fail")
    assert start_node.input == {"main": {"name": "Ada"}}
    assert greet.input == {"main": {"name": "Ada"}}
    assert greet.rendered_config == {"value": "Hello Ada"}
    assert fail.input == {"main": greet.output}
    assert fail.rendered_config == {"message": "no Hello Ada"}
    assert fail.error["message"] == "no Hello Ada"


def test_an_input_over_the_size_limit_is_recorded_as_a_note(engine_worker, settings):
    settings.CONCERTMASTER_NODE_OUTPUT_MAX_BYTES = 200
    # The join receives both branches' outputs (about 2 x 130 bytes); each output alone is under the limit.
    join = {"id": "join", "type": "test.slow", "config": {"seconds": 0.01}}
    workflow = make_workflow(
        [TRIGGER, noop("a"), noop("b"), join], [("start", "a"), ("start", "b"), ("a", "join"), ("b", "join")]
    )
    execution = wait_finished(start(workflow, {"text": "x" * 110}))
    assert execution.status == "succeeded"
    assert node(execution, "a").input == {"main": {"text": "x" * 110}}
    assert "over CONCERTMASTER_NODE_OUTPUT_MAX_BYTES (200)" in node(execution, "join").input["omitted"]
