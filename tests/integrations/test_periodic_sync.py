"""The periodic sync fires from beat: the django-celery-beat row an integration keeps is what beat's database
scheduler reads, and the task it names, called with the row's own args, syncs from an n8n (a local server
speaking n8n's public API: list with cursor, get one, the API key header)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.integrations.models import Integration, SyncJob, WorkflowLink
from apps.integrations.services import PERIODIC_TASK, integration_create, integration_update
from concertmaster.celery import app

from . import n8n_workflows

KEY = "n8n-key-1"


class FakeN8n(BaseHTTPRequestHandler):
    """n8n's public API for two workflows; records each request's path, query and key."""

    workflows: dict = {}
    seen: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        self.seen.append((parts.path, parse_qs(parts.query), self.headers.get("X-N8N-API-KEY")))
        if self.headers.get("X-N8N-API-KEY") != KEY:
            return self._send(401, {"message": "unauthorized"})
        if parts.path == "/api/v1/workflows":
            return self._send(200, {"data": list(self.workflows.values()), "nextCursor": None})
        found = self.workflows.get(parts.path.removeprefix("/api/v1/workflows/"))
        return self._send(200, found) if found else self._send(404, {"message": "Not Found"})

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_n8n():
    FakeN8n.seen = []
    FakeN8n.workflows = {}
    for index, build in enumerate((n8n_workflows.greeting_branch, n8n_workflows.order_lines)):
        workflow = {**build(), "id": f"wf{index}", "versionId": f"v{index}", "updatedAt": "2026-01-01T00:00:00.000Z"}
        FakeN8n.workflows[workflow["id"]] = workflow
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeN8n)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _tasks_loaded():
    """What a worker does when it starts: import every app's tasks module (autodiscovery), so a task is found by
    the name beat sends."""
    app.loader.import_default_modules()


def _beat_entry(row: PeriodicTask):
    """The entry beat's database scheduler builds from the row (what it fires when due)."""
    return DatabaseScheduler(app=app, lazy=True).all_as_schedule()[row.name]


def _finished_job(integration, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = SyncJob.objects.filter(integration=integration).first()
        if job is not None and job.status not in ("pending", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"no finished sync job within {timeout} s")


def test_the_beat_row_follows_the_switch_and_its_task_runs_a_sync(worker, organization, fake_n8n):
    integration = integration_create(
        organization=organization,
        service_url=fake_n8n,
        api_key=KEY,
        allow_private=True,
        periodic_sync=True,
        sync_interval_minutes=15,
        configuration={"workflow_ids": ["wf1"]},
    )
    row = PeriodicTask.objects.get(pk=integration.periodic_task_id)
    assert (row.task, row.enabled, row.interval.every, row.interval.period) == (PERIODIC_TASK, True, 15, "minutes")
    entry = _beat_entry(row)
    assert entry.task == PERIODIC_TASK and entry.schedule.run_every.total_seconds() == 15 * 60
    assert SyncJob.objects.filter(integration=integration).count() == 0

    # What beat does when the entry is due: send the named task with the row's args and kwargs, to a worker.
    app.send_task(entry.task, args=entry.args, kwargs=entry.kwargs)

    job = _finished_job(integration)
    assert job.status == "succeeded" and job.workflow_ids == ["wf1"]  # the integration's chosen workflows
    assert job.result["synced_count"] == 1 and job.result["errors"] == []
    link = WorkflowLink.objects.get(integration=integration)
    assert link.external_id == "wf1" and link.workflow.status == "draft"
    assert {key for _, _, key in FakeN8n.seen} == {KEY}
    assert FakeN8n.seen[0][1]["limit"] == ["250"]

    # A new interval updates the same row; beat's entry follows.
    integration_update(integration=integration, sync_interval_minutes=60)
    same = PeriodicTask.objects.get(pk=row.pk)
    assert same.interval.every == 60 and _beat_entry(same).schedule.run_every.total_seconds() == 3600

    # A second firing (the task called in this process, with the row's arguments) is idempotent: unchanged.
    app.tasks[same.task](*json.loads(same.args), **json.loads(same.kwargs))
    latest = SyncJob.objects.filter(integration=integration).latest("created_at")
    assert latest.result["synced_count"] == 1 and latest.result["unchanged"] == 1
    assert link.workflow.versions.count() == 1

    # Switched off: the row is gone, beat has no entry, and a late delivery of the task does nothing.
    integration_update(integration=integration, periodic_sync=False)
    assert not PeriodicTask.objects.filter(pk=row.pk).exists()
    assert Integration.objects.get(pk=integration.pk).periodic_task_id is None
    assert same.name not in DatabaseScheduler(app=app, lazy=True).all_as_schedule()
    requests, jobs = len(FakeN8n.seen), SyncJob.objects.count()
    app.tasks[PERIODIC_TASK](**json.loads(same.kwargs))
    assert (len(FakeN8n.seen), SyncJob.objects.count()) == (requests, jobs)
