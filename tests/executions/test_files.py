"""Files through real runs: a multipart upload to a webhook, parsed, written, put in S3, downloaded over the API.

Both storage modes: the local folder (embedded) and S3 (production) on moto's standalone server on loopback.
"""

import json
import urllib.request
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from apps.executions import uploads
from apps.executions.engine import recovery
from apps.executions.file_models import ExecutionFile
from apps.executions.models import WebhookDelivery, WorkflowExecution
from apps.executions.triggers import execution_wait
from apps.nodes.files import file_storage, file_store
from apps.workflows.services import credential_create, trigger_create, workflow_activate, workflow_create
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.slow

CSV = b"name,amount\r\nAda,120\r\nBob,80\r\n"
ROWS = [{"name": "Ada", "amount": "120"}, {"name": "Bob", "amount": "80"}]


def _definition(bucket: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "webhook", "config": {}},
            {"id": "parse", "type": "csv_parse", "config": {"file": "{{ trigger.files.report }}"}},
            {
                "id": "save",
                "type": "file_write",
                "config": {"name": "rows.json", "content": "{{ nodes.parse.output.rows }}", "encoding": "json"},
            },
            {
                "id": "upload",
                "type": "s3",
                "config": {
                    "credential": "store",
                    "operation": "put",
                    "bucket": bucket,
                    "key": "reports/rows.json",
                    "file": "{{ nodes.save.output.file }}",
                },
            },
        ],
        "edges": [
            {"source": "start", "target": "parse"},
            {"source": "parse", "target": "save"},
            {"source": "save", "target": "upload"},
        ],
    }


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def member():
    organization = OrganizationFactory()
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    client = APIClient()
    client.force_authenticate(user)
    return organization, client


@pytest.fixture
def hook(member, s3_server):
    organization, _ = member
    bucket = f"reports-{organization.pk.hex[:10]}"
    s3_server.client().create_bucket(Bucket=bucket)
    credential_create(
        organization=organization, name="store", kind="aws", data=s3_server.credential_data(), allow_private=True
    )
    workflow = workflow_create(organization=organization, name="files", definition=_definition(bucket))
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind="webhook"), bucket


def _download(client, url: str) -> bytes:
    if url.startswith("http://testserver"):
        response = client.get(url.removeprefix("http://testserver"))
        assert response.status_code == 200, response
        return b"".join(response.streaming_content)
    with urllib.request.urlopen(url, timeout=10) as answer:  # a presigned S3 URL: no session needed
        return answer.read()


def test_a_csv_uploaded_to_a_webhook_is_parsed_written_put_in_s3_and_downloaded(
    engine_worker, file_storage_mode, member, hook, s3_server, client
):
    _, api = member
    trigger, bucket = hook
    upload = SimpleUploadedFile("people.csv", CSV, content_type="text/csv")

    response = client.post(f"/hooks/{trigger.webhook_token}", data={"report": upload, "note": "march"})

    assert response.status_code == 202, response.content
    execution = execution_wait(execution_id=response.json()["execution_id"], timeout=60)
    nodes = list(execution.node_executions.values_list("node_id", "status", "error"))
    assert execution.status == "succeeded", (execution.error, nodes)
    report = execution.trigger_data["files"]["report"]
    assert (report["name"], report["content_type"], report["size"]) == ("people.csv", "text/csv", len(CSV))
    assert execution.trigger_data["body"] == {"note": "march"}
    assert json.loads(s3_server.client().get_object(Bucket=bucket, Key="reports/rows.json")["Body"].read()) == ROWS

    listed = api.get(f"/api/v1/executions/{execution.pk}/files/")
    assert listed.status_code == 200
    by_name = {file["name"]: file for file in listed.json()}
    assert set(by_name) == {"people.csv", "rows.json"}
    assert (by_name["people.csv"]["field"], by_name["rows.json"]["node_id"]) == ("report", "save")
    assert _download(client, by_name["people.csv"]["download_url"]) == CSV
    redirect = api.get(f"/api/v1/executions/{execution.pk}/files/{by_name['rows.json']['id']}/download/")
    assert redirect.status_code == 302
    assert json.loads(_download(client, redirect["Location"])) == ROWS


