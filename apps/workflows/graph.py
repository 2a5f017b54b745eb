"""Parse and validate a workflow definition: pure Python, no ORM, plain data in and out.

A definition is the JSON the editor saves (see docs and DESIGN.md)::

    {"nodes": [{"id", "type", "config", ...}], "edges": [{"source", "target", "source_port"?, "target_port"?}]}

Two entry points:

- `validate_definition(definition, *, node_types, expression_errors=None) -> list[Problem]` returns every
  problem at once, each addressed by a JSON pointer into the definition (`/nodes/3/config/url`). The
  caller describes the node types it knows as `NodeSpec`s, so this module needs no registry and no
  database. An empty list means the definition is valid.
- `parse_definition(definition, *, trigger_types=None) -> Graph` turns a valid definition into a `Graph`
  for the engine. It checks nothing beyond what it needs to build the maps (validate first).

`Graph` (frozen) is the small API the scheduler uses:

- `nodes`: node id -> the node's dict from the definition, in definition order;
- `edges`: every `Edge(source, target, source_port, target_port)`, ports defaulted to "main";
- `inbound` / `outbound`: node id -> the edges ending / starting there (every node has an entry);
- `trigger_ids`: the nodes an execution starts from;
- `order()`: node ids in a topological order (sources first).

Every node also has an output port named "error": failures go there when the node's `on_error` is
"route".
"""

from __future__ import annotations

import graphlib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeGuard

MAIN = "main"
ERROR_PORT = "error"
TRIGGER_CATEGORY = "triggers"
ON_ERROR_CHOICES = ("stop", "continue", "route")

# Problem codes: stable identifiers clients and tests match on.
NOT_OBJECT = "not_object"
NOT_LIST = "not_list"
INVALID_NODE_ID = "invalid_node_id"
INVALID_NODE_TYPE = "invalid_node_type"
UNKNOWN_NODE_TYPE = "unknown_node_type"
DISABLED_NODE_TYPE = "disabled_node_type"
DUPLICATE_NODE_ID = "duplicate_node_id"
INVALID_CONFIG = "invalid_config"
INVALID_NODE_SETTING = "invalid_node_setting"
BAD_EXPRESSION = "bad_expression"
INVALID_EDGE = "invalid_edge"
EDGE_MISSING_NODE = "edge_missing_node"
EDGE_MISSING_PORT = "edge_missing_port"
DUPLICATE_EDGE = "duplicate_edge"
CYCLE = "cycle"
NO_TRIGGER = "no_trigger"
UNREACHABLE_NODE = "unreachable_node"
UNKNOWN_NODE_REFERENCE = "unknown_node_reference"
NODE_NOT_UPSTREAM = "node_not_upstream"
#: Problems that leave no readable definition (refused on save); every other one is a draft's problem.
UNREADABLE = frozenset({NOT_OBJECT, NOT_LIST, INVALID_NODE_ID, INVALID_NODE_TYPE, INVALID_EDGE})

