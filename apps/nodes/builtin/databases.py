"""Database nodes: `postgres_query` and `mysql_query` run one parameterised statement on a member's server.

The query is verbatim (expressions are not rendered into it); values come only through `parameters` and are
bound by the driver (psycopg), never interpolated. The server is reached under the private-address rule
(`netguard.pinned_address`, given to psycopg as `hostaddr` beside `host`), unless the credential is marked
internal by an administrator (`Credential.allow_private`, handed to the node as `internal`).
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
from django.core.serializers.json import DjangoJSONEncoder
from psycopg.rows import dict_row

from apps.nodes import netguard
from apps.nodes.base import Node, NodeContext, NodeError, NodeResult
from apps.nodes.registry import register

from .actions import CREDENTIAL_NAME, credential_data

logger = logging.getLogger(__name__)

NOT_A_DATABASE = "Credential {name!r} is not a PostgreSQL database credential (kind 'database', engine 'postgresql')."
CONNECT_FAILED = "Could not connect to the database server."
QUERY_TIMEOUT = "The query ran longer than its statement timeout ({seconds:g} s) and was cancelled."
QUERY_FAILED = "The query failed: {error}"
READ_ONLY = "The query tried to write in read mode: {error}"

DEFAULT_MAX_ROWS = 1000
MAX_ROWS = 10000
CONNECT_TIMEOUT_SECONDS = 10


MYSQL_NOT_A_DATABASE = "Credential {name!r} is not a MySQL database credential (kind 'database', engine 'mysql')."


@dataclass(frozen=True)
class Statement:
    """What one run sends: the verbatim query, its bound values and the mode's limits."""

    sql: str
    parameters: Any
    write: bool
    max_rows: int
    timeout: float


@dataclass(frozen=True)
class Server:
    """Where the statement goes: the credential's fields and the address the private-address rule pinned."""

    data: dict
    host: str
    address: str
    port: int


class SqlQueryNode(Node):
    """One statement on a server named by a `database` credential of `engine`; subclasses say how it runs."""

    category = "actions"
    icon = "database"
    credential_fields = ("credential",)
    verbatim_fields = ("query",)
    config_schema = {
        "type": "object",
        "properties": {
            "credential": CREDENTIAL_NAME,
            "query": {"type": "string", "minLength": 1, "maxLength": 100000},
            "parameters": {"type": ["array", "object"], "description": "Values bound to the placeholders."},
            "mode": {"enum": ["read", "write"], "default": "read"},
            "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "default": DEFAULT_MAX_ROWS},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 30},
        },
        "required": ["credential", "query"],
        "additionalProperties": False,
    }
    #: The credential's `engine` this node takes (a credential without one is PostgreSQL's).
    engine: ClassVar[str] = ""
    default_port: ClassVar[int] = 0
    not_a_database: ClassVar[str] = ""

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        data = credential_data(ctx) or {}
        if data.get("kind") != "database" or data.get("engine", "postgresql") != self.engine:
            raise NodeError(self.not_a_database.format(name=config["credential"]), retryable=False)
        statement = Statement(
            sql=config["query"],
            parameters=config.get("parameters") or None,
            write=config.get("mode", "read") == "write",
            max_rows=int(config.get("max_rows", DEFAULT_MAX_ROWS)),
            timeout=float(config.get("timeout_seconds", 30)),
        )
        host, port = str(data["host"]), int(data.get("port") or self.default_port)
        allow_private = netguard.allows_private(ctx.settings) or bool(data.get("internal"))
        try:
            address = netguard.pinned_address(host, port, allow_private=allow_private)
        except netguard.BlockedAddressError as exc:
            raise NodeError(str(exc), retryable=False) from None
        except netguard.UnresolvableHostError as exc:
            raise NodeError(str(exc)) from None
        rows, affected = self.execute(Server(data=data, host=host, address=address, port=port), statement)
        truncated = len(rows) > statement.max_rows
        rows = rows[: statement.max_rows]
        output: dict[str, Any] = {"rows": _jsonable(rows), "row_count": len(rows), "truncated": truncated}
        if statement.write:
            output["affected"] = affected
        return NodeResult.single(output)

    @abstractmethod
    def execute(self, server: Server, statement: Statement) -> tuple[list[dict], int]:
        """Run the statement in a transaction (committed in write mode, rolled back in read mode); return up to
        max_rows + 1 rows and the affected row count, or raise NodeError."""


