"""The core path through a real Celery worker: start, every node runs once, the execution succeeds."""

import json

import pytest

from apps.executions.models import ExecutionEvent
from tests.executions.engine.helpers import (
    event_types,
    make_workflow,
    node,
    start,
    statuses,
    wait_finished,
    workflow_from,
)

pytestmark = pytest.mark.django_db(transaction=True)

TRIGGER = {"id": "start", "type": "manual"}


def test_sequence_runs_every_node_once_and_succeeds(engine_worker):
    workflow = make_workflow(
        [TRIGGER, {"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.noop"}],
        [("start", "a"), ("a", "b")],
    )
    execution = wait_finished(start(workflow, {"x": 1}))
    assert execution.status == "succeeded"
    assert statuses(execution) == {"start": "succeeded", "a": "succeeded", "b": "succeeded"}
    assert execution.output == {"x": 1}
    assert [node(execution, n).attempt for n in ("start", "a", "b")] == [1, 1, 1]


def test_every_transition_is_an_event_in_sequence(engine_worker):
    workflow = make_workflow([TRIGGER, {"id": "a", "type": "test.noop"}], [("start", "a")])
    execution = wait_finished(start(workflow))
    events = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert execution.last_seq == len(events)
    assert [(e.type, e.node_id) for e in events] == [
        ("execution_started", ""),
        ("node_queued", "start"),
        ("node_started", "start"),
        ("node_succeeded", "start"),
        ("node_queued", "a"),
        ("node_started", "a"),
        ("node_succeeded", "a"),
        ("execution_succeeded", ""),
    ]
    for event in events:
        json.dumps(event.data)


def test_demo_workflow_takes_the_big_branch(engine_worker):
    from apps.workflows.demo import DEMO_DEFINITION

    workflow = workflow_from(DEMO_DEFINITION)
    execution = wait_finished(start(workflow, {"name": "Ada", "amount": 250}))
    assert execution.status == "succeeded", execution.error
    assert statuses(execution) == {
        "start": "succeeded",
        "greet": "succeeded",
        "check": "succeeded",
        "big": "succeeded",
        "small": "skipped",
    }
    assert node(execution, "greet").output["greeting"] == "Hello Ada"
    assert event_types(execution, "small") == ["node_skipped"]
