"""The scheduler's semantics, on plain data: no database, no Celery."""

import pytest

from apps.executions.choices import NodeStatus
from apps.executions.engine import scheduler as s
from apps.executions.engine.scheduler import NodeState, next_step
from apps.workflows.graph import parse_definition


def graph_of(edges, nodes=None, **node_settings):
    """A graph from (source, target[, source_port]) tuples; nodes default to every id mentioned."""
    ids = list(nodes or dict.fromkeys(x for edge in edges for x in edge[:2]))
    definition = {
        "nodes": [{"id": node_id, "type": "noop", **node_settings.get(node_id, {})} for node_id in ids],
        "edges": [{"source": e[0], "target": e[1], **({"source_port": e[2]} if len(e) > 2 else {})} for e in edges],
    }
    return parse_definition(definition)


def step(graph, **statuses):
    """Run the scheduler with `node=status` or `node=(status, ports)`; unnamed nodes are pending."""
    states = {}
    for node_id in graph.nodes:
        value = statuses.get(node_id, s.PENDING)
        status, ports = value if isinstance(value, tuple) else (value, ())
        if status == s.SUCCEEDED and not ports and not isinstance(value, tuple):
            ports = ("main",)
        states[node_id] = NodeState(status, frozenset(ports))
    return next_step(graph, graph.order(), states)


def test_status_strings_match_the_model_choices():
    """The scheduler's plain strings are the NodeStatus values."""
    names = ["PENDING", "QUEUED", "RUNNING", "RETRYING", "WAITING", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"]
    assert {getattr(s, name) for name in names} == set(NodeStatus.values)


def test_start_makes_the_trigger_ready():
    graph = graph_of([("t", "a"), ("a", "b")])
    result = step(graph)
    assert result.ready == ("t",)
    assert not result.finished


def test_sequence_runs_one_after_another():
    graph = graph_of([("t", "a"), ("a", "b")])
    assert step(graph, t=s.RUNNING).ready == ()
    assert step(graph, t=s.SUCCEEDED).ready == ("a",)
    assert step(graph, t=s.SUCCEEDED, a=s.SUCCEEDED).ready == ("b",)


def test_parallel_split_readies_every_branch():
    graph = graph_of([("t", "a"), ("t", "b"), ("t", "c")])
    assert set(step(graph, t=s.SUCCEEDED).ready) == {"a", "b", "c"}


def test_and_join_waits_for_every_inbound_branch():
    graph = graph_of([("t", "a"), ("t", "b"), ("a", "j"), ("b", "j")])
    assert step(graph, t=s.SUCCEEDED, a=s.SUCCEEDED, b=s.RUNNING).ready == ()
    assert step(graph, t=s.SUCCEEDED, a=s.SUCCEEDED, b=s.RETRYING).ready == ()
    assert step(graph, t=s.SUCCEEDED, a=s.SUCCEEDED, b=s.SUCCEEDED).ready == ("j",)


def test_and_join_does_not_wait_for_a_branch_that_cannot_run():
    """A join behind a skipped branch runs once the branches that can still run have delivered."""
    graph = graph_of([("t", "a"), ("t", "if"), ("if", "b", "true"), ("a", "j"), ("b", "j")])
    result = step(graph, t=s.SUCCEEDED, a=s.SUCCEEDED, **{"if": (s.SUCCEEDED, ("false",))})
    assert result.skipped == ("b",)
    assert result.ready == ("j",)


def test_exclusive_choice_skips_the_branch_not_taken_to_its_end():
    graph = graph_of([("t", "if"), ("if", "yes", "true"), ("if", "no", "false"), ("no", "no2"), ("no2", "no3")])
    result = step(graph, t=s.SUCCEEDED, **{"if": (s.SUCCEEDED, ("true",))})
    assert result.ready == ("yes",)
    assert set(result.skipped) == {"no", "no2", "no3"}
    assert not result.finished


def test_simple_merge_runs_once_behind_exclusive_branches():
    graph = graph_of([("t", "if"), ("if", "yes", "true"), ("if", "no", "false"), ("yes", "m"), ("no", "m")])
    after_choice = step(graph, t=s.SUCCEEDED, **{"if": (s.SUCCEEDED, ("false",))})
    assert after_choice.ready == ("no",)
    assert after_choice.skipped == ("yes",)
    merged = step(graph, t=s.SUCCEEDED, yes=s.SKIPPED, no=s.SUCCEEDED, **{"if": (s.SUCCEEDED, ("false",))})
    assert merged.ready == ("m",)


def test_error_port_edge_receives_a_routed_failure():
    graph = graph_of([("t", "a"), ("a", "ok"), ("a", "handler", "error")], a={"on_error": "route"})
    assert s.failure_ports(graph, "a") == frozenset({"error"})
    result = step(graph, t=s.SUCCEEDED, a=(s.FAILED, ("error",)))
    assert result.ready == ("handler",)
    assert result.skipped == ("ok",)


def test_success_skips_the_error_handler():
    graph = graph_of([("t", "a"), ("a", "ok"), ("a", "handler", "error")], a={"on_error": "route"})
    result = step(graph, t=s.SUCCEEDED, a=s.SUCCEEDED)
    assert result.ready == ("ok",)
    assert result.skipped == ("handler",)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, None),
        ({"on_error": "stop"}, None),
        ({"on_error": "continue"}, frozenset({"main"})),
        ({"on_error": "route"}, None),  # no edge on the error port: the failure must not vanish
    ],
)
def test_failure_ports_by_on_error(settings, expected):
    graph = graph_of([("t", "a"), ("a", "b")], a=settings)
    assert s.failure_ports(graph, "a") == expected


