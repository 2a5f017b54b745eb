"""Pruning 1,000,000 finished executions on PostgreSQL: rows per second and the longest single transaction.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch> .venv/bin/python benchmarks/prune_bench.py \
        [--rows 1000000] [--batch 1000] [--nodes 2] [--events 2]

The database named is dropped, created and migrated: it must be a scratch one. One organization and workflow;
`--rows` executions that finished 40 days ago (past the default 30-day retention) with `--nodes` node rows and
`--events` events each, plus 1,000 recent ones that must stay, inserted with `generate_series`; then VACUUM ANALYZE.

Then the engine's prune (`apps/executions/engine/recovery.py: prune`, what beat runs hourly) deletes them, `--batch`
executions per transaction (their nodes and events go in the same transaction, by Django's cascade). Each of those
transactions is timed (a wrapper around `transaction.atomic` in the recovery module), and so is every SQL statement,
to show how long any lock is held. The figures depend on the machine's load; the script prints them and never fails
on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")

RECENT = 1000


def create_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def defaults(model, given: set[str]) -> tuple[list[str], list[str], list]:
    """Columns of `model` not in `given`, with placeholders and the ORM's defaults (the database has none)."""
    from django.db import models

    columns, placeholders, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.column in given:
            continue
        value = field.get_default()
        if value is None and not field.null:
            raise SystemExit(f"{model.__name__}.{field.name} has no default: add it to the benchmark's insert.")
        columns.append(f'"{field.column}"')
        if isinstance(field, models.JSONField):
            placeholders.append("%s::jsonb" if value is not None else "%s")
            params.append(json.dumps(value) if value is not None else None)
        else:
            placeholders.append("%s")
            params.append(value)
    return columns, placeholders, params


def populate(rows: int, nodes: int, events: int) -> None:
    from django.db import connection

    from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
    from apps.workflows.services import workflow_create
    from tests.orgs.factories import OrganizationFactory

    organization = OrganizationFactory(name="bench")
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "act", "type": "log", "config": {"message": "x"}},
        ],
        "edges": [{"source": "start", "target": "act"}],
    }
    workflow = workflow_create(organization=organization, name="bench", definition=definition)
    given = {"id", "created_at", "updated_at", "organization_id", "workflow_id", "version_id", "status"}
    given |= {"started_at", "finished_at"}
    columns, placeholders, params = defaults(WorkflowExecution, given)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO executions_workflowexecution
                (id, created_at, updated_at, organization_id, workflow_id, version_id, status, started_at, finished_at,
                 {", ".join(columns)})
            SELECT gen_random_uuid(), s.at, s.at, %s, %s, %s, 'succeeded', s.at, s.at + interval '1 second',
                   {", ".join(placeholders)}
            FROM (
                SELECT g, CASE WHEN g <= %s THEN now() - interval '40 days' - g * interval '1 millisecond'
                               ELSE now() - interval '1 day' END AS at
                FROM generate_series(1, %s) g
            ) AS s
            """,
            [organization.pk, workflow.pk, workflow.latest_version.pk, *params, rows, rows + RECENT],
        )
        given = {"id", "created_at", "updated_at", "organization_id", "execution_id", "node_id", "node_type", "status"}
        columns, placeholders, params = defaults(NodeExecution, given)
        cursor.execute(
            f"""
            INSERT INTO executions_nodeexecution
                (id, created_at, updated_at, organization_id, execution_id, node_id, node_type, status,
                 {", ".join(columns)})
            SELECT gen_random_uuid(), e.created_at, e.created_at, e.organization_id, e.id, 'n' || n, 'log', 'succeeded',
                   {", ".join(placeholders)}
            FROM executions_workflowexecution e CROSS JOIN generate_series(1, %s) n
            """,
            [*params, nodes],
        )
        given = {"id", "created_at", "updated_at", "organization_id", "execution_id", "seq", "type", "at"}
        columns, placeholders, params = defaults(ExecutionEvent, given)
        cursor.execute(
            f"""
            INSERT INTO executions_executionevent
                (id, created_at, updated_at, organization_id, execution_id, seq, type, at, {", ".join(columns)})
            SELECT gen_random_uuid(), e.created_at, e.created_at, e.organization_id, e.id, n, 'node_succeeded',
                   e.created_at, {", ".join(placeholders)}
            FROM executions_workflowexecution e CROSS JOIN generate_series(1, %s) n
            """,
            [*params, events],
        )
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


class Timings:
    """Durations of the prune's transactions and of every SQL statement it sends."""

    def __init__(self) -> None:
        self.transactions: list[float] = []
        self.statements: list[tuple[float, str]] = []

    def statement(self, execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((time.perf_counter() - began, sql.split(" WHERE ")[0][:70]))


def timed_transactions(timings: Timings):
    """A stand-in for `django.db.transaction` in the recovery module whose `atomic()` is timed."""
    from django.db import transaction

    class Shim:
        def __getattr__(self, name):
            return getattr(transaction, name)

        @contextmanager
        def atomic(self, *args, **kwargs):
            began = time.perf_counter()
            with transaction.atomic(*args, **kwargs):
                yield
            timings.transactions.append(time.perf_counter() - began)
            if len(timings.transactions) % 100 == 0:
                print(f"... {len(timings.transactions)} transactions", file=sys.stderr, flush=True)

    return Shim()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=2, help="node rows per execution")
    parser.add_argument("--events", type=int, default=2, help="events per execution")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is dropped and created).")
    create_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings
    from django.db import connection

    from apps.executions.engine import recovery
    from apps.executions.models import WorkflowExecution

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    populate(args.rows, args.nodes, args.events)
    children = args.rows * (args.nodes + args.events)
    print(
        f"{args.rows} old executions (+{RECENT} recent), {children} node and event rows: inserted in "
        f"{time.perf_counter() - began:.0f} s; retention {settings.CONCERTMASTER_EXECUTION_RETENTION_DAYS} days"
    )

    timings = Timings()
    recovery.transaction = timed_transactions(timings)
    with connection.execute_wrapper(timings.statement):
        began = time.perf_counter()
        deleted = recovery.prune(batch=args.batch)
        seconds = time.perf_counter() - began
    left = WorkflowExecution.objects.count()
    assert deleted == args.rows and left == RECENT, (deleted, left)
    longest_statement, sql = max(timings.statements)
    print(
        f"pruned {deleted} executions ({deleted + children} rows with their nodes and events) in {seconds:.1f} s: "
        f"{deleted / seconds:,.0f} executions/s, {(deleted + children) / seconds:,.0f} rows/s; {left} recent kept"
    )
    print(
        f"transactions: {len(timings.transactions)} of {args.batch} executions; median "
        f"{statistics.median(timings.transactions) * 1000:.0f} ms, p99 "
        f"{statistics.quantiles(timings.transactions, n=100)[98] * 1000:.0f} ms, longest "
        f"{max(timings.transactions) * 1000:.0f} ms"
    )
    print(f"longest single statement {longest_statement * 1000:.0f} ms: {sql}")


if __name__ == "__main__":
    main()
