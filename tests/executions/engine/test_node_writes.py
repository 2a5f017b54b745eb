"""One write API for node rows (issue 14): inside a change they are written through the unit (`Unit.save_node`,
`save_nodes`, `update_nodes`, which go through the storage port), outside one only the lease bookkeeping of
`leases.py` and the insert of `lifecycle.create_execution` write them. Read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import apps.executions.engine

ENGINE = Path(apps.executions.engine.__file__).parent
#: The modules allowed to write node rows: the unit, the lease bookkeeping, the insert of a new execution's rows
#: and the storage adapters with their statements.
WRITERS = {"unit.py", "leases.py", "lifecycle.py", "orm_store.py", "sql_store.py", "statements.py"}
WRITES = {"save", "update", "bulk_update", "bulk_create", "delete"}


def node_writes(source: str) -> list[str]:
    """Calls that write NodeExecution rows directly: `node.save(...)`, `NodeExecution.objects....update(...)`."""
    found = []
    for call in ast.walk(ast.parse(source)):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in WRITES):
            continue
        receiver = ast.unparse(call.func.value)
        if "NodeExecution" in receiver or receiver in ("node", "nodes", "row", "child_node"):
            found.append(f"{receiver}.{call.func.attr} at line {call.lineno}")
    return found


def test_node_rows_are_written_only_through_the_write_api():
    writes = {
        path.name: node_writes(path.read_text())
        for path in sorted(ENGINE.glob("*.py"))
        if path.name not in WRITERS and node_writes(path.read_text())
    }
    assert writes == {}


def test_the_finder_finds_a_direct_write():
    assert node_writes('node.save(update_fields=["status"])') == ["node.save at line 1"]
    assert node_writes("NodeExecution.objects.filter(pk=1).update(status='x')") == [
        "NodeExecution.objects.filter(pk=1).update at line 1"
    ]
    assert node_writes("unit.save_node(node, ['status'])") == []
