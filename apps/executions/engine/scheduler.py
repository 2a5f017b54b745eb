"""The scheduler: given a workflow graph and the state of its nodes, what runs next. Pure: no ORM, no I/O.

The rule is dead-path elimination. An edge is *active* when its source finished and emitted the edge's
port, *dead* when its source finished without emitting it (a branch not taken, a skipped or cancelled
source), and *open* while its source has not finished. A pending node whose inbound edges are all
settled runs when at least one of them is active and is skipped otherwise; skipping makes its own
outbound edges dead, so a branch not taken is skipped to its end in one pass. That one rule gives:

- sequence and parallel split: each successor's single edge turns active;
- AND-join: a node waits until every inbound branch has either delivered or been skipped;
- exclusive choice: an if/else emits one port, the edges of the other port are dead;
- simple merge: behind two exclusive branches, one edge is active and one dead: the node runs once;
- error routing: a failed node whose on_error is "route" emits the `error` port;
- implicit termination: the execution is over when nothing is ready or in flight.

Statuses are plain strings equal to `apps.executions.choices.NodeStatus` values (a test checks that),
so this module stays importable without Django.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.workflows.graph import ERROR_PORT, MAIN, Edge, Graph

PENDING = "pending"
QUEUED = "queued"
RUNNING = "running"
RETRYING = "retrying"
WAITING = "waiting"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"
CANCELLED = "cancelled"

IN_FLIGHT = frozenset({QUEUED, RUNNING, RETRYING, WAITING})
FINISHED = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELLED})

ACTIVE = "active"
DEAD = "dead"
OPEN = "open"

ON_ERROR_STOP = "stop"
ON_ERROR_CONTINUE = "continue"
ON_ERROR_ROUTE = "route"


@dataclass(frozen=True)
class NodeState:
    """What the scheduler needs of one node: its status and, once finished, the ports it emitted."""

    status: str
    ports: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Step:
    """The scheduler's answer: nodes to dispatch, nodes to mark skipped, and whether the run is over."""

    ready: tuple[str, ...]
    skipped: tuple[str, ...]
    finished: bool


def edge_state(edge: Edge, states: Mapping[str, NodeState]) -> str:
    source = states[edge.source]
    if source.status not in FINISHED:
        return OPEN
    return ACTIVE if edge.source_port in source.ports else DEAD


def next_step(graph: Graph, order: tuple[str, ...], states: Mapping[str, NodeState]) -> Step:
    """Which pending nodes are ready, which are skipped, and whether nothing is left to do.

    `order` is `graph.order()` (computed once per graph by the caller: it is the costly part). Skips
    cascade within the call because nodes are visited after their predecessors.
    """
    effective = dict(states)
    ready: list[str] = []
    skipped: list[str] = []
    for node_id in order:
        if effective[node_id].status != PENDING:
            continue
        inbound = graph.inbound[node_id]
        if not inbound:
            ready.append(node_id)
            continue
        settled = [edge_state(edge, effective) for edge in inbound]
        if OPEN in settled:
            continue
        if ACTIVE in settled:
            ready.append(node_id)
        else:
            skipped.append(node_id)
            effective[node_id] = NodeState(SKIPPED)
    in_flight = any(state.status in IN_FLIGHT for state in effective.values())
    return Step(ready=tuple(ready), skipped=tuple(skipped), finished=not ready and not in_flight)


def failure_ports(graph: Graph, node_id: str) -> frozenset[str] | None:
    """The ports a failed node emits by its `on_error`, or None when the failure stops the execution.

    "route" without an edge on the `error` port would swallow the failure silently: it stops instead.
    """
    policy = graph.nodes[node_id].get("on_error", ON_ERROR_STOP)
    if policy == ON_ERROR_CONTINUE:
        return frozenset({MAIN})
    if policy == ON_ERROR_ROUTE and any(edge.source_port == ERROR_PORT for edge in graph.outbound[node_id]):
        return frozenset({ERROR_PORT})
    return None


def port_value(ports: frozenset[str] | list[str], output: Any, port: str) -> Any:
    """The value a finished node sent on `port`.

    A node that emitted one port stores that port's value as its output; one that emitted several
    stores a {port: value} mapping (see `pack_outputs`).
    """
    if len(ports) == 1:
        return output
    return output.get(port) if isinstance(output, Mapping) else None


def pack_outputs(outputs: Mapping[str, Any]) -> tuple[list[str], Any]:
    """The (ports, output) a node result is stored as: one port keeps its bare value."""
    ports = list(outputs)
    if len(ports) == 1:
        return ports, outputs[ports[0]]
    return ports, dict(outputs)


def node_inputs(
    graph: Graph, node_id: str, finished: Mapping[str, tuple[frozenset[str] | list[str], Any]]
) -> dict[str, Any]:
    """The values arriving on each input port of `node_id` over its active edges.

    `finished` maps a finished node id to its (ports, output). A port fed by one active edge gets that
    value; a port fed by several (a join) gets the list of their values in definition order.
    """
    arriving: dict[str, list[Any]] = {}
    for edge in graph.inbound[node_id]:
        if edge.source not in finished:
            continue
        ports, output = finished[edge.source]
        if edge.source_port in ports:
            arriving.setdefault(edge.target_port, []).append(port_value(ports, output, edge.source_port))
    return {port: values[0] if len(values) == 1 else values for port, values in arriving.items()}


def leaf_output(graph: Graph, finished: Mapping[str, tuple[frozenset[str] | list[str], Any]]) -> Any:
    """An execution's output: what its last nodes produced.

    The output of the one succeeded node with no outbound edge, or a {node id: output} mapping when several
    end nodes ran (a parallel workflow), or None when none did.
    """
    leaves = {
        node_id: finished[node_id][1] for node_id in graph.nodes if not graph.outbound[node_id] and node_id in finished
    }
    if len(leaves) == 1:
        return next(iter(leaves.values()))
    return leaves or None
