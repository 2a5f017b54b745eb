"""docs/nodes.md carries a generated table of every built-in node; it must match the registry."""

import pytest
from django.core.management import CommandError, call_command

from apps.nodes.docs import TABLE_END, TABLE_START, docs_path, node_table
from apps.nodes.registry import registry


def test_the_table_in_docs_nodes_md_is_current():
    """Fails when a built-in node was added or changed: run `python manage.py node_docs --write`."""
    call_command("node_docs", "--check")


def test_the_table_lists_every_built_in_node_with_its_ports():
    table = node_table()
    builtins = [cls for cls in registry.all() if cls.__module__.startswith("apps.nodes.builtin.")]
    assert table.startswith(f"{len(builtins)} built-in node types.")
    for cls in builtins:
        assert f"| `{cls.type_name}` | {cls.category} |" in table
    assert "| `merge` | transforms | a, b | main, error | `mode` |" in table


def test_a_stale_table_fails_the_check_and_write_fixes_it(tmp_path):
    document = tmp_path / "nodes.md"
    document.write_text(docs_path().read_text().replace("| `split` |", "| `splat` |"))
    with pytest.raises(CommandError, match="out of date"):
        call_command("node_docs", "--check", "--path", str(document))
    call_command("node_docs", "--write", "--path", str(document))
    call_command("node_docs", "--check", "--path", str(document))
    assert document.read_text() == docs_path().read_text()


def test_a_document_without_markers_is_an_error(tmp_path):
    document = tmp_path / "nodes.md"
    document.write_text(f"# Nodes\n{TABLE_END}\n{TABLE_START}\n")
    with pytest.raises(CommandError, match="lacks the node table markers"):
        call_command("node_docs", "--check", "--path", str(document))
