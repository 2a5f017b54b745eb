"""The engine reaches the database through one port (issue 14): `store.current()` picks the adapter from the setting,
and no engine module but the chooser asks which database it runs on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

import apps.executions.engine
from apps.executions.engine import event_data, sql, statements, store
from apps.executions.engine.orm_store import OrmStore
from apps.executions.engine.port import Store
from apps.executions.engine.sql_store import PostgresStore
from apps.executions.models import ExecutionEvent

ENGINE = Path(apps.executions.engine.__file__).parent
#: Where the choice of database is made.
CHOOSERS = {"store.py"}


def vendor_questions(source: str) -> list[str]:
    """The places a module asks for the database vendor or the store setting (`.vendor`, `uses_sql`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ("vendor", "uses_sql"):
            found.append(f"{node.attr} at line {node.lineno}")
        elif isinstance(node, ast.Name) and node.id == "uses_sql":
            found.append(f"uses_sql at line {node.lineno}")
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "uses_sql" for alias in node.names):
            found.append(f"import of uses_sql at line {node.lineno}")
    return found


def test_no_engine_module_but_the_chooser_branches_on_the_database():
    asking = {
        path.name: vendor_questions(path.read_text())
        for path in ENGINE.glob("*.py")
        if path.name not in CHOOSERS and vendor_questions(path.read_text())
    }
    assert asking == {}


def test_the_finder_finds_a_vendor_question():
    assert vendor_questions("if connection.vendor == 'sqlite': pass") == ["vendor at line 1"]
    assert vendor_questions("from .store import uses_sql") == ["import of uses_sql at line 1"]


def test_both_adapters_implement_the_port():
    members = {name for name in vars(Store) if not name.startswith("_")} - {"name"}
    assert members == {"lock", "update_nodes", "append_events", "claim", "complete_success"}
    for adapter in (OrmStore, PostgresStore):
        assert members <= set(vars(adapter)), adapter.__name__


def test_the_setting_picks_the_adapter(settings):
    settings.CONCERTMASTER_ENGINE_STORE = "orm"
    assert isinstance(store.current(), OrmStore)
    settings.CONCERTMASTER_ENGINE_STORE = "auto"
    expected = PostgresStore if connection.vendor == "postgresql" else OrmStore
    assert isinstance(store.current(), expected)


def test_the_claim_statement_writes_the_started_event_of_the_builder():
    """The payload PostgreSQL builds in SQL has the keys the ORM path's builder gives, in its order."""
    keys = list(event_data.node_started(attempt=1, node_type="t"))
    assert sql.json_object(statements._STARTED) == (
        "jsonb_build_object(" + ", ".join(f"'{key}', claimed.{key}" for key in keys) + ")"
    )
    assert f"'{keys[0]}', claimed.{keys[0]}" in statements._CLAIM


def test_the_statements_guard_node_statuses_as_transitions_allow():
    assert "node.status IN (%(status_queued)s)" in statements._CLAIM  # queued -> running only
    assert "node.status IN (%(status_running)s)" in statements._COMPLETE  # running -> succeeded only


def test_an_insert_must_name_every_column():
    with pytest.raises(ImproperlyConfigured, match="fields"):
        sql.insert(ExecutionEvent, {"id": "%(id)s"})