# Messages: tests assert on these.
MSG_DEFINITION_NOT_OBJECT = "The definition must be a JSON object."
MSG_NOT_LIST = "'{key}' must be a list."
MSG_ITEM_NOT_OBJECT = "Each {kind} must be a JSON object."
MSG_INVALID_NODE_ID = "A node needs an 'id': a non-empty string."
MSG_INVALID_NODE_TYPE = "A node needs a 'type': a non-empty string."
MSG_UNKNOWN_NODE_TYPE = "Unknown node type '{type}'."
MSG_DISABLED_NODE_TYPE = "The node type '{type}' is disabled."
MSG_DUPLICATE_NODE_ID = "The node id '{id}' is used more than once."
MSG_CONFIG_NOT_OBJECT = "'config' must be a JSON object."
MSG_ON_ERROR = "'on_error' must be one of: stop, continue, route."
MSG_TIMEOUT = "'timeout_seconds' must be a positive number."
MSG_RETRY = "'retry' must be an object whose 'max_attempts' is an integer of at least 1."
MSG_EDGE_ENDPOINT = "'{key}' must be a node id (a non-empty string)."
MSG_EDGE_PORT = "'{key}' must be a port name (a non-empty string)."
MSG_EDGE_MISSING_NODE = "No node has the id '{id}'."
MSG_EDGE_MISSING_OUTPUT = "The node '{id}' ({type}) has no output port '{port}'; its ports: {ports}."
MSG_EDGE_MISSING_INPUT = "The node '{id}' ({type}) has no input port '{port}'; its ports: {ports}."
MSG_DUPLICATE_EDGE = "This edge repeats an earlier one."
MSG_CYCLE = "These nodes form a cycle: {path}."
MSG_NO_TRIGGER = "The workflow needs a trigger node."
MSG_UNREACHABLE = "The node '{id}' cannot be reached from any trigger."
MSG_VARIABLES_NOT_OBJECT = "'variables' must be a JSON object."
MSG_UNKNOWN_REFERENCE = "The expression reads node '{id}', which does not exist."
MSG_NOT_UPSTREAM = (
    "The expression reads node '{id}', which does not run before '{node}' (no path of edges leads from it here)."
)
MSG_PARSE_MALFORMED = "Malformed workflow definition: {error!r}"
MSG_PARSE_MISSING_NODE = "The edge {source!r} -> {target!r} names a missing node."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition: where (a JSON pointer), what (for people), and a stable code."""

    path: str
    message: str
    code: str


ConfigErrors = Callable[[dict], list[tuple[str, str]]]
ExpressionErrors = Callable[[Any, str], list[tuple[str, str]]]
#: (value, pointer) -> (pointer, node ids read there, or None when any node may be read) per expression.
NodeReferences = Callable[[Any, str], list[tuple[str, frozenset[str] | None]]]


def unreadable(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that leave no definition to store: not an object, `nodes` not a list, a node without id."""
    return [p for p in problems if p.code in UNREADABLE]


def _no_config_errors(config: dict) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class NodeSpec:
    """What validation needs to know about one node type.

    `output_ports(config)` overrides `outputs` when a type's ports depend on its configuration (a switch has
    one per case). `config_errors(config)` returns (pointer relative to the config, message) pairs.
    """

    type_name: str
    category: str
    inputs: tuple[str, ...] = (MAIN,)
    outputs: tuple[str, ...] = (MAIN,)
    output_ports: Callable[[dict], Iterable[str]] | None = None
    enabled: bool = True
    config_errors: ConfigErrors = field(default=_no_config_errors)
    #: Config keys that are not expressions (a code step's code): left out of the expression checks.
    verbatim: tuple[str, ...] = ()

    @property
    def is_trigger(self) -> bool:
        return self.category == TRIGGER_CATEGORY

    def ports_out(self, config: dict) -> frozenset[str]:
        ports = self.output_ports(config) if self.output_ports is not None else self.outputs
        return frozenset(ports) | {ERROR_PORT}


@dataclass(frozen=True)
class Edge:
    """A connection from one node's output port to another node's input port."""

    source: str
    target: str
    source_port: str = MAIN
    target_port: str = MAIN


@dataclass(frozen=True)
class Graph:
    """A parsed definition. Read the module docstring for what each field holds."""

    nodes: Mapping[str, Mapping[str, Any]]
    edges: tuple[Edge, ...]
    inbound: Mapping[str, tuple[Edge, ...]]
    outbound: Mapping[str, tuple[Edge, ...]]
    trigger_ids: tuple[str, ...]

    def order(self) -> tuple[str, ...]:
        """Node ids, each after all of its predecessors. Raises graphlib.CycleError on a cycle."""
        sorter = graphlib.TopologicalSorter(
            {node_id: {e.source for e in self.inbound[node_id]} for node_id in self.nodes}
        )
        return tuple(sorter.static_order())


def edge_from_dict(raw: Mapping[str, Any]) -> Edge:
    return Edge(
        source=raw["source"],
        target=raw["target"],
        source_port=raw.get("source_port") or MAIN,
        target_port=raw.get("target_port") or MAIN,
    )


