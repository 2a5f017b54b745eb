"""Database nodes: `postgres_query` runs one parameterised statement on a member's PostgreSQL server.

The query is verbatim (expressions are not rendered into it); values come only through `parameters` and are
bound by the driver (psycopg), never interpolated. The server is reached under the private-address rule
(`netguard.pinned_address`, given to psycopg as `hostaddr` beside `host`), unless the credential is marked
internal by an administrator (`Credential.allow_private`, handed to the node as `internal`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

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


@register
class PostgresQueryNode(Node):
    type_name = "postgres_query"
    category = "actions"
    display_name = "PostgreSQL query"
    icon = "database"
    description = (
        "Runs one SQL statement on a PostgreSQL server named by a database credential. Values are passed in "
        "`parameters` (a list for %s placeholders, an object for %(name)s) and bound by the driver; the query "
        "itself is taken verbatim. Mode `read` runs in a read-only transaction and outputs up to max_rows rows "
        "(`truncated` says more were there); mode `write` commits and outputs the affected row count (and "
        "the rows of a RETURNING clause). The statement timeout cancels a long query. Private addresses are "
        "refused unless an administrator marked the credential internal."
    )
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

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        data = credential_data(ctx) or {}
        if data.get("kind") != "database" or data.get("engine", "postgresql") != "postgresql":
            raise NodeError(NOT_A_DATABASE.format(name=config["credential"]), retryable=False)
        timeout = float(config.get("timeout_seconds", 30))
        max_rows = int(config.get("max_rows", DEFAULT_MAX_ROWS))
        write = config.get("mode", "read") == "write"
        host, port = str(data["host"]), int(data.get("port") or 5432)
        allow_private = netguard.allows_private(ctx.settings) or bool(data.get("internal"))
        try:
            address = netguard.pinned_address(host, port, allow_private=allow_private)
        except netguard.BlockedAddressError as exc:
            raise NodeError(str(exc), retryable=False) from None
        except netguard.UnresolvableHostError as exc:
            raise NodeError(str(exc)) from None
        try:
            connection = psycopg.connect(
                host=host,
                hostaddr=address,
                port=port,
                dbname=str(data["database"]),
                user=str(data["user"]),
                password=str(data.get("password") or ""),
                sslmode=str(data.get("ssl_mode") or "prefer"),
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                options=f"-c statement_timeout={int(timeout * 1000)}",
                row_factory=dict_row,
            )
        except psycopg.Error as exc:
            logger.info("postgres_query could not connect to %s:%s: %s", host, port, exc)
            raise NodeError(CONNECT_FAILED) from None
        try:
            connection.read_only = not write
            with connection.cursor() as cursor:
                cursor.execute(config["query"], config.get("parameters") or None)
                rows: list[dict] = []
                truncated = False
                if cursor.description is not None:
                    rows = cursor.fetchmany(max_rows + 1)
                    truncated = len(rows) > max_rows
                    rows = rows[:max_rows]
                affected = cursor.rowcount
            if write:
                connection.commit()
            else:
                connection.rollback()
        except psycopg.errors.QueryCanceled:
            raise NodeError(QUERY_TIMEOUT.format(seconds=timeout), retryable=False) from None
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            raise NodeError(READ_ONLY.format(error=_first_line(exc)), retryable=False) from None
        except psycopg.OperationalError as exc:
            logger.info("postgres_query lost %s:%s: %s", host, port, exc)
            raise NodeError(CONNECT_FAILED) from None
        except psycopg.Error as exc:
            raise NodeError(QUERY_FAILED.format(error=_first_line(exc)), retryable=False) from None
        finally:
            connection.close()
        output: dict[str, Any] = {"rows": _jsonable(rows), "row_count": len(rows), "truncated": truncated}
        if write:
            output["affected"] = affected
        return NodeResult.single(output)


def _first_line(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return str(primary or str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _jsonable(rows: list[dict]) -> list[dict]:
    """Rows as JSON values: dates and times as ISO strings, decimals and UUIDs as strings."""
    return json.loads(json.dumps(rows, cls=DjangoJSONEncoder))


MYSQL_NOT_A_DATABASE = "Credential {name!r} is not a MySQL database credential (kind 'database', engine 'mysql')."


@register
class MysqlQueryNode(Node):
    type_name = "mysql_query"
    category = "actions"
    display_name = "MySQL / MariaDB query"
    icon = "database"
    description = (
        "Runs one SQL statement on a MySQL or MariaDB server named by a database credential (engine mysql), "
        "like postgres_query: values in `parameters` bound by the driver (PyMySQL), the query verbatim, read "
        "(read-only transaction, max_rows) or write (commit, affected) mode, a statement timeout "
        "(max_statement_time), and private addresses only for a credential an administrator marked internal."
    )
    credential_fields = ("credential",)
    verbatim_fields = ("query",)
    config_schema = PostgresQueryNode.config_schema

    def run(self, ctx: NodeContext) -> NodeResult:
        import pymysql  # only this node needs it

        config = ctx.config
        data = credential_data(ctx) or {}
        if data.get("kind") != "database" or data.get("engine") != "mysql":
            raise NodeError(MYSQL_NOT_A_DATABASE.format(name=config["credential"]), retryable=False)
        timeout = float(config.get("timeout_seconds", 30))
        max_rows = int(config.get("max_rows", DEFAULT_MAX_ROWS))
        write = config.get("mode", "read") == "write"
        host, port = str(data["host"]), int(data.get("port") or 3306)
        allow_private = netguard.allows_private(ctx.settings) or bool(data.get("internal"))
        try:
            address = netguard.pinned_address(host, port, allow_private=allow_private)
        except netguard.BlockedAddressError as exc:
            raise NodeError(str(exc), retryable=False) from None
        except netguard.UnresolvableHostError as exc:
            raise NodeError(str(exc)) from None
        ssl: dict[str, dict] = {"ssl": {}} if data.get("ssl_mode") in ("require", "verify-ca", "verify-full") else {}
        try:
            connection = pymysql.connect(
                host=address,
                port=port,
                database=str(data["database"]),
                user=str(data["user"]),
                password=str(data.get("password") or ""),
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
                cursorclass=pymysql.cursors.DictCursor,
                autocommit=False,
                **ssl,
            )
        except pymysql.Error as exc:
            logger.info("mysql_query could not connect to %s:%s: %s", host, port, exc)
            raise NodeError(CONNECT_FAILED) from None
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"SET SESSION max_statement_time = {timeout:.3f}")
                cursor.execute("START TRANSACTION" if write else "START TRANSACTION READ ONLY")
                affected = cursor.execute(config["query"], config.get("parameters") or None)
                rows: list[dict] = []
                truncated = False
                if cursor.description is not None:
                    rows = list(cursor.fetchmany(max_rows + 1))
                    truncated = len(rows) > max_rows
                    rows = rows[:max_rows]
            if write:
                connection.commit()
            else:
                connection.rollback()
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code in (1969, 3024):  # MariaDB / MySQL: the statement ran past max_statement_time
                raise NodeError(QUERY_TIMEOUT.format(seconds=timeout), retryable=False) from None
            if code == 1792:  # a write in a READ ONLY transaction
                raise NodeError(READ_ONLY.format(error=exc.args[1]), retryable=False) from None
            if isinstance(code, int) and code >= 2000:  # client errors: the connection was lost
                logger.info("mysql_query lost %s:%s: %s", host, port, exc)
                raise NodeError(CONNECT_FAILED) from None
            raise NodeError(QUERY_FAILED.format(error=exc.args[-1]), retryable=False) from None
        except pymysql.Error as exc:
            raise NodeError(QUERY_FAILED.format(error=exc.args[-1] if exc.args else exc), retryable=False) from None
        finally:
            connection.close()
        output: dict[str, Any] = {"rows": _jsonable(rows), "row_count": len(rows), "truncated": truncated}
        if write:
            output["affected"] = affected
        return NodeResult.single(output)
