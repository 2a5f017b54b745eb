"""mysql_query against the MariaDB on 127.0.0.1:3306 (root, empty password), in a database of its own
(cm_c2_target), created by the module and dropped after it."""

import pymysql
import pytest

from apps.nodes import credential_kinds
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin import databases
from apps.nodes.builtin.databases import MysqlQueryNode

TARGET = "cm_c2_target"
ALLOW = {"allow_private_http": True}


def _sql(*statements: str, database: str | None = None) -> list:
    connection = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database)
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            rows = list(cursor.fetchall())
        connection.commit()
        return rows
    finally:
        connection.close()


@pytest.fixture
def table():
    _sql(f"DROP DATABASE IF EXISTS {TARGET}", f"CREATE DATABASE {TARGET}")
    _sql(
        "CREATE TABLE people (id int AUTO_INCREMENT PRIMARY KEY, name text NOT NULL, born date)",
        "INSERT INTO people (name, born) VALUES ('Ada', '1815-12-10'), ('Alan', '1912-06-23')",
        database=TARGET,
    )
    yield TARGET
    _sql(f"DROP DATABASE IF EXISTS {TARGET}")


def credential(**extra) -> dict:
    data = {"engine": "mysql", "host": "127.0.0.1", "port": 3306, "database": TARGET, "user": "root", **extra}
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
    return MysqlQueryNode().run(ctx).outputs["main"]


def test_read_binds_values(table):
    out = run({"query": "SELECT name, born FROM people WHERE name = %s", "parameters": ["Ada"]}, data=credential())

    assert out == {"rows": [{"name": "Ada", "born": "1815-12-10"}], "row_count": 1, "truncated": False}


def test_a_value_is_never_sql_and_write_commits(table):
    hostile = "x'); DROP TABLE people; --"

    out = run(
        {"query": "INSERT INTO people (name) VALUES (%(name)s)", "parameters": {"name": hostile}, "mode": "write"},
        data=credential(),
    )

    assert out["affected"] == 1
    assert _sql("SELECT name FROM people ORDER BY id", database=TARGET)[-1] == (hostile,)


def test_read_mode_refuses_a_write(table):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "DELETE FROM people"}, data=credential())

    assert exc_info.value.message.startswith("The query tried to write in read mode")
    assert _sql("SELECT count(*) FROM people", database=TARGET) == [(2,)]


def test_row_limit_and_statement_timeout(table):
    out = run({"query": "SELECT seq FROM seq_1_to_50", "max_rows": 10}, data=credential())
    assert (out["row_count"], out["truncated"]) == (10, True)

    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT SLEEP(5) FROM people", "timeout_seconds": 0.3}, data=credential())
    assert exc_info.value.message in (databases.QUERY_TIMEOUT.format(seconds=0.3),)


def test_sql_error_and_failed_connection(table):
    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT nope FROM people"}, data=credential())
    assert exc_info.value.message.startswith("The query failed: Unknown column 'nope'")

    with pytest.raises(NodeError) as exc_info:
        run({"query": "SELECT 1"}, data=credential(password="wrong-password"))
    assert exc_info.value.message == databases.CONNECT_FAILED


def test_private_address_refused_unless_internal(table):
    with pytest.raises(NodeError):
        run({"query": "SELECT 1"}, data=credential(), settings={})

    internal = credential_kinds.node_data("database", credential(), internal=True)
    assert run({"query": "SELECT 1 AS one"}, data=internal, settings={})["rows"] == [{"one": 1}]


def test_needs_a_mysql_credential():
    with pytest.raises(NodeError) as exc_info:
        run(
            {"query": "SELECT 1"},
            data=credential_kinds.node_data("database", {"host": "h", "database": "d", "user": "u"}),
        )

    assert exc_info.value.message == databases.MYSQL_NOT_A_DATABASE.format(name="db")
