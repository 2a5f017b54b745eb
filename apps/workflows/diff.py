"""What changed between two workflow definitions: nodes, edges, variables and other settings. Pure: no ORM.

Node changes are JSON-pointer operations (`add`, `remove`, `replace`, with the value before and after) relative
to the node; a node whose only change is its canvas position is `moved`. Lists are compared per index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .graph import MAIN

#: Parts of a definition compared on their own; every other top-level key is a setting.
GRAPH_KEYS = frozenset({"nodes", "edges", "variables"})
#: Where a node sits on the canvas: not a change of what it does.
LAYOUT_KEYS = frozenset({"position"})


def _escape(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def json_diff(before: Any, after: Any, path: str = "") -> list[dict]:
    """The operations that turn `before` into `after`, each with its JSON pointer and both values."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: list[dict] = []
        for key in before:
            pointer = f"{path}/{_escape(key)}"
            if key not in after:
                changes.append({"op": "remove", "path": pointer, "from": before[key], "to": None})
            else:
                changes.extend(json_diff(before[key], after[key], pointer))
        changes.extend(
            {"op": "add", "path": f"{path}/{_escape(key)}", "from": None, "to": after[key]}
            for key in after
            if key not in before
        )
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index, (old, new) in enumerate(zip(before, after, strict=False)):
            changes.extend(json_diff(old, new, f"{path}/{index}"))
        changes.extend(
            {"op": "remove", "path": f"{path}/{index}", "from": before[index], "to": None}
            for index in range(len(after), len(before))
        )
        changes.extend(
            {"op": "add", "path": f"{path}/{index}", "from": None, "to": after[index]}
            for index in range(len(before), len(after))
        )
        return changes
    if before == after and type(before) is type(after):
        return []
    return [{"op": "replace", "path": path, "from": before, "to": after}]


def _nodes(definition: Mapping) -> dict[str, Mapping]:
    nodes = definition.get("nodes") or []
    return {node["id"]: node for node in nodes if isinstance(node, Mapping) and isinstance(node.get("id"), str)}


def _edges(definition: Mapping) -> list[dict]:
    edges = []
    for raw in definition.get("edges") or []:
        if isinstance(raw, Mapping):
            edge = {
                "source": raw.get("source"),
                "source_port": raw.get("source_port") or MAIN,
                "target": raw.get("target"),
                "target_port": raw.get("target_port") or MAIN,
            }
            if edge not in edges:
                edges.append(edge)
    return edges


def _without_layout(node: Mapping) -> dict:
    return {key: value for key, value in node.items() if key not in LAYOUT_KEYS}


def _variables(before: Mapping, after: Mapping) -> dict:
    old, new = before.get("variables") or {}, after.get("variables") or {}
    return {
        "added": {name: value for name, value in new.items() if name not in old},
        "removed": {name: value for name, value in old.items() if name not in new},
        "changed": {
            name: {"from": old[name], "to": new[name]}
            for name in old
            if name in new and json_diff(old[name], new[name])
        },
    }


def definition_diff(before: Mapping, after: Mapping) -> dict:
    """Nodes added, removed, moved and changed; edges added and removed; variables and settings changed."""
    old_nodes, new_nodes = _nodes(before), _nodes(after)
    changed, moved = [], []
    for node_id, node in new_nodes.items():
        if node_id not in old_nodes:
            continue
        changes = json_diff(_without_layout(old_nodes[node_id]), _without_layout(node))
        if changes:
            changed.append({"id": node_id, "type": node.get("type"), "changes": changes})
        elif json_diff(old_nodes[node_id], node):
            moved.append(node_id)
    old_edges, new_edges = _edges(before), _edges(after)
    settings_before = {key: value for key, value in before.items() if key not in GRAPH_KEYS}
    settings_after = {key: value for key, value in after.items() if key not in GRAPH_KEYS}
    return {
        "nodes": {
            "added": [node_id for node_id in new_nodes if node_id not in old_nodes],
            "removed": [node_id for node_id in old_nodes if node_id not in new_nodes],
            "moved": moved,
            "changed": changed,
        },
        "edges": {
            "added": [edge for edge in new_edges if edge not in old_edges],
            "removed": [edge for edge in old_edges if edge not in new_edges],
        },
        "variables": _variables(before, after),
        "settings": {"changed": json_diff(settings_before, settings_after)},
    }