@register
class PostgresQueryNode(SqlQueryNode):
    type_name = "postgres_query"
    display_name = "PostgreSQL query"
    description = (
        "Runs one SQL statement on a PostgreSQL server named by a database credential. Values are passed in "
        "`parameters` (a list for %s placeholders, an object for %(name)s) and bound by the driver; the query "
        "itself is taken verbatim. Mode `read` runs in a read-only transaction and outputs up to max_rows rows "
        "(`truncated` says more were there); mode `write` commits and outputs the affected row count (and "
        "the rows of a RETURNING clause). The statement timeout cancels a long query. Private addresses are "
        "refused unless an administrator marked the credential internal."
    )
    engine = "postgresql"
    default_port = 5432
    not_a_database = NOT_A_DATABASE

    def execute(self, server: Server, statement: Statement) -> tuple[list[dict], int]:
        data = server.data
        try:
            connection = psycopg.connect(
                host=server.host,
                hostaddr=server.address,
                port=server.port,
                dbname=str(data["database"]),
                user=str(data["user"]),
                password=str(data.get("password") or ""),
                sslmode=str(data.get("ssl_mode") or "prefer"),
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={int(statement.timeout * 1000)}",
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            logger.info("postgres_query could not connect to %s:%s: %s", server.host, server.port, exc)
            raise NodeError(CONNECT_FAILED) from None
        try:
            connection.read_only = not statement.write
            with connection.cursor() as cursor:
                cursor.execute(statement.sql, statement.parameters)
                rows = cursor.fetchmany(statement.max_rows + 1) if cursor.description is not None else []
                affected = cursor.rowcount
            if statement.write:
                connection.commit()
            else:
                connection.rollback()
        except psycopg.errors.QueryCanceled:
            raise NodeError(QUERY_TIMEOUT.format(seconds=statement.timeout), retryable=False) from None
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise NodeError(READ_ONLY.format(error=_first_line(exc)), retryable=False) from None
        except psycopg.OperationalError as exc:
            logger.info("postgres_query lost %s:%s: %s", server.host, server.port, exc)
            raise NodeError(CONNECT_FAILED) from None
        except psycopg.Error as exc:
            raise NodeError(QUERY_FAILED.format(error=_first_line(exc)), retryable=False) from None
        finally:
            connection.close()
        return rows, affected


def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return str(primary or str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _jsonable(rows: list[dict]) -> list[dict]:
    """Rows as JSON values: dates and times as ISO strings, decimals and UUIDs as strings."""
    return json.loads(json.dumps(rows, cls=DjangoJSONEncoder))


@register
class MysqlQueryNode(SqlQueryNode):
    type_name = "mysql_query"
    display_name = "MySQL / MariaDB query"
    description = (
        "Runs one SQL statement on a MySQL or MariaDB server named by a database credential (engine mysql), "
        "like postgres_query: values in `parameters` bound by the driver (PyMySQL), the query verbatim, read "
        "(read-only transaction, max_rows) or write (commit, affected) mode, a statement timeout "
        "(max_statement_time), and private addresses only for a credential an administrator marked internal."
    )
    engine = "mysql"
    default_port = 3306
    not_a_database = MYSQL_NOT_A_DATABASE

    def execute(self, server: Server, statement: Statement) -> tuple[list[dict], int]:
        import pymysql  # only this node needs it

        data = server.data
        ssl: dict[str, dict] = {"ssl": {}} if data.get("ssl_mode") in ("require", "verify-ca", "verify-full") else {}
        try:
            connection = pymysql.connect(
                host=server.address,
                port=server.port,
                database=str(data["database"]),
                user=str(data["user"]),
                password=str(data.get("password") or ""),
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                cursorclass=pymysql.cursors.DictCursor,
                autocommit=False,
                **ssl,
            )
        except pymysql.Error as exc:
            logger.info("mysql_query could not connect to %s:%s: %s", server.host, server.port, exc)
            raise NodeError(CONNECT_FAILED) from None
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET SESSION max_statement_time = {statement.timeout:.3f}")
                cursor.execute("START TRANSACTION" if statement.write else "START TRANSACTION READ ONLY")
                affected = cursor.execute(statement.sql, statement.parameters)
                rows = list(cursor.fetchmany(statement.max_rows + 1)) if cursor.description is not None else []
            if statement.write:
                connection.commit()
            else:
                connection.rollback()
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code in (1969, 3024):  # MariaDB / MySQL: the statement ran past max_statement_time
                raise NodeError(QUERY_TIMEOUT.format(seconds=statement.timeout), retryable=False) from None
            if code == 1792:  # a write in a READ ONLY transaction
                raise NodeError(READ_ONLY.format(error=exc.args[1]), retryable=False) from None
            if isinstance(code, int) and code >= 2000:  # client errors: the connection was lost
                logger.info("mysql_query lost %s:%s: %s", server.host, server.port, exc)
                raise NodeError(CONNECT_FAILED) from None
            raise NodeError(QUERY_FAILED.format(error=exc.args[-1]), retryable=False) from None
        except pymysql.Error as exc:
            raise NodeError(QUERY_FAILED.format(error=exc.args[-1] if exc.args else exc), retryable=False) from None
        finally:
            connection.close()
        return rows, affected
