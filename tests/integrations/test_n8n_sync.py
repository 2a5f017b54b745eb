"""Sync against a real n8n (contract): the seed endpoint's request and response, links and versions, re-sync,
conflicts, drafts, reported credentials, the private-address rule and the integration API."""

import pytest

from apps.integrations.client import N8nClient
from apps.integrations.models import Integration, WorkflowLink
from apps.workflows.models import Workflow
from apps.workflows.services import workflow_update

from . import n8n_workflows

pytestmark = pytest.mark.django_db

SYNC_URL = "/api/v1/integrations/n8n/sync"


@pytest.fixture
def loaded(n8n):
    """n8n workflows created for this test: {name: n8n id}."""
    client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)

    def load(*workflows):
        created = {}
        for workflow in workflows:
            if "credentials" in workflow:
                continue
            created[workflow["name"]] = client.create_workflow(workflow)["id"]
        return created

    load.client = client
    return load


@pytest.fixture
def member(api_client, user, organization, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = False
    api_client.force_authenticate(user)
    return api_client


def _allow_local(organization, n8n):
    return Integration.objects.create(organization=organization, service_url=n8n.url, name="local", allow_private=True)


def test_the_seed_endpoint_syncs_and_answers_synced_count_and_errors(member, organization, n8n, loaded):
    _allow_local(organization, n8n)
    mixed = n8n_workflows.with_code_ai_and_credentials()
    mixed["nodes"][2]["credentials"] = {"httpHeaderAuth": {"id": "1", "name": "Acme API"}}
    ids = loaded(n8n_workflows.greeting_branch(), mixed)
    body = {"n8n_url": n8n.url, "api_key": n8n.api_key, "workflow_ids": list(ids.values())}
    response = member.post(SYNC_URL, body, format="json")
    assert response.status_code == 200, response.json()
    result = response.json()
    assert result["synced_count"] == 2 and result["errors"] == []
    assert result["created"] == 2
    rows = {row["name"]: row for row in result["workflows"]}
    greeting = Workflow.objects.get(pk=rows["Greeting branch"]["workflow_id"])
    assert greeting.status == "draft" and greeting.versions.count() == 1
    report = rows["Mixed"]["report"]
    outcomes = {node["node"]: node["outcome"] for node in report["nodes"]}
    assert outcomes == {
        "Start": "translated",
        "Code": "translated_with_changes",
        "Call": "translated_with_changes",
        "Agent": "not_translatable",
    }
    assert report["credentials"] == [{"node": "Call", "n8n_type": "httpHeaderAuth", "name": "Acme API"}]
    integration = Integration.objects.get(organization=organization, service_url=n8n.url)
    assert integration.credentials == {"api_key": n8n.api_key} and integration.status == "active"
    assert integration.last_sync_result["synced_count"] == 2


def test_resync_is_idempotent_updates_on_change_and_reports_conflicts(member, organization, n8n, loaded):
    _allow_local(organization, n8n)
    workflow = n8n_workflows.greeting_branch()
    n8n_id = loaded(workflow)["Greeting branch"]
    body = {"n8n_url": n8n.url, "api_key": n8n.api_key, "workflow_ids": [n8n_id]}
    first = member.post(SYNC_URL, body, format="json").json()
    link = WorkflowLink.objects.get(external_id=n8n_id)
    again = member.post(SYNC_URL, body, format="json").json()
    assert (first["created"], again["unchanged"], again["synced_count"]) == (1, 1, 1)
    assert link.workflow.versions.count() == 1

    workflow["nodes"][3]["parameters"]["options"] = {"responseCode": 201}
    loaded.client.update_workflow(n8n_id, workflow)
    updated = member.post(SYNC_URL, body, format="json").json()
    assert updated["updated"] == 1 and link.workflow.versions.count() == 2

    ours = Workflow.objects.get(pk=link.workflow_id)
    workflow_update(workflow=ours, description="edited here")
    workflow["nodes"][3]["parameters"]["options"] = {"responseCode": 202}
    loaded.client.update_workflow(n8n_id, workflow)
    conflict = member.post(SYNC_URL, body, format="json").json()
    assert conflict["conflict"] == 1 and conflict["synced_count"] == 0
    assert "Edited in ConcertMaster since the last sync" in conflict["errors"][0]
    assert link.workflow.versions.count() == 2
    forced = member.post(SYNC_URL, {**body, "force": True}, format="json").json()
    assert forced["updated"] == 1 and link.workflow.versions.count() == 3


def test_private_addresses_need_an_admin_allowance(member, api_client, organization, member_factory, n8n):
    refused = member.post(SYNC_URL, {"n8n_url": n8n.url, "api_key": n8n.api_key}, format="json")
    assert refused.status_code == 400
    assert "private, loopback" in refused.json()["errors"][0]
    integration = Integration.objects.get(organization=organization)
    patched = member.patch(f"/api/v1/integrations/{integration.pk}/", {"allow_private": True}, format="json")
    assert patched.status_code == 403
    api_client.force_authenticate(member_factory(organization, role="admin"))
    allowed = api_client.patch(f"/api/v1/integrations/{integration.pk}/", {"allow_private": True}, format="json")
    assert allowed.status_code == 200 and allowed.json()["allow_private"] is True
    tested = api_client.post(f"/api/v1/integrations/{integration.pk}/test/")
    assert tested.json() == {"ok": True, "url": n8n.url, "status": "active", "error": ""}


def test_a_refused_key_and_bad_input_are_400_naming_the_problem(member, organization, n8n):
    _allow_local(organization, n8n)
    wrong = member.post(SYNC_URL, {"n8n_url": n8n.url, "api_key": "nope"}, format="json")
    assert wrong.status_code == 400 and "refused the API key" in wrong.json()["errors"][0]
    missing = member.post(SYNC_URL, {"n8n_url": n8n.url}, format="json")
    assert missing.status_code == 400 and "api_key" in str(missing.json())
    bad_url = member.post(SYNC_URL, {"n8n_url": "ftp://x", "api_key": "k"}, format="json")
    assert bad_url.status_code == 400 and "n8n_url" in str(bad_url.json())
    bad_ids = member.post(SYNC_URL, {"n8n_url": n8n.url, "api_key": "k", "workflow_ids": "x"}, format="json")
    assert bad_ids.status_code == 400 and "workflow_ids" in str(bad_ids.json())


def test_integration_api_lists_workflows_hides_the_key_and_reports_a_missing_id(member, organization, n8n, loaded):
    ids = loaded(n8n_workflows.order_lines())
    created = member.post(
        "/api/v1/integrations/",
        {"service_url": n8n.url + "/api/v1", "api_key": n8n.api_key, "name": "ours"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert "api_key" not in body and body["has_api_key"] is True and body["service_url"] == n8n.url
    integration = Integration.objects.get(pk=body["id"])
    Integration.objects.filter(pk=integration.pk).update(allow_private=True)
    listed = member.get(f"/api/v1/integrations/{integration.pk}/workflows/").json()
    assert ids["Order lines"] in {row["id"] for row in listed}
    result = member.post(
        f"/api/v1/integrations/{integration.pk}/sync/",
        {"workflow_ids": [ids["Order lines"], "missing"]},
        format="json",
    ).json()
    assert result["created"] == 1 and result["errors"] == ["n8n has no workflow missing."]
    links = member.get(f"/api/v1/integrations/{integration.pk}/links/").json()
    assert [link["external_id"] for link in links] == [ids["Order lines"]]


def test_async_sync_returns_a_job_to_poll(member, organization, n8n):
    integration = _allow_local(organization, n8n)
    integration.credentials = {"api_key": n8n.api_key}
    integration.save()
    response = member.post(f"/api/v1/integrations/{integration.pk}/sync/?async=1", {}, format="json")
    assert response.status_code == 202
    job = member.get(f"/api/v1/integrations/jobs/{response.json()['id']}/").json()
    assert job["status"] == "pending" and job["result"] is None


def test_another_organizations_integration_is_404(member, other_organization, n8n):
    theirs = Integration.objects.create(organization=other_organization, service_url=n8n.url, name="theirs")
    assert member.get(f"/api/v1/integrations/{theirs.pk}/").status_code == 404
    assert member.post(f"/api/v1/integrations/{theirs.pk}/sync/", {}, format="json").status_code == 404
