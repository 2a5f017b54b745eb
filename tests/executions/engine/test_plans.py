"""Plans without a database: which nodes start out settled in test runs, partial runs and re-runs."""

import pytest

from apps.executions.engine import plans
from apps.executions.engine.plans import Finished, PlanError, Preset
from apps.workflows.graph import parse_definition

#  start -> a -> b -> c
#            \-> d
GRAPH = parse_definition(
    {
        "nodes": [{"id": node_id, "type": "t"} for node_id in ("start", "a", "b", "c", "d")],
        "edges": [
            {"source": "start", "target": "a"},
            {"source": "a", "target": "b"},
            {"source": "b", "target": "c"},
            {"source": "a", "target": "d", "source_port": "other"},
        ],
    }
)
OK = Finished("succeeded", ("main",), {"ok": True})


def test_ancestors_and_descendants():
    assert plans.ancestors(GRAPH, "c") == {"start", "a", "b"}
    assert plans.descendants(GRAPH, "a") == {"b", "c", "d"}


def test_pins_of_nodes_not_in_the_graph_are_ignored_and_go_out_on_the_first_port():
    pins = plans.pinned(GRAPH, {"a": [1], "gone": 2}, lambda node: "first")
    assert pins == {"a": Preset("succeeded", ("first",), [1], {"pinned": True})}


def test_up_to_skips_everything_outside_the_ancestors_and_keeps_pins_inside():
    pin = Preset("succeeded", ("main",), 1, {"pinned": True})
    plan = plans.up_to(GRAPH, "b", {"a": pin, "d": pin})
    assert plan["a"] == pin
    assert {node_id for node_id, preset in plan.items() if preset.status == "skipped"} == {"c", "d"}
    assert "start" not in plan and "b" not in plan


def test_a_single_node_takes_pins_over_last_run_outputs():
    pin = Preset("succeeded", ("main",), 1, {"pinned": True})
    plan = plans.single_node(GRAPH, "b", {"a": pin}, {"a": ("e1", OK), "start": ("e1", OK)})
    assert plan["a"] == pin
    assert plan["start"].note == {"copied_from": "e1"}
    assert "b" not in plan and plan["c"].status == "skipped"


def test_a_single_node_whose_input_port_was_not_emitted_has_no_input():
    other_port = Finished("succeeded", ("other",), 1)
    with pytest.raises(PlanError) as error:
        plans.single_node(GRAPH, "b", {}, {"a": ("e1", other_port)})
    assert error.value.field == "run/node"


def test_rerun_from_a_node_takes_over_upstream_and_skips_what_did_not_run():
    source = {"start": OK, "a": OK, "b": Finished("failed", (), None)}
    plan = plans.rerun_from_node(GRAPH, "b", source, "e1", number=1)
    assert set(plan) == {"start", "a", "d"}
    assert plan["d"].note == {"reason": plans.NOT_RUN_IN_SOURCE}


def test_rerun_failed_takes_over_successes_and_routed_failures_only():
    routed = Finished("failed", ("error",), {"message": "x"})
    source = {"start": OK, "a": routed, "b": Finished("failed", (), None), "c": Finished("pending", (), None)}
    plan = plans.rerun_failed(GRAPH, source, "e1")
    assert set(plan) == {"start", "a"} and plan["a"].status == "failed"
    with pytest.raises(PlanError, match="no failed node"):
        plans.rerun_failed(GRAPH, {"start": OK}, "e1")