def test_implicit_termination_when_nothing_is_ready_or_in_flight():
    graph = graph_of([("t", "if"), ("if", "yes", "true"), ("if", "no", "false")])
    assert not step(graph, t=s.SUCCEEDED, **{"if": (s.SUCCEEDED, ("true",)), "yes": s.RUNNING}).finished
    done = step(graph, t=s.SUCCEEDED, yes=s.SUCCEEDED, no=s.SKIPPED, **{"if": (s.SUCCEEDED, ("true",))})
    assert done.finished


def test_a_waiting_node_keeps_the_execution_open():
    graph = graph_of([("t", "wait")])
    assert not step(graph, t=s.SUCCEEDED, wait=s.WAITING).finished


def test_skip_finishing_the_run_is_reported_in_the_same_step():
    graph = graph_of([("t", "if"), ("if", "no", "false")])
    result = step(graph, t=s.SUCCEEDED, **{"if": (s.SUCCEEDED, ("true",))})
    assert result.skipped == ("no",)
    assert result.finished


def test_cancelled_source_is_a_dead_edge():
    graph = graph_of([("t", "a"), ("a", "b")])
    assert step(graph, t=s.SUCCEEDED, a=s.CANCELLED).skipped == ("b",)


def test_node_inputs_single_edge_and_join():
    graph = graph_of([("t", "a"), ("t", "b"), ("a", "j"), ("b", "j"), ("t", "c")])
    finished = {"t": (["main"], {"x": 1}), "a": (["main"], 1), "b": (["main"], 2)}
    assert s.node_inputs(graph, "a", finished) == {"main": {"x": 1}}
    assert s.node_inputs(graph, "j", finished) == {"main": [1, 2]}


def test_node_inputs_take_the_value_of_the_edge_port():
    graph = graph_of([("t", "split"), ("split", "x", "left"), ("split", "y", "right")])
    ports, output = s.pack_outputs({"left": "L", "right": "R"})
    assert output == {"left": "L", "right": "R"}
    finished = {"split": (ports, output)}
    assert s.node_inputs(graph, "x", finished) == {"main": "L"}
    assert s.node_inputs(graph, "y", finished) == {"main": "R"}


def test_node_inputs_ignore_ports_not_emitted():
    graph = graph_of([("t", "if"), ("if", "yes", "true")])
    assert s.node_inputs(graph, "yes", {"if": (["false"], {"a": 1})}) == {}


def test_pack_outputs_keeps_a_single_port_bare():
    assert s.pack_outputs({"main": [1, 2]}) == (["main"], [1, 2])
    assert s.pack_outputs({}) == ([], {})


def test_leaf_output_one_end_node_or_several():
    graph = graph_of([("t", "a"), ("t", "b")])
    assert s.leaf_output(graph, {"t": (["main"], 0), "a": (["main"], 1)}) == 1
    assert s.leaf_output(graph, {"a": (["main"], 1), "b": (["main"], 2)}) == {"a": 1, "b": 2}
    assert s.leaf_output(graph, {"t": (["main"], 0)}) is None
