"""postgres_query against the real PostgreSQL on 127.0.0.1:5432, in a database of its own (cm_c2_target by
default, `CM_TEST_TARGET_DB` to change it), created by the module and dropped after it."""

import os

import psycopg
import pytest
from jsonschema import Draft202012Validator

from apps.nodes import credential_kinds
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin import databases
from apps.nodes.builtin.databases import PostgresQueryNode

TARGET = os.environ.get("CM_TEST_TARGET_DB", "cm_c2_target")
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
ALLOW = {"allow_private_http": True}
PASSWORD = "pg-Secret-91"


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def target():
    try:
        _admin(f"DROP DATABASE IF EXISTS {TARGET} WITH (FORCE)")
        _admin(f"CREATE DATABASE {TARGET}")
    except psycopg.OperationalError as exc:  # pragma: no cover - the machine's PostgreSQL is a requirement
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is needed: {exc}")
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={TARGET}", autocommit=True) as conn:
        conn.execute(
            "DO $$ BEGIN CREATE ROLE cm_c2_node LOGIN PASSWORD 'pg-Secret-91'; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        conn.execute("GRANT ALL ON SCHEMA public TO cm_c2_node")
    yield TARGET
    _admin(f"DROP DATABASE IF EXISTS {TARGET} WITH (FORCE)")


@pytest.fixture
def table(target):
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={target}", autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS people")
        conn.execute("CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL, born date, score numeric)")
        conn.execute("GRANT ALL ON people TO cm_c2_node")
        conn.execute("GRANT ALL ON SEQUENCE people_id_seq TO cm_c2_node")
        conn.execute(
            "INSERT INTO people (name, born, score) VALUES ('Ada', '1815-12-10', 9.5), ('Alan', '1912-06-23', 9)"
        )
    return target


def _rows(target: str, sql: str) -> list[tuple]:
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={target}") as conn:
        return conn.execute(sql).fetchall()


def credential(target: str, **extra) -> dict:
    data = {"host": "127.0.0.1", "port": 5432, "database": target, "user": "cm_c2_node", "password": PASSWORD, **extra}
    return credential_kinds.node_data("database", data)


def run(config: dict, *, data: dict, settings=ALLOW):
    ctx = NodeContext(
        node_id="n1",
        execution_id="e1",
        organization_id="o1",
        config={"credential": "db", **config},
        inputs={"main": None},
        credentials={"db": data},
        settings=settings,
    )
    return PostgresQueryNode().run(ctx).outputs["main"]


def test_read_binds_values_and_outputs_json_rows(table):
    out = run(
        {"query": "SELECT name, born, score FROM people WHERE name = %s", "parameters": ["Ada"]}, data=credential(table)
    )

    assert out == {"rows": [{"name": "Ada", "born": "1815-12-10", "score": "9.5"}], "row_count": 1, "truncated": False}


def test_named_parameters(table):
    out = run(
        {"query": "SELECT id FROM people WHERE score >= %(min)s ORDER BY id", "parameters": {"min": 9}},
        data=credential(table),
    )

    assert out["row_count"] == 2


def test_a_value_is_never_sql(table):
    hostile = "x'); DROP TABLE people; --"

    out = run(
        {"query": "INSERT INTO people (name) VALUES (%s) RETURNING name", "parameters": [hostile], "mode": "write"},
        data=credential(table),
    )

    assert out["rows"] == [{"name": hostile}] and out["affected"] == 1
    assert _rows(table, "SELECT count(*) FROM people") == [(3,)]


def test_the_query_is_verbatim_not_rendered():
    assert "query" in PostgresQueryNode.verbatim_fields
    assert "query" not in PostgresQueryNode.expression_config({"query": "SELECT '{{ x }}'", "credential": "db"})


def test_write_commits_and_counts(table):
    out = run({"query": "UPDATE people SET score = score + 1", "mode": "write"}, data=credential(table))

    assert (out["affected"], out["rows"]) == (2, [])
    assert _rows(table, "SELECT score FROM people ORDER BY id") == [(10.5,), (10,)] or _rows(
        table, "SELECT score::float FROM people ORDER BY id"
    ) == [(10.5,), (10.0,)]


def test_read_mode_refuses_a_write_and_leaves_the_table(table):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "DELETE FROM people"}, data=credential(table))

    assert exc_info.value.message.startswith("The query tried to write in read mode")
    assert exc_info.value.retryable is False
    assert _rows(table, "SELECT count(*) FROM people") == [(2,)]


def test_row_limit_truncates(table):
    out = run({"query": "SELECT g FROM generate_series(1, 50) g", "max_rows": 10}, data=credential(table))

    assert (out["row_count"], out["truncated"]) == (10, True)
    assert out["rows"][-1] == {"g": 10}


def test_statement_timeout_cancels(table):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT pg_sleep(5)", "timeout_seconds": 0.2}, data=credential(table))

    assert exc_info.value.message == databases.QUERY_TIMEOUT.format(seconds=0.2)


def test_sql_error_names_the_problem(table):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT nope FROM people"}, data=credential(table))

    assert exc_info.value.message == 'The query failed: column "nope" does not exist'
    assert exc_info.value.retryable is False


def test_a_failed_connection_says_one_generic_thing(table):
    """(This machine's PostgreSQL trusts loopback logins, so an unknown database stands for a refused login.)"""
    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT 1"}, data=credential(table, database="cm_c2_no_such_db"))

    assert exc_info.value.message == databases.CONNECT_FAILED
    assert exc_info.value.retryable is True
    assert exc_info.value.__cause__ is None and exc_info.value.__suppress_context__


def test_private_address_refused_unless_internal(table):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT 1"}, data=credential(table), settings={})
    assert exc_info.value.retryable is False

    data = credential_kinds.node_data("database", {**credential(table)}, internal=True)
    assert run({"query": "SELECT 1 AS one"}, data=data, settings={})["rows"] == [{"one": 1}]


@pytest.mark.parametrize(
    "data",
    [
        {"token": "x", "kind": "bearer"},
        {"host": "127.0.0.1", "database": "d", "user": "u", "engine": "mysql", "kind": "database"},
        {"host": "127.0.0.1", "database": "d", "user": "u"},  # an unregistered kind: no `kind`
    ],
)
def test_needs_a_postgresql_database_credential(data):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT 1"}, data=data)

    assert exc_info.value.message == databases.NOT_A_DATABASE.format(name="db")


@pytest.mark.parametrize(
    "config",
    [
        {"credential": "db"},
        {"credential": "db", "query": ""},
        {"credential": "db", "query": "SELECT 1", "mode": "drop"},
        {"credential": "db", "query": "SELECT 1", "max_rows": 0},
        {"credential": "db", "query": "SELECT 1", "max_rows": 10001},
        {"credential": "db", "query": "SELECT 1", "timeout_seconds": 0},
        {"credential": "db", "query": "SELECT 1", "parameters": "Ada"},
        {"credential": "db", "query": "SELECT 1", "sql": "x"},
    ],
)
def test_schema_rejects_bad_config(config):
    validator = Draft202012Validator(PostgresQueryNode.config_schema)

    assert list(validator.iter_errors(config))
