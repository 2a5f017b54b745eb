"""Issue 17's journey as a member builds it: a form takes a CSV upload, `csv_parse` reads it, a Python code
step shapes the rows, `postgres_query` writes them to a PostgreSQL database of the member's, `file_write` and
`s3` store a report on the S3-compatible server (moto on loopback), and `http_request` posts the total to an
API that wants its key in a header, through a `header` credential. Everything real: the worker, the sandbox,
PostgreSQL, the S3 server and the API server; the key is then looked for in the run's rows."""

import itertools
import json
import os

import psycopg
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.serializers import serialize

from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from apps.executions.triggers import execution_wait
from apps.workflows.services import credential_create, trigger_create, workflow_activate, workflow_create
from tests.nodes.fakeserver import FakeHTTPServer
from tests.orgs.factories import OrganizationFactory

pytestmark = pytest.mark.slow

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
API_KEY = "key-5d1e-only-in-the-credential"
CSV = b"name,amount\r\nAda,120\r\nBob,80\r\nCyd,25\r\n"
FIELDS = {
    "type": "object",
    "properties": {"report": {"type": "object", "format": "file", "title": "CSV"}, "month": {"type": "string"}},
    "required": ["report"],
}
SHAPE = """
people = [{"name": row["name"].upper(), "amount": int(row["amount"])} for row in input["rows"]]
return {
    "names": [p["name"] for p in people],
    "amounts": [p["amount"] for p in people],
    "total": sum(p["amount"] for p in people),
    "month": trigger["month"],
}
"""


@pytest.fixture
def target_database():
    """A database of the member's own on the machine's PostgreSQL (named per process: runs may overlap)."""
    name = f"cm_journey_{os.getpid()}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE payments (name text NOT NULL, amount int NOT NULL, month text)")
    yield name
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _definition(bucket: str, api_url: str) -> dict:
    nodes = [
        {"id": "start", "type": "form", "config": {"title": "Monthly payments", "fields": FIELDS}},
        {"id": "parse", "type": "csv_parse", "config": {"file": "{{ trigger.report }}"}},
        {"id": "shape", "type": "code_python", "config": {"code": SHAPE}},
        {
            "id": "store",
            "type": "postgres_query",
            "config": {
                "credential": "warehouse",
                "mode": "write",
                "query": "INSERT INTO payments (name, amount, month) "
                "SELECT n, a, %s FROM unnest(%s::text[], %s::int[]) AS t(n, a)",
                "parameters": [
                    "{{ nodes.shape.output.month }}",
                    "{{ nodes.shape.output.names }}",
                    "{{ nodes.shape.output.amounts }}",
                ],
            },
        },
        {
            "id": "report",
            "type": "file_write",
            "config": {"name": "report.json", "content": "{{ nodes.shape.output }}", "encoding": "json"},
        },
        {
            "id": "archive",
            "type": "s3",
            "config": {
                "credential": "archive",
                "operation": "put",
                "bucket": bucket,
                "key": "reports/{{ nodes.shape.output.month }}.json",
                "file": "{{ nodes.report.output.file }}",
            },
        },
        {
            "id": "notify",
            "type": "http_request",
            "config": {
                "method": "POST",
                "url": f"{api_url}/payments",
                "credential": "ledger",
                "json": {"month": "{{ nodes.shape.output.month }}", "total": "{{ nodes.shape.output.total }}"},
            },
        },
    ]
    order = [node["id"] for node in nodes]
    return {"nodes": nodes, "edges": [{"source": a, "target": b} for a, b in itertools.pairwise(order)]}


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


def test_a_csv_form_upload_runs_through_code_sql_s3_and_a_keyed_api(
    engine_worker, local_files, s3_server, target_database, settings, client
):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True  # the API server is on loopback
    organization = OrganizationFactory()
    bucket = f"archive-{organization.pk.hex[:10]}"
    s3_server.client().create_bucket(Bucket=bucket)
    database = {"engine": "postgresql", "host": "127.0.0.1", "port": 5432, "database": target_database}
    credential_create(
        organization=organization,
        name="warehouse",
        kind="database",
        data={**database, "user": "postgres"},
        allow_private=True,
    )
    credential_create(
        organization=organization, name="archive", kind="aws", data=s3_server.credential_data(), allow_private=True
    )
    credential_create(
        organization=organization, name="ledger", kind="header", data={"header": "X-Api-Key", "value": API_KEY}
    )
    with FakeHTTPServer() as api:
        api.reply("POST", "/payments", json_body={"accepted": True})
        workflow = workflow_create(organization=organization, name="payments", definition=_definition(bucket, api.url))
        workflow_activate(workflow=workflow)
        form = trigger_create(workflow=workflow, kind="form")

        upload = SimpleUploadedFile("march.csv", CSV, content_type="text/csv")
        response = client.post(f"/forms/{form.webhook_token}", data={"report": upload, "month": "2026-03"})

        assert response.status_code == 200, response.content.decode()
        execution = execution_wait(execution_id=WorkflowExecution.objects.get().pk, timeout=90)
        nodes = dict(execution.node_executions.values_list("node_id", "status"))
        assert execution.status == "succeeded", (execution.error, nodes)
        assert set(nodes.values()) == {"succeeded"}

    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={target_database}") as conn:
        rows = conn.execute("SELECT name, amount, month FROM payments ORDER BY name").fetchall()
    assert rows == [("ADA", 120, "2026-03"), ("BOB", 80, "2026-03"), ("CYD", 25, "2026-03")]
    stored = s3_server.client().get_object(Bucket=bucket, Key="reports/2026-03.json")["Body"].read()
    assert json.loads(stored)["total"] == 225
    (call,) = api.requests
    assert call.headers.get("x-api-key") == API_KEY
    assert call.json() == {"month": "2026-03", "total": 225}

    for model in (WorkflowExecution, NodeExecution, ExecutionEvent):  # the key stays in its credential
        assert API_KEY not in serialize("json", model.objects.all())