def test_another_organizations_files_are_404(db, local_files, member):
    organization, api = member
    other = OrganizationFactory()

    theirs = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=other))
    file = file_store(organization_id=other.pk, execution_id=theirs.pk, name="secret.csv", content=b"x")

    assert api.get(f"/api/v1/executions/{theirs.pk}/files/").status_code == 404
    assert api.get(f"/api/v1/executions/{theirs.pk}/files/{file['id']}/download/").status_code == 404
    mine = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    assert api.get(f"/api/v1/executions/{mine.pk}/files/{file['id']}/download/").status_code == 404


def test_a_signed_local_link_expires_and_a_forged_one_is_404(db, local_files, member, client, settings):
    organization, api = member

    execution = WorkflowExecutionFactory(workflow=WorkflowFactory(organization=organization))
    file_store(organization_id=organization.pk, execution_id=execution.pk, name="a.txt", content=b"hello")
    url = (
        api.get(f"/api/v1/executions/{execution.pk}/files/").json()[0]["download_url"].removeprefix("http://testserver")
    )

    assert b"".join(client.get(url).streaming_content) == b"hello"
    assert client.get(url[:-3] + "xyz/").status_code == 404
    settings.CONCERTMASTER_FILES_URL_SECONDS = -1  # every link issued is past its lifetime
    assert client.get(url).status_code == 404


# --- bad uploads: a clear 4xx naming the field, nothing stored or started ----------------------------------------


@pytest.fixture
def plain_hook(db, local_files):
    organization = OrganizationFactory()
    definition = {"nodes": [{"id": "start", "type": "webhook", "config": {}}], "edges": []}
    workflow = workflow_create(organization=organization, name="plain", definition=definition)
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind="webhook")


def _nothing_kept(storage_root) -> None:
    assert not WorkflowExecution.objects.exists()
    assert not ExecutionFile.objects.exists()
    assert not [path for path in storage_root.rglob("*") if path.is_file()]


def test_a_file_over_the_limit_is_413_naming_the_field(plain_hook, local_files, client, settings):
    settings.CONCERTMASTER_UPLOAD_MAX_FILE_BYTES = 10
    upload = SimpleUploadedFile("big.csv", b"x" * 11, content_type="text/csv")

    response = client.post(f"/hooks/{plain_hook.webhook_token}", data={"report": upload})

    assert response.status_code == 413
    assert response.json()["detail"] == uploads.UPLOAD_FILE_TOO_LARGE.format(field="report", limit=10)
    _nothing_kept(local_files)
    assert WebhookDelivery.objects.get().status_code == 413  # the inbox keeps the refusal


def test_a_body_over_the_upload_limit_is_413(plain_hook, local_files, client, settings):
    settings.CONCERTMASTER_UPLOAD_MAX_BODY_BYTES = 100
    upload = SimpleUploadedFile("big.csv", b"x" * 200, content_type="text/csv")

    response = client.post(f"/hooks/{plain_hook.webhook_token}", data={"report": upload})

    assert response.status_code == 413
    assert response.json()["detail"] == uploads.UPLOAD_BODY_TOO_LARGE.format(limit=100)
    _nothing_kept(local_files)


def test_a_content_type_not_accepted_is_400_naming_the_field(plain_hook, local_files, client):
    upload = SimpleUploadedFile("run.sh", b"#!/bin/sh", content_type="application/x-sh")

    response = client.post(f"/hooks/{plain_hook.webhook_token}", data={"script": upload})

    assert response.status_code == 400
    body = response.json()
    assert "script" in json.dumps(body)
    assert "application/x-sh" in json.dumps(body)
    _nothing_kept(local_files)


def test_a_malformed_multipart_body_is_400(plain_hook, local_files, client):
    response = client.post(
        f"/hooks/{plain_hook.webhook_token}",
        data=b"--nope\r\nnot multipart",
        content_type="multipart/form-data; boundary=",
    )

    assert response.status_code == 400
    _nothing_kept(local_files)


