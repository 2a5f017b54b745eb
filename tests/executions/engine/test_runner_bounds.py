"""A node's timeout covers the rendering of its config, and its expressions (config and per-item) share one
operation budget per run, through a real worker."""

import pytest

from apps.executions.engine.runner import ERROR_EXPRESSION, ERROR_TIMEOUT, MSG_TIMEOUT
from apps.nodes.expressions import TOO_EXPENSIVE
from tests.executions.engine.helpers import event_types, make_workflow, node, start, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

TRIGGER = {"id": "start", "type": "manual"}
NESTED_LOOPS = "{% for a in trigger.text %}{% for b in trigger.text %}{% endfor %}{% endfor %}done"
ITEMS = "{{ trigger.numbers }}"
RETRY = {"max_attempts": 3, "backoff_seconds": 0.05, "max_delay_seconds": 0.1}


def test_a_slow_render_is_a_timeout_of_the_node_not_a_lost_worker(engine_worker, settings):
    settings.CONCERTMASTER_EXPRESSION_MAX_OPERATIONS = 10**9  # only the node's timeout stops it
    workflow = make_workflow(
        [TRIGGER, {"id": "slow", "type": "set", "config": {"values": {"x": NESTED_LOOPS}}, "timeout_seconds": 0.5}],
        [("start", "slow")],
    )
    execution = wait_finished(start(workflow, {"text": "x" * 3_000}))
    assert execution.status == "failed"
    slow = node(execution, "slow")
    assert slow.error["type"] == ERROR_TIMEOUT
    assert slow.error["message"] == MSG_TIMEOUT.format(seconds=0.5)
    assert slow.attempt == 1


def test_an_expensive_render_fails_the_node_at_once_with_a_clear_error(engine_worker, settings):
    settings.CONCERTMASTER_EXPRESSION_MAX_OPERATIONS = 10_000
    config = {"values": {"x": "{% for i in range(9000) %}{{ i }}{% endfor %}{% for i in range(9000) %}{% endfor %}"}}
    workflow = make_workflow(
        [TRIGGER, {"id": "costly", "type": "set", "config": config, "retry": RETRY}], [("start", "costly")]
    )
    execution = wait_finished(start(workflow))
    assert execution.status == "failed"
    costly = node(execution, "costly")
    assert costly.error["type"] == ERROR_EXPRESSION
    assert TOO_EXPENSIVE.format(limit=10_000) in costly.error["message"]
    assert costly.attempt == 1  # not retried: the same config costs the same again
    assert "node_retrying" not in event_types(execution, "costly")


def test_a_map_nodes_per_item_expressions_share_the_runs_budget(engine_worker, settings):
    settings.CONCERTMASTER_EXPRESSION_MAX_OPERATIONS = 1_000
    workflow = make_workflow(
        [TRIGGER, {"id": "double", "type": "map", "config": {"expression": "item * 2", "items": ITEMS}}],
        [("start", "double")],
    )
    small = wait_finished(start(workflow, {"numbers": list(range(100))}))
    assert small.status == "succeeded"
    assert node(small, "double").output == [n * 2 for n in range(100)]
    large = wait_finished(start(workflow, {"numbers": list(range(2_000))}))
    assert large.status == "failed"
    assert "too expensive" in node(large, "double").error["message"]
