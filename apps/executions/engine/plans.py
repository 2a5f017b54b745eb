"""Which nodes of a new execution start out settled, and how: pins, partial runs and re-runs. Pure: no ORM.

A plan maps node ids to a `Preset`: the node's row is created already `succeeded` (a pin, an output taken over
from an earlier execution), `failed` on an error port (a handled failure taken over) or `skipped` (outside the
run). The scheduler then never runs those nodes; it treats them exactly as if they had finished that way, so
dead-path elimination, joins and inputs work unchanged. Every other node starts `pending`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.workflows.graph import Graph

from . import scheduler as sched

#: Why a node is skipped from the start (the `reason` of its `node_skipped` event).
OUTSIDE_RUN = "outside_run"
NO_DATA = "no_data"
NOT_RUN_IN_SOURCE = "not_run_in_source"

MSG_UNKNOWN_NODE = "The workflow has no node '{node_id}'."
MSG_NODE_NOT_IN_VERSION = "The node '{node_id}' is not in version {number}."
MSG_NO_INPUT = (
    "The node '{node_id}' has no input: none of the nodes before it has a pin or an output from an earlier run."
)
MSG_NO_INPUT_IN_SOURCE = "The node '{node_id}' has no input: none of the nodes before it succeeded in that execution."
MSG_NOTHING_FAILED = "The execution has no failed node to re-run."


class PlanError(ValueError):
    """A plan that cannot be made; `field` is the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Preset:
    """How a node's row starts out, and what its event says about it (`note`)."""

    status: str
    ports: tuple[str, ...] = ()
    output: Any = None
    note: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    """A node of an earlier execution: its status, ports and output."""

    status: str
    ports: tuple[str, ...]
    output: Any


def ancestors(graph: Graph, node_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [edge.source for edge in graph.inbound[node_id]]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(edge.source for edge in graph.inbound[current])
    return seen


def descendants(graph: Graph, node_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [edge.target for edge in graph.outbound[node_id]]
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(edge.target for edge in graph.outbound[current])
    return seen


def pinned(graph: Graph, pins: Mapping[str, Any], first_port: Callable[[Mapping], str]) -> dict[str, Preset]:
    """The pinned nodes of the graph (pins of nodes no longer in it are ignored)."""
    return {
        node_id: Preset(sched.SUCCEEDED, (first_port(graph.nodes[node_id]),), value, {"pinned": True})
        for node_id, value in pins.items()
        if node_id in graph.nodes
    }


def _require(graph: Graph, node_id: str, field_name: str) -> None:
    if node_id not in graph.nodes:
        raise PlanError(field_name, MSG_UNKNOWN_NODE.format(node_id=node_id))


def up_to(graph: Graph, node_id: str, pins: Mapping[str, Preset]) -> dict[str, Preset]:
    """Run `node_id` and its ancestors (pinned ones stand in); every other node is skipped."""
    _require(graph, node_id, "run/node")
    selected = ancestors(graph, node_id) | {node_id}
    plan = {other: _outside() for other in graph.nodes if other not in selected}
    plan.update({pinned_id: preset for pinned_id, preset in pins.items() if pinned_id in selected})
    return plan


def single_node(
    graph: Graph, node_id: str, pins: Mapping[str, Preset], last_run: Mapping[str, tuple[str, Finished]]
) -> dict[str, Preset]:
    """Run `node_id` alone: each ancestor stands in with its pin, else its last run's output (`last_run`: node id
    -> (execution id, what it produced)), else is skipped; every other node is skipped."""
    _require(graph, node_id, "run/node")
    before = ancestors(graph, node_id)
    plan = {other: _outside() for other in graph.nodes}
    del plan[node_id]
    for ancestor in before:
        if ancestor in pins:
            plan[ancestor] = pins[ancestor]
        elif ancestor in last_run:
            execution_id, finished = last_run[ancestor]
            plan[ancestor] = _taken_over(finished, execution_id)
        else:
            plan[ancestor] = Preset(sched.SKIPPED, note={"reason": NO_DATA})
    if not _has_input(graph, node_id, plan):
        raise PlanError("run/node", MSG_NO_INPUT.format(node_id=node_id))
    return plan


def rerun_from_node(
    graph: Graph, node_id: str, source: Mapping[str, Finished], source_id: str, *, number: int
) -> dict[str, Preset]:
    """Re-run `node_id` and everything downstream; every other node takes over what it produced in the source
    execution, or is skipped when it produced nothing there."""
    if node_id not in graph.nodes:
        raise PlanError("from", MSG_NODE_NOT_IN_VERSION.format(node_id=node_id, number=number))
    rerun = descendants(graph, node_id) | {node_id}
    plan: dict[str, Preset] = {}
    for other in graph.nodes:
        if other in rerun:
            continue
        finished = source.get(other)
        if finished is not None and _produced(finished):
            plan[other] = _taken_over(finished, source_id)
        else:
            plan[other] = Preset(sched.SKIPPED, note={"reason": NOT_RUN_IN_SOURCE})
    if not _has_input(graph, node_id, plan):
        raise PlanError("from", MSG_NO_INPUT_IN_SOURCE.format(node_id=node_id))
    return plan


def rerun_failed(graph: Graph, source: Mapping[str, Finished], source_id: str) -> dict[str, Preset]:
    """Re-run the failures that stopped the source execution and what had not run: what produced an output (a
    success, a failure routed to an error port) is taken over; the scheduler skips dead branches again."""
    stopped = [
        node_id
        for node_id, finished in source.items()
        if finished.status == sched.CANCELLED or (finished.status == sched.FAILED and not finished.ports)
    ]
    if not stopped:
        raise PlanError("from", MSG_NOTHING_FAILED)
    return {
        node_id: _taken_over(finished, source_id)
        for node_id, finished in source.items()
        if node_id in graph.nodes and _produced(finished)
    }


def _produced(finished: Finished) -> bool:
    return finished.status in (sched.SUCCEEDED, sched.FAILED) and bool(finished.ports)


def _taken_over(finished: Finished, execution_id: str) -> Preset:
    return Preset(finished.status, tuple(finished.ports), finished.output, {"copied_from": str(execution_id)})


def _has_input(graph: Graph, node_id: str, plan: Mapping[str, Preset]) -> bool:
    """A node without inbound edges always runs; another needs one inbound edge whose source emitted its port."""
    inbound = graph.inbound[node_id]
    if not inbound:
        return True
    return any(edge.source in plan and edge.source_port in plan[edge.source].ports for edge in inbound)


def _outside() -> Preset:
    return Preset(sched.SKIPPED, note={"reason": OUTSIDE_RUN})