def test_a_repeated_call_keeps_only_the_first_calls_files(plain_hook, local_files, client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    first = client.post(
        f"/hooks/{plain_hook.webhook_token}",
        data={"report": SimpleUploadedFile("a.csv", CSV, content_type="text/csv")},
        HTTP_IDEMPOTENCY_KEY="once",
    )
    again = client.post(
        f"/hooks/{plain_hook.webhook_token}",
        data={"report": SimpleUploadedFile("a.csv", CSV, content_type="text/csv")},
        HTTP_IDEMPOTENCY_KEY="once",
    )

    assert (first.status_code, again.status_code) == (202, 200)
    assert ExecutionFile.objects.count() == 1
    assert len([path for path in local_files.rglob("*") if path.is_file()]) == 1


def test_retention_prunes_an_executions_files_with_it(
    plain_hook, local_files, client, settings, django_capture_on_commit_callbacks
):
    response = client.post(
        f"/hooks/{plain_hook.webhook_token}",
        data={"report": SimpleUploadedFile("a.csv", CSV, content_type="text/csv")},
    )
    execution = WorkflowExecution.objects.get(pk=response.json()["execution_id"])
    key = ExecutionFile.objects.get(execution=execution).storage_key
    old = timezone.now() - timedelta(days=settings.CONCERTMASTER_EXECUTION_RETENTION_DAYS + 1)
    WorkflowExecution.objects.filter(pk=execution.pk).update(status="succeeded", finished_at=old)

    with django_capture_on_commit_callbacks(execute=True):
        recovery.prune()

    assert not WorkflowExecution.objects.filter(pk=execution.pk).exists()
    assert not ExecutionFile.objects.exists()
    assert not file_storage().exists(key)


def test_the_execution_admin_page_lists_its_files_with_a_download_link(db, local_files, admin_client, client):
    execution = WorkflowExecutionFactory()
    file_store(organization_id=execution.organization_id, execution_id=execution.pk, name="r.csv", content=b"a,b")

    page = admin_client.get(f"/admin/executions/workflowexecution/{execution.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "r.csv" in text
    link = text.split("/api/v1/files/", 1)[1].split('"', 1)[0]
    assert b"".join(client.get(f"/api/v1/files/{link}").streaming_content) == b"a,b"


# --- forms: a field of format file takes an upload ----------------------------------------------------------------

FORM_FIELDS = {
    "type": "object",
    "properties": {"report": {"type": "object", "format": "file", "title": "Report"}, "note": {"type": "string"}},
    "required": ["report"],
}


@pytest.fixture
def form_trigger(db, local_files):
    organization = OrganizationFactory()
    definition = {
        "nodes": [
            {"id": "start", "type": "form", "config": {"title": "Upload", "fields": FORM_FIELDS}},
            {"id": "parse", "type": "csv_parse", "config": {"file": "{{ trigger.report }}"}},
        ],
        "edges": [{"source": "start", "target": "parse"}],
    }
    workflow = workflow_create(organization=organization, name="form", definition=definition)
    workflow_activate(workflow=workflow)
    return trigger_create(workflow=workflow, kind="form")


def test_a_form_page_takes_a_csv_upload_into_the_run(form_trigger, local_files, client):
    page = client.get(f"/forms/{form_trigger.webhook_token}")
    assert 'enctype="multipart/form-data"' in page.content.decode()
    assert 'type="file"' in page.content.decode()

    upload = SimpleUploadedFile("people.csv", CSV, content_type="text/csv")
    response = client.post(f"/forms/{form_trigger.webhook_token}", data={"report": upload, "note": "march"})

    assert response.status_code == 200, response.content.decode()
    execution = WorkflowExecution.objects.get()
    assert execution.trigger_data["report"]["name"] == "people.csv"
    assert execution.trigger_data["note"] == "march"
    row = ExecutionFile.objects.get(execution=execution)
    assert (row.field, row.size) == ("report", len(CSV))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"note": "no file"}, "report"),
        ({"report": SimpleUploadedFile("x.sh", b"#!", content_type="application/x-sh")}, "application/x-sh"),
    ],
)
def test_a_form_without_its_file_or_with_a_refused_one_is_400_and_keeps_nothing(
    form_trigger, local_files, client, data, message
):
    response = client.post(f"/forms/{form_trigger.webhook_token}", data=data)

    assert response.status_code == 400
    assert message in response.content.decode()
    _nothing_kept(local_files)
