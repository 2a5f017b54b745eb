"""Definitions validated once per process: starting a run does not validate an unchanged definition again.

Validation (graph, every node's config schema, every expression's syntax) depends only on the definition, the
registered node types and which types the admin disabled. A version is immutable, so its verdict is kept by id; a
working definition (a draft) is kept by a digest of its content. The disabled types are read at every check (one
query): a type disabled since makes a remembered definition that uses it invalid again. Only valid definitions are
remembered; an invalid one is validated in full each time, so its problems are always listed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from apps.nodes.models import NodeType
from apps.nodes.registry import registry

from .validation import DefinitionInvalid, node_specs, workflow_definition_problems

#: Definitions remembered per process (least recently used dropped first).
MAX_REMEMBERED = 2048

_valid: OrderedDict[Hashable, frozenset[str]] = OrderedDict()
_lock = threading.Lock()


def definition_validate_once(definition: Any, *, version_id: Any = None) -> None:
    """`definition_validate`, remembered: raise DefinitionInvalid unless `definition` is valid.

    Give `version_id` for a saved version's definition (immutable: kept by id, no digest needed).
    """
    disabled = frozenset(NodeType.objects.filter(is_enabled=False).values_list("name", flat=True))
    key = ("version", version_id) if version_id is not None else ("digest", _digest(definition))
    with _lock:
        used = _valid.get(key)
        if used is not None:
            _valid.move_to_end(key)
    if used is not None and not used & disabled and all(name in registry for name in used):
        return  # a type unregistered since (a plugin removed, a test's types) makes it invalid again
    problems = workflow_definition_problems(definition, node_types=node_specs(disabled=disabled))
    if problems:
        raise DefinitionInvalid(problems)
    remember(key, definition)


def remember(key: Hashable, definition: Any) -> None:
    """Record `definition` (known valid) under `key`."""
    used = frozenset(str(node.get("type")) for node in definition.get("nodes", ()) if isinstance(node, dict))
    with _lock:
        _valid[key] = used
        _valid.move_to_end(key)
        while len(_valid) > MAX_REMEMBERED:
            _valid.popitem(last=False)


def forget_all() -> None:
    """Drop every remembered verdict (tests; a registry change at run time)."""
    with _lock:
        _valid.clear()


def _digest(definition: Any) -> str:
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
