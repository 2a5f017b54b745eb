"""A workflow version's graph compiled once per process (versions are immutable): parsed, ordered, and for every node
the nodes whose outputs it may read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from apps.nodes.expressions import config_node_references
from apps.nodes.registry import registry
from apps.workflows.graph import Graph, parse_definition
from apps.workflows.models import WorkflowVersion


@dataclass(frozen=True)
class CompiledGraph:
    """A version's definition parsed once per process (versions are immutable)."""

    definition: dict
    graph: Graph
    order: tuple[str, ...]
    #: node id -> the nodes whose outputs it may read: its sources, or every other node when its config
    #: mentions `nodes` (an expression may read any node's output).
    reads: dict[str, tuple[str, ...]]

    def node(self, node_id: str) -> dict:
        return dict(self.graph.nodes[node_id])


def compiled_graph(version_id: Any) -> CompiledGraph:
    return _compiled_graph(str(version_id))  # one cache entry whether the id comes as a UUID or as text


@lru_cache(maxsize=512)
def _compiled_graph(version_id: str) -> CompiledGraph:
    definition = WorkflowVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    graph = parse_definition(definition)
    reads = {node_id: _reads(graph, node_id, node) for node_id, node in graph.nodes.items()}
    return CompiledGraph(definition=definition, graph=graph, order=graph.order(), reads=reads)


def _reads(graph: Graph, node_id: str, node: Mapping) -> tuple[str, ...]:
    """The nodes whose outputs a node may read: its sources and the nodes its expressions name (validation
    keeps those upstream), or every other node when an expression reads `nodes` dynamically."""
    node_class = registry.get(node["type"]) if node.get("type") in registry else None
    config = node.get("config", {})
    named = config_node_references(node_class.expression_config(config) if node_class else config)
    if named is None or (node_class is not None and node_class.reads_every_output):
        return tuple(other for other in graph.nodes if other != node_id)
    sources = {edge.source for edge in graph.inbound[node_id]}
    return tuple(sorted((sources | (named & graph.nodes.keys())) - {node_id}))
