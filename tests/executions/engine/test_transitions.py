"""The transition tables: every status change is checked, and a refused one says where it came from."""

import pytest

from apps.core.errors import InvalidTransition
from apps.executions.choices import ExecutionStatus, NodeStatus
from apps.executions.engine import transitions


def test_the_tables_use_the_model_statuses():
    assert set(transitions.EXECUTION_TRANSITIONS) <= set(ExecutionStatus.values)
    for sources in transitions.EXECUTION_TRANSITIONS.values():
        assert sources <= set(ExecutionStatus.values)
    assert set(transitions.NODE_TRANSITIONS) <= set(NodeStatus.values)
    for sources in transitions.NODE_TRANSITIONS.values():
        assert sources <= set(NodeStatus.values)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("pending", "running"),
        ("running", "paused"),
        ("paused", "running"),
        ("running", "succeeded"),
        ("paused", "failed"),
        ("pending", "cancelled"),
        ("paused", "cancelled"),
        ("failed", "running"),
    ],
)
def test_allowed_execution_changes(source, target):
    transitions.check_execution(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("paused", "paused"),
        ("succeeded", "running"),
        ("cancelled", "running"),
        ("succeeded", "cancelled"),
        ("failed", "cancelled"),
        ("pending", "paused"),
        ("running", "pending"),
    ],
)
def test_refused_execution_changes(source, target):
    with pytest.raises(InvalidTransition) as raised:
        transitions.check_execution(source, target)
    assert raised.value.message == transitions.MSG_EXECUTION_TRANSITION.format(source=source, target=target)
    assert raised.value.extra == {"status": source}


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("succeeded", "running"),
        ("skipped", "queued"),
        ("cancelled", "succeeded"),
        ("pending", "succeeded"),
        ("queued", "succeeded"),
        ("failed", "queued"),
    ],
)
def test_refused_node_changes(source, target):
    with pytest.raises(InvalidTransition) as raised:
        transitions.check_node("n1", source, target)
    assert raised.value.message == transitions.MSG_NODE_TRANSITION.format(node_id="n1", source=source, target=target)


def test_a_finished_node_only_leaves_its_state_through_retry_from_failed():
    for target, sources in transitions.NODE_TRANSITIONS.items():
        if target == "pending":
            continue
        assert "succeeded" not in sources
        assert "skipped" not in sources