def parse_definition(definition: Mapping[str, Any], *, trigger_types: Collection[str] | None = None) -> Graph:
    """Build a `Graph` from a valid definition.

    `trigger_types` names the node types that start an execution; without it, the triggers are the nodes
    with no inbound edge (the same thing in a valid definition, where every other node is reachable from a
    trigger). Raises ValueError on a definition too broken to parse (run `validate_definition` first).
    """
    try:
        nodes = {node["id"]: MappingProxyType(node) for node in definition["nodes"]}
        edges = tuple(edge_from_dict(raw) for raw in definition.get("edges", ()))
    except (KeyError, TypeError) as exc:
        raise ValueError(MSG_PARSE_MALFORMED.format(error=exc)) from exc
    inbound: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
    outbound: dict[str, list[Edge]] = {node_id: [] for node_id in nodes}
    for edge in edges:
        if edge.source not in nodes or edge.target not in nodes:
            raise ValueError(MSG_PARSE_MISSING_NODE.format(source=edge.source, target=edge.target))
        outbound[edge.source].append(edge)
        inbound[edge.target].append(edge)
    if trigger_types is None:
        triggers = tuple(node_id for node_id in nodes if not inbound[node_id])
    else:
        triggers = tuple(node_id for node_id, node in nodes.items() if node.get("type") in trigger_types)
    return Graph(
        nodes=MappingProxyType(nodes),
        edges=edges,
        inbound=MappingProxyType({k: tuple(v) for k, v in inbound.items()}),
        outbound=MappingProxyType({k: tuple(v) for k, v in outbound.items()}),
        trigger_ids=triggers,
    )


