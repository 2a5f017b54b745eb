"""Execution search over 100,000 executions on PostgreSQL: the API list with each kind of data filter.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<scratch> .venv/bin/python benchmarks/search_bench.py [--rows N]

The database named is created (dropped first if it exists) and migrated; it must be a scratch one. One
organization, one workflow, `--rows` executions with varied trigger data (`body.customer`, `body.amount`), custom
data (`order`), two node rows each (one failed in 1 of 50), errors and durations. Each query is the full API
request (`GET /api/v1/executions/?...`, first page of 50, as an organization owner), timed as the median of 7
after one warm-up. Baseline, in the same run: the unfiltered list. The figures depend on the machine's load;
the script prints them and never fails on them.
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

QUERIES = {
    "unfiltered (baseline)": {},
    "trigger_path equals (GIN)": {"trigger_path": "/body/customer", "trigger_value": "c4242@example.com"},
    "custom_key equals (GIN)": {"custom_key": "order", "custom_value": "O-4242"},
    "trigger_path contains (scan)": {
        "trigger_path": "/body/customer",
        "trigger_value": "c4242@",
        "trigger_op": "contains",
    },
    "output_node equals": {"output_node": "lookup", "output_path": "/tier", "output_value": "gold-42"},
    "failed_node": {"failed_node": "gate"},
    "error_contains": {"error_contains": "closed 50"},
    "duration_min_ms": {"duration_min_ms": "4990"},
}


def create_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def populate(rows: int):
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from apps.executions.models import NodeExecution, WorkflowExecution
    from apps.workflows.services import workflow_create
    from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

    organization = OrganizationFactory()
    owner = UserFactory()
    MembershipFactory(user=owner, organization=organization, role="owner")
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "gate", "type": "log", "config": {"message": "x"}},
        ],
        "edges": [{"source": "start", "target": "gate"}],
    }
    workflow = workflow_create(organization=organization, name="bench", definition=definition)
    version = workflow.latest_version
    now = timezone.now()
    batch = 5000
    for start in range(0, rows, batch):
        executions = []
        for index in range(start, min(start + batch, rows)):
            failed = index % 50 == 0
            executions.append(
                WorkflowExecution(
                    organization=organization,
                    workflow=workflow,
                    version=version,
                    status="failed" if failed else "succeeded",
                    trigger_data={"body": {"customer": f"c{index}@example.com", "amount": index % 1000}},
                    custom_data={"order": f"O-{index}"},
                    error={"message": f"The gate is closed {index % 100}"} if failed else None,
                    started_at=now - timedelta(milliseconds=index % 5000),
                    finished_at=now,
                )
            )
        WorkflowExecution.objects.bulk_create(executions)
        nodes = []
        for execution in executions:
            index = int(execution.custom_data["order"][2:])
            nodes.append(
                NodeExecution(
                    organization=organization,
                    execution=execution,
                    node_id="gate",
                    node_type="log",
                    status="failed" if execution.status == "failed" else "succeeded",
                )
            )
            nodes.append(
                NodeExecution(
                    organization=organization,
                    execution=execution,
                    node_id="lookup",
                    node_type="log",
                    status="succeeded",
                    output={"tier": f"gold-{index % 100}"},
                )
            )
        NodeExecution.objects.bulk_create(nodes)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return owner


def measure(owner, repeats: int = 7) -> dict[str, tuple[float, int]]:
    from rest_framework.test import APIClient

    client = APIClient(HTTP_HOST="localhost")  # DEBUG's allowed hosts
    client.force_authenticate(owner)
    results = {}
    for label, query in QUERIES.items():
        response = client.get("/api/v1/executions/", {**query, "page_size": 50})
        assert response.status_code == 200, response.json()
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            response = client.get("/api/v1/executions/", {**query, "page_size": 50})
            times.append((time.perf_counter() - began) * 1000)
        results[label] = (statistics.median(times), len(response.json()["results"]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
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
        from apps.orgs.models import Membership

        owner = Membership.objects.get(role="owner").user
    else:
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        owner = populate(args.rows)
        seconds = time.perf_counter() - began
        print(f"{args.rows} executions (and {2 * args.rows} node rows) inserted in {seconds:.0f} s")
    results = measure(owner)
    baseline = results["unfiltered (baseline)"][0]
    print(f"{'query':32} {'median ms':>10} {'x baseline':>11} {'rows':>5}")
    for label, (ms, count) in results.items():
        print(f"{label:32} {ms:10.1f} {ms / baseline:11.2f} {count:5d}")


if __name__ == "__main__":
    main()
