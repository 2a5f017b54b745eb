"""Contract: n8n workflows synced from a real n8n give the same answers here as in n8n, for the same payloads.

Each workflow is webhook-triggered, answers through Respond to Webhook and calls no outside service; it is
activated in n8n (production webhook URL) and, once synced, activated and published here (a real worker runs
it). Both answers must be equal, status and JSON body.
"""

import time

import httpx
import pytest
from django.test import Client

from apps.integrations.client import N8nClient
from apps.integrations.models import Integration, WorkflowLink
from apps.integrations.services import sync_job_create, sync_job_run
from apps.workflows.services import trigger_publish, workflow_activate

from . import n8n_workflows

pytestmark = pytest.mark.slow

CASES = [
    (
        n8n_workflows.greeting_branch,
        [{"name": "ada", "qty": 3, "price": 50}, {"name": "bob", "qty": 1, "price": 5}],
    ),
    (
        n8n_workflows.order_lines,
        [
            {
                "lines": [
                    {"sku": "a", "price": 5},
                    {"sku": "b", "price": 20},
                    {"sku": "c", "price": 12},
                    {"sku": "d", "price": 30},
                ]
            },
            {"lines": [{"sku": "x", "price": 10}]},
        ],
    ),
    (
        n8n_workflows.dates_per_item,
        [
            {
                "events": [
                    {"id": 1, "at": "2024-01-31T10:20:30Z"},
                    {"id": 2, "at": "2024-03-15T23:59:00.000Z"},
                    {"id": 3, "at": "2023-12-31T12:00:00+00:00"},
                ]
            },
        ],
    ),
    (
        n8n_workflows.routing_and_matching,
        [
            {
                "items": [
                    {"name": "a", "qty": 3, "price": 5},
                    {"name": "b", "qty": 1, "price": 20},
                    {"name": "c", "qty": 5, "price": 50},
                    {"name": "d", "qty": 1, "price": 1},
                ]
            },
            {"items": [{"name": "x", "qty": 9, "price": 1}, {"name": "y", "qty": 0, "price": 99}]},
        ],
    ),
]


@pytest.fixture
def synced(n8n, worker, organization):
    """Load the cases into n8n (active), sync them into `organization`, publish them here."""
    client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)
    loaded = []
    for build, payloads in CASES:
        workflow = build()
        n8n_id = client.create_workflow(workflow)["id"]
        client.activate_workflow(n8n_id)
        loaded.append((n8n_id, workflow["nodes"][0]["parameters"]["path"], payloads))
    integration = Integration.objects.create(
        organization=organization, service_url=n8n.url, credentials={"api_key": n8n.api_key}, allow_private=True
    )
    job = sync_job_run(job_id=str(sync_job_create(integration=integration, workflow_ids=[i for i, _, _ in loaded]).pk))
    assert job.result["synced_count"] == len(CASES), job.result
    cases = []
    for n8n_id, path, payloads in loaded:
        workflow = WorkflowLink.objects.get(integration=integration, external_id=n8n_id).workflow
        assert workflow.status == "draft" and workflow.versions.exists()
        workflow_activate(workflow=workflow)
        ((trigger, _),) = trigger_publish(workflow=workflow)
        cases.append((f"{n8n.url}/webhook/{path}", f"/hooks/{trigger.webhook_token}", payloads))
    return cases


def test_synced_webhook_workflows_answer_like_n8n(synced):
    ours = Client()
    compared, answers = 0, []
    for n8n_url, hook, payloads in synced:
        for payload in payloads:
            theirs = httpx.post(n8n_url, json=payload, timeout=30)
            here = ours.post(hook, data=payload, content_type="application/json")
            assert (here.status_code, here.json()) == (theirs.status_code, theirs.json()), (hook, payload)
            assert theirs.status_code == 200 and theirs.json(), (hook, payload, theirs.text)
            answers.append(theirs.json())
            compared += 1
    assert compared == sum(len(payloads) for _, payloads in CASES)
    # What n8n answered for the newer mappings (so an equal pair of empty or odd answers cannot pass unseen).
    dates, routed, routed_again = answers[-3:]
    assert dates[0] == {
        "id": 1,
        "at": "2024-01-31T10:20:30Z",
        "next": "2024-02-29T10:20:30.000Z",
        "day": "29/02/2024 10:20",
        "gap": {"days": 29, "hours": 0},
        "start": "2024-01-31T00:00:00.000Z",
        "week": 5,
    }
    assert [d["week"] for d in dates] == [5, 11, 52]
    assert [(r["upper"], r["source"], r["names"], r["first"]) for r in routed] == [
        ("A", "input1", "a,b", 1),
        ("B", "input2", "a,b", 1),
    ]
    assert [r["upper"] for r in routed_again] == ["X", "Y"]


def test_an_async_sync_runs_on_the_worker_and_its_job_can_be_polled(n8n, worker, organization, user):
    from rest_framework.test import APIClient

    client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)
    n8n_id = client.create_workflow(n8n_workflows.order_lines())["id"]
    Integration.objects.create(organization=organization, service_url=n8n.url, allow_private=True)
    api = APIClient()
    api.force_authenticate(user)
    body = {"n8n_url": n8n.url, "api_key": n8n.api_key, "workflow_ids": [n8n_id]}
    accepted = api.post("/api/v1/integrations/n8n/sync?async=1", body, format="json")
    assert accepted.status_code == 202, accepted.json()
    url = f"/api/v1/integrations/jobs/{accepted.json()['id']}/"
    deadline = time.monotonic() + 60
    job = api.get(url).json()
    while job["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = api.get(url).json()
    assert job["status"] == "succeeded", job
    assert (job["result"]["synced_count"], job["result"]["created"]) == (1, 1)