def _is_name(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


class _Validation:
    """One run of `validate_definition`: collects problems while walking nodes, edges, then the graph."""

    def __init__(
        self,
        node_types: Mapping[str, NodeSpec],
        expression_errors: ExpressionErrors | None,
        node_references: NodeReferences | None = None,
    ) -> None:
        self.node_types = node_types
        self.expression_errors = expression_errors
        self.node_references = node_references
        self.references: list[tuple[str, str, frozenset[str]]] = []  # (node id, pointer, ids it reads)
        self.problems: list[Problem] = []
        self.node_index: dict[str, int] = {}  # id -> index of its first occurrence
        self.specs: dict[str, NodeSpec] = {}  # id -> spec, for nodes of a known type
        self.out_ports: dict[str, frozenset[str] | None] = {}  # None: unknown (type unknown or config broken)
        self.triggers: list[str] = []
        self.untyped: list[str] = []  # ids of nodes whose type is unknown: they might be triggers
        self.edge_index: dict[tuple[str, str], int] = {}  # (source, target) -> index of the first such edge

    def add(self, path: str, message: str, code: str) -> None:
        self.problems.append(Problem(path=path, message=message, code=code))

    def run(self, definition: Any) -> list[Problem]:
        if not isinstance(definition, Mapping):
            self.add("", MSG_DEFINITION_NOT_OBJECT, NOT_OBJECT)
            return self.problems
        nodes, edges = definition.get("nodes"), definition.get("edges")
        for key, value in (("nodes", nodes), ("edges", edges)):
            if not isinstance(value, list):
                self.add(f"/{key}", MSG_NOT_LIST.format(key=key), NOT_LIST)
        if "variables" in definition and not isinstance(definition["variables"], Mapping):
            self.add("/variables", MSG_VARIABLES_NOT_OBJECT, NOT_OBJECT)
        for index, node in enumerate(nodes if isinstance(nodes, list) else ()):
            self.check_node(index, node)
        seen_edges: set[Edge] = set()
        for index, edge in enumerate(edges if isinstance(edges, list) else ()):
            parsed = self.check_edge(index, edge)
            if parsed is None:
                continue
            if parsed in seen_edges:
                self.add(f"/edges/{index}", MSG_DUPLICATE_EDGE, DUPLICATE_EDGE)
                continue
            seen_edges.add(parsed)
            self.edge_index.setdefault((parsed.source, parsed.target), index)
        if isinstance(nodes, list):
            self.check_cycles()
            self.check_reachability()
            self.check_references()
        return self.problems

    def check_node(self, index: int, node: Any) -> None:
        path = f"/nodes/{index}"
        if not isinstance(node, Mapping):
            self.add(path, MSG_ITEM_NOT_OBJECT.format(kind="node"), NOT_OBJECT)
            return
        node_id, type_name = node.get("id"), node.get("type")
        if not _is_name(node_id):
            self.add(f"{path}/id", MSG_INVALID_NODE_ID, INVALID_NODE_ID)
            node_id = None
        elif node_id in self.node_index:
            self.add(f"{path}/id", MSG_DUPLICATE_NODE_ID.format(id=node_id), DUPLICATE_NODE_ID)
            node_id = None  # the first occurrence is the one edges and reachability refer to
        else:
            self.node_index[node_id] = index
            self.out_ports[node_id] = None
        config = node.get("config", {})
        config_ok = isinstance(config, Mapping)
        if not config_ok:
            self.add(f"{path}/config", MSG_CONFIG_NOT_OBJECT, NOT_OBJECT)
        self.check_settings(path, node)
        spec = self.check_type(path, type_name)
        config_problem_count = len(self.problems)
        if spec is not None and config_ok:
            for pointer, message in spec.config_errors(config):
                self.add(f"{path}/config{pointer}", message, INVALID_CONFIG)
        config_valid = config_ok and len(self.problems) == config_problem_count
        expressions = config
        if config_ok and spec is not None and spec.verbatim:
            expressions = {key: value for key, value in config.items() if key not in spec.verbatim}
        if config_ok and self.expression_errors is not None:
            for pointer, message in self.expression_errors(expressions, f"{path}/config"):
                self.add(pointer, message, BAD_EXPRESSION)
        if config_ok and node_id is not None and self.node_references is not None:
            for pointer, ids in self.node_references(expressions, f"{path}/config"):
                if ids is not None:  # an expression that may read any node is checked at run time
                    self.references.append((node_id, pointer, ids))
        if node_id is not None and spec is None:
            self.untyped.append(node_id)
        if node_id is None or spec is None:
            return
        self.specs[node_id] = spec
        if spec.is_trigger:
            self.triggers.append(node_id)
        self.out_ports[node_id] = self.output_ports(spec, config if config_ok else {}, config_valid)

    @staticmethod
    def output_ports(spec: NodeSpec, config: Mapping, config_valid: bool) -> frozenset[str] | None:
        try:
            return spec.ports_out(dict(config))
        except Exception:
            # A type may not be able to name its ports for a config its schema rejects (a switch whose
            # "cases" is not a list): the config problem is reported already, so skip the port checks.
            if config_valid:
                raise
            return None

    def check_type(self, path: str, type_name: Any) -> NodeSpec | None:
        if not _is_name(type_name):
            self.add(f"{path}/type", MSG_INVALID_NODE_TYPE, INVALID_NODE_TYPE)
            return None
        spec = self.node_types.get(type_name)
        if spec is None:
            self.add(f"{path}/type", MSG_UNKNOWN_NODE_TYPE.format(type=type_name), UNKNOWN_NODE_TYPE)
        elif not spec.enabled:
            self.add(f"{path}/type", MSG_DISABLED_NODE_TYPE.format(type=type_name), DISABLED_NODE_TYPE)
        return spec

    def check_settings(self, path: str, node: Mapping) -> None:
        """The engine's per-node settings: on_error, timeout_seconds, retry (each optional)."""
        if "on_error" in node and node["on_error"] not in ON_ERROR_CHOICES:
            self.add(f"{path}/on_error", MSG_ON_ERROR, INVALID_NODE_SETTING)
        if "timeout_seconds" in node:
            timeout = node["timeout_seconds"]
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
                self.add(f"{path}/timeout_seconds", MSG_TIMEOUT, INVALID_NODE_SETTING)
        if "retry" in node:
            retry = node["retry"]
            attempts = retry.get("max_attempts", 1) if isinstance(retry, Mapping) else None
            if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
                self.add(f"{path}/retry", MSG_RETRY, INVALID_NODE_SETTING)

    def check_edge(self, index: int, raw: Any) -> Edge | None:
        """Report what is wrong with one edge; return it when both ends name existing nodes."""
        path = f"/edges/{index}"
        if not isinstance(raw, Mapping):
            self.add(path, MSG_ITEM_NOT_OBJECT.format(kind="edge"), NOT_OBJECT)
            return None
        ends_ok = True
        for key in ("source", "target"):
            value = raw.get(key)
            if not _is_name(value):
                self.add(f"{path}/{key}", MSG_EDGE_ENDPOINT.format(key=key), INVALID_EDGE)
                ends_ok = False
            elif value not in self.node_index:
                self.add(f"{path}/{key}", MSG_EDGE_MISSING_NODE.format(id=value), EDGE_MISSING_NODE)
                ends_ok = False
        ports_ok = True
        for key in ("source_port", "target_port"):
            if key in raw and not _is_name(raw[key]):
                self.add(f"{path}/{key}", MSG_EDGE_PORT.format(key=key), INVALID_EDGE)
                ports_ok = False
        if not ends_ok:
            return None
        edge = edge_from_dict(raw)
        if ports_ok:
            self.check_ports(path, edge)
        return edge

    def check_ports(self, path: str, edge: Edge) -> None:
        out_ports = self.out_ports[edge.source]
        if out_ports is not None and edge.source_port not in out_ports:
            message = MSG_EDGE_MISSING_OUTPUT.format(
                id=edge.source,
                type=self.specs[edge.source].type_name,
                port=edge.source_port,
                ports=", ".join(sorted(out_ports)),
            )
            self.add(f"{path}/source_port", message, EDGE_MISSING_PORT)
        target_spec = self.specs.get(edge.target)
        if target_spec is not None and edge.target_port not in target_spec.inputs:
            message = MSG_EDGE_MISSING_INPUT.format(
                id=edge.target,
                type=target_spec.type_name,
                port=edge.target_port,
                ports=", ".join(target_spec.inputs) or "none",
            )
            self.add(f"{path}/target_port", message, EDGE_MISSING_PORT)

    def check_cycles(self) -> None:
        """Report every cycle: find one, drop an edge of it, look again (each pass is linear)."""
        predecessors: dict[str, set[str]] = {node_id: set() for node_id in self.node_index}
        for source, target in self.edge_index:
            predecessors[target].add(source)
        for _ in range(len(self.edge_index)):
            try:
                graphlib.TopologicalSorter(predecessors).prepare()
                return
            except graphlib.CycleError as exc:
                cycle: list[str] = exc.args[1]  # [a, b, ..., a]: each node has an edge to the next
            first, second = cycle[0], cycle[1]
            index = self.edge_index[(first, second)]
            self.add(f"/edges/{index}", MSG_CYCLE.format(path=" -> ".join(cycle)), CYCLE)
            predecessors[second].discard(first)

    def check_reachability(self) -> None:
        """Report a missing trigger, and every node no trigger leads to.

        A node of unknown type is reported already and might be a misspelt trigger: it counts as a start
        here, so one typo does not also report everything behind it.
        """
        if not self.triggers and not self.untyped:
            self.add("/nodes", MSG_NO_TRIGGER, NO_TRIGGER)
            return
        successors: dict[str, list[str]] = {node_id: [] for node_id in self.node_index}
        for source, target in self.edge_index:
            successors[source].append(target)
        reached = set(self.triggers) | set(self.untyped)
        queue = deque(reached)
        while queue:
            for target in successors[queue.popleft()]:
                if target not in reached:
                    reached.add(target)
                    queue.append(target)
        for node_id, index in self.node_index.items():
            if node_id not in reached:
                self.add(f"/nodes/{index}", MSG_UNREACHABLE.format(id=node_id), UNREACHABLE_NODE)

    def check_references(self) -> None:
        """Report each expression that reads a node that does not exist or does not run before its node."""
        predecessors: dict[str, set[str]] = {node_id: set() for node_id in self.node_index}
        for source, target in self.edge_index:
            predecessors[target].add(source)
        upstream: dict[str, set[str]] = {}
        for node_id, pointer, ids in self.references:
            if node_id not in upstream:
                upstream[node_id] = _ancestors(node_id, predecessors)
            for other in sorted(ids):
                if other not in self.node_index:
                    self.add(pointer, MSG_UNKNOWN_REFERENCE.format(id=other), UNKNOWN_NODE_REFERENCE)
                elif other not in upstream[node_id]:
                    self.add(pointer, MSG_NOT_UPSTREAM.format(id=other, node=node_id), NODE_NOT_UPSTREAM)


def _ancestors(node_id: str, predecessors: Mapping[str, set[str]]) -> set[str]:
    """Every node with a path of edges to `node_id` (itself only when it is on a cycle)."""
    found: set[str] = set()
    queue = deque(predecessors[node_id])
    while queue:
        other = queue.popleft()
        if other not in found:
            found.add(other)
            queue.extend(predecessors[other])
    return found


def validate_definition(
    definition: Any,
    *,
    node_types: Mapping[str, NodeSpec],
    expression_errors: ExpressionErrors | None = None,
    node_references: NodeReferences | None = None,
) -> list[Problem]:
    """Every problem of `definition` at once, in the order: nodes, edges, cycles, triggers and reachability,
    node references.

    `node_types` maps a type name to its spec; `expression_errors(value, pointer)` returns (pointer, message)
    pairs for the malformed expressions inside `value` (a node's config, found at `pointer`);
    `node_references(value, pointer)` returns (pointer, node ids) pairs for the expressions that read
    `nodes.<id>` (ids None: any node), each checked to name a node upstream of the one whose config it is in.
    """
    return _Validation(node_types, expression_errors, node_references).run(definition)
