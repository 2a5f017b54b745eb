"""`apps.core` sits under every app: it imports none of them (neither statically nor by name)."""

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "apps" / "core"


def _imported_modules(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            names += [
                arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
    return names


def _app_imports(path: Path) -> list[str]:
    modules = _imported_modules(ast.parse(path.read_text(), filename=str(path)))
    return [name for name in modules if name.startswith("apps.") and not name.startswith("apps.core")]


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda path: str(path.relative_to(CORE)))
def test_core_module_imports_no_app(path):
    """No module of apps/core imports another app: organizations, nodes, workflows and executions build on core."""
    assert _app_imports(path) == []


def test_the_walk_sees_an_app_import(tmp_path):
    """The check catches both kinds of import it looks for."""
    module = tmp_path / "bad.py"
    module.write_text("from apps.orgs.models import ApiKey\nimportlib.import_module('apps.executions.metrics')\n")
    assert _app_imports(module) == ["apps.orgs.models", "apps.executions.metrics"]
