"""Imports inside apps/executions/engine run one way (issue 14).

Read from the source with `ast`: the modules' top-level imports must form no cycle, no function-local import
between engine modules may hide one (there is none: `KNOWN_LOCAL_IMPORTS` is empty since the split of issue 14),
and no module grows past `MAX_LINES` (the map of docs/architecture.md keeps one job per module).
"""

from __future__ import annotations

import ast
from pathlib import Path

import apps.executions.engine

ENGINE = Path(apps.executions.engine.__file__).parent
PACKAGE = "apps.executions.engine"

#: (importer, imported) for the function-local imports between engine modules: none, and none may come back.
KNOWN_LOCAL_IMPORTS: frozenset[tuple[str, str]] = frozenset()
#: About 400 lines per module at most (issue 14): past that a module has more than one job.
MAX_LINES = 400


def engine_modules() -> set[str]:
    return {path.stem for path in ENGINE.glob("*.py")} - {"__init__"}


def imported(node: ast.stmt | ast.AST, modules: set[str]) -> set[str]:
    """The engine modules one import statement names (empty for anything else)."""
    if isinstance(node, ast.Import):
        return {a.name.split(".")[3] for a in node.names if a.name.startswith(PACKAGE + ".")} & modules
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level == 1:
        base = node.module or ""
    elif node.level == 0 and node.module and (node.module == PACKAGE or node.module.startswith(PACKAGE + ".")):
        base = node.module.removeprefix(PACKAGE).lstrip(".")
    else:
        return set()
    if base:
        return {base.split(".")[0]} & modules
    return {alias.name for alias in node.names} & modules


def import_graph(*, top_level_only: bool) -> dict[str, set[str]]:
    modules = engine_modules()
    graph = {}
    for name in modules:
        tree = ast.parse((ENGINE / f"{name}.py").read_text())
        statements = tree.body if top_level_only else ast.walk(tree)
        graph[name] = {target for node in statements for target in imported(node, modules)} - {name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or round a loop (strongly connected, > 1)."""
    found: list[set[str]] = []
    for name in sorted(graph):
        if any(name in group for group in found) or name not in reachable(graph, name):
            continue
        found.append({other for other in reachable(graph, name) if name in reachable(graph, other)})
    return found


def test_the_top_level_imports_form_no_cycle():
    assert cycles(import_graph(top_level_only=True)) == []


def test_no_new_function_local_import_between_engine_modules():
    top, every = import_graph(top_level_only=True), import_graph(top_level_only=False)
    local = {(importer, target) for importer, targets in every.items() for target in targets - top[importer]}
    assert local - KNOWN_LOCAL_IMPORTS == set(), "import at the top of the module, in the direction of the map"
    assert KNOWN_LOCAL_IMPORTS - local == set(), "an import was untied: drop it from KNOWN_LOCAL_IMPORTS"


def test_no_cycle_hides_behind_a_local_import():
    assert cycles(import_graph(top_level_only=False)) == []


def test_no_engine_module_is_over_the_size_of_one_job():
    sizes = {path.name: len(path.read_text().splitlines()) for path in ENGINE.glob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def test_the_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []
