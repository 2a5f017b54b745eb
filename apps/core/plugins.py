"""Loading plugins from package entry points: the node types' (`concertmaster.nodes`) and the trigger kinds'
(`concertmaster.triggers`) registries share it."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from types import ModuleType
from typing import TypeVar

BAD_ENTRY_POINT = 'Entry point "{entry_point}" of group "{group}" failed to load: {error}'

T = TypeVar("T", bound=type)


def load_entry_points(group: str, *, register: Callable[[T], T], error: type[Exception]) -> list[T]:
    """Load every entry point of `group`: a class it names is given to `register`; a module registers its own
    classes when imported. A plugin that fails to import raises `error` naming it (startup stops with its
    name, not a bare traceback). Returns the classes the entry points named directly."""
    loaded: list[T] = []
    for entry_point in entry_points(group=group):
        try:
            obj = entry_point.load()
        except Exception as exc:
            raise error(BAD_ENTRY_POINT.format(entry_point=entry_point.name, group=group, error=exc)) from exc
        if isinstance(obj, ModuleType):
            continue
        register(obj)
        loaded.append(obj)
    return loaded
