"""The ops dashboard's queries over 1,000,000 executions on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch> .venv/bin/python benchmarks/dashboard_bench.py \
        [--rows 1000000] [--reuse]

The database named is dropped, created and migrated: it must be a scratch one. Three organizations (one holds 60 %
of the runs), 50 workflows, `--rows` executions spread over the last 30 days (the default retention) and two node
rows each, inserted with `generate_series` in a few statements; then VACUUM ANALYZE. Outcomes: 7 % failed, 2 %
cancelled, a few hundred running, the rest succeeded.

Each selector of `apps/executions/dashboard.py` is timed (median of 5 after a warm-up) for a superuser (every
organization) and for the big organization; then the whole pages: the admin index (the dashboard) as a superuser,
`/analytics` as a member of the big organization (computed at each load, then from the cache), and the workflow
list with its run columns. Baseline, in the same run: the members' home page (`/`, the 20 newest executions). The
figures depend on the machine's load; the script prints them and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")

WORKFLOWS = 50
NODE_TYPES = ["http_request", "log", "transform", "condition", "send_email", "code", "delay", "datastore"]


def create_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def defaults(model, given: set[str]) -> tuple[list[str], list[str], list]:
    """Columns of `model` not in `given`, with SQL placeholders and their Python defaults (the ORM's, not the
    database's: Django sets none), so the insert keeps up with fields added later."""
    import json

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


def populate(rows: int):
    from django.db import connection

    from apps.executions.models import NodeExecution, WorkflowExecution
    from apps.workflows.services import workflow_create
    from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

    organizations = [OrganizationFactory(name=name) for name in ("big", "medium", "small")]
    member = UserFactory(username="bench-member")
    MembershipFactory(user=member, organization=organizations[0], role="member")
    superuser = UserFactory(username="bench-admin", is_staff=True, is_superuser=True)
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "act", "type": "log", "config": {"message": "x"}},
        ],
        "edges": [{"source": "start", "target": "act"}],
    }
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE bench_workflow (idx int, id uuid, organization_id uuid, version_id uuid)")
        for index in range(WORKFLOWS):
            # 60 % of the workflows (and runs) in the big organization, 30 % and 10 % in the others.
            organization = organizations[0 if index < 30 else 1 if index < 45 else 2]
            workflow = workflow_create(organization=organization, name=f"bench {index}", definition=definition)
            cursor.execute(
                "INSERT INTO bench_workflow VALUES (%s, %s, %s, %s)",
                [index, workflow.pk, organization.pk, workflow.latest_version.pk],
            )
        given = {"id", "created_at", "updated_at", "organization_id", "workflow_id", "version_id", "status"}
        given |= {"started_at", "finished_at"}
        columns, placeholders, params = defaults(WorkflowExecution, given)
        cursor.execute(
            f"""
            INSERT INTO executions_workflowexecution
                (id, created_at, updated_at, organization_id, workflow_id, version_id, status, started_at, finished_at,
                 {", ".join(columns)})
            SELECT gen_random_uuid(), s.created, s.created, w.organization_id, w.id, w.version_id, s.status,
                   s.created + interval '20 milliseconds',
                   CASE WHEN s.status IN ('running', 'pending') THEN NULL
                        ELSE s.created + (50 + 5000 * random() * random()) * interval '1 millisecond' END,
                   {", ".join(placeholders)}
            FROM (
                SELECT g, CASE WHEN r < 0.0003 THEN 'running' WHEN r < 0.0004 THEN 'pending'
                               WHEN r < 0.0704 THEN 'failed' WHEN r < 0.0904 THEN 'cancelled'
                               ELSE 'succeeded' END AS status,
                       CASE WHEN r < 0.0004 THEN now() - random() * interval '1 hour'
                            ELSE now() - random() * interval '30 days' END AS created
                FROM (SELECT g, random() AS r FROM generate_series(1, %s) g) AS t
            ) AS s
            JOIN bench_workflow w ON w.idx = s.g %% {WORKFLOWS}
            """,
            [*params, rows],
        )
        given = {"id", "created_at", "updated_at", "organization_id", "execution_id", "node_id", "node_type"}
        given |= {"status", "queued_at", "started_at", "finished_at", "duration_ms"}
        columns, placeholders, params = defaults(NodeExecution, given)
        types = "ARRAY[" + ", ".join(f"'{name}'" for name in NODE_TYPES) + "]"
        cursor.execute(
            f"""
            INSERT INTO executions_nodeexecution
                (id, created_at, updated_at, organization_id, execution_id, node_id, node_type, status, queued_at,
                 started_at, finished_at, duration_ms, {", ".join(columns)})
            SELECT gen_random_uuid(), e.created_at, e.created_at, e.organization_id, e.id, n.node_id,
                   CASE WHEN n.node_id = 'start' THEN 'manual'
                        ELSE ({types})[1 + abs(hashtext(e.id::text)) %% {len(NODE_TYPES)}] END,
                   CASE WHEN e.finished_at IS NULL THEN 'running'
                        WHEN n.node_id = 'act' AND e.status = 'failed' THEN 'failed' ELSE 'succeeded' END,
                   e.started_at, e.started_at, e.finished_at,
                   CASE WHEN e.finished_at IS NULL THEN NULL
                        ELSE (extract(epoch FROM e.finished_at - e.started_at) * 1000 * n.share)::int END,
                   {", ".join(placeholders)}
            FROM executions_workflowexecution e
            CROSS JOIN (VALUES ('start', 0.01), ('act', 0.9)) AS n(node_id, share)
            """,
            params,
        )
    connection.commit() if not connection.get_autocommit() else None
    old = connection.get_autocommit()
    connection.set_autocommit(True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.set_autocommit(old)
    return superuser, member, organizations[0]


def timed(call, repeats: int = 5) -> float:
    call()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def selectors(scope, now) -> dict:
    from apps.executions import dashboard, stuck

    return {
        "executions by status per hour (7 days)": lambda: dashboard.status_by_hour(organization_ids=scope, now=now),
        "executions by status per window (from the hours)": lambda: dashboard.status_windows(
            dashboard.status_by_hour(organization_ids=scope, now=now), organization_ids=scope, now=now
        ),
        "per workflow: outcomes, p50/p95": lambda: dashboard.workflow_rows(organization_ids=scope, now=now),
        "slowest node types (1 day)": lambda: dashboard.slow_node_types(organization_ids=scope, now=now),
        "most failing node types (7 days)": lambda: dashboard.failing_node_types(organization_ids=scope, now=now),
        "waiting nodes": lambda: dashboard.waiting_counts(organization_ids=scope),
        "stuck counts (5 categories)": lambda: stuck.stuck_counts(organization_ids=scope, now=now),
        "workers alive": lambda: dashboard.workers_alive(organization_ids=scope),
        "whole dashboard()": lambda: dashboard.dashboard(organization_ids=scope, now=now),
    }


def measure(superuser, member, big) -> list[tuple[str, float]]:
    from django.conf import settings
    from django.core.cache import cache
    from django.test import Client
    from django.utils import timezone

    now = timezone.now()
    results = []
    for scope_label, scope in (("all organizations", None), ("the big organization", [big.pk])):
        for label, call in selectors(scope, now).items():
            results.append((f"{label}, {scope_label}", timed(call)))
    admin, person = Client(HTTP_HOST="localhost"), Client(HTTP_HOST="localhost")
    admin.force_login(superuser)
    person.force_login(member)
    pages = {
        "page: / (baseline)": lambda: person.get("/"),
        "page: admin index (dashboard, superuser)": lambda: admin.get("/admin/"),
        "page: /analytics (member of the big organization)": lambda: person.get("/analytics"),
        "page: admin workflow list (run columns)": lambda: admin.get("/admin/workflows/workflow/"),
    }
    for cached in (0, 30):
        settings.CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS = cached
        cache.clear()
        for label, call in pages.items():
            if cached and "dashboard" not in label and "analytics" not in label:
                continue
            assert call().status_code == 200, label
            results.append((f"{label}{', cached' if cached else ''}", timed(call)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="Measure the data a previous run left.")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (it is dropped and created).")
    if not args.reuse:
        create_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    if args.reuse:
        from django.contrib.auth.models import User

        from apps.orgs.models import Organization

        superuser, member = User.objects.get(username="bench-admin"), User.objects.get(username="bench-member")
        big = Organization.objects.get(name="big")
    else:
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        superuser, member, big = populate(args.rows)
        print(f"{args.rows} executions and {2 * args.rows} node rows inserted in {time.perf_counter() - began:.0f} s")
    results = measure(superuser, member, big)
    baseline = dict(results)["page: / (baseline)"]
    print(f"{'query':72} {'median ms':>10} {'x baseline':>11}")
    for label, ms in results:
        print(f"{label:72} {ms:10.1f} {ms / baseline:11.2f}")


if __name__ == "__main__":
    main()
