"""The /integrations hub and the admin pages: a member connects an n8n instance, tests it, chooses workflows,
syncs and reads the report (against the real n8n)."""

import pytest
from django.test import Client

from apps.integrations import services
from apps.integrations.client import N8nClient
from apps.integrations.models import Integration, SyncJob, WorkflowLink
from apps.orgs.models import AuditLog
from tests.orgs.factories import UserFactory

from . import n8n_workflows

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(user, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = False
    client = Client()
    client.force_login(user)
    return client


def test_the_hub_needs_a_sign_in(client):
    assert client.get("/integrations").status_code == 302


def test_a_member_connects_tests_chooses_and_syncs(member_client, organization, n8n):
    n8n_client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)
    n8n_id = n8n_client.create_workflow(n8n_workflows.with_code_ai_and_credentials())["id"]
    page = member_client.get("/integrations")
    assert page.status_code == 200 and b"Connect an n8n instance" in page.content
    member_client.post(
        "/integrations",
        {"action": "connect", "organization": organization.pk, "service_url": n8n.url, "api_key": n8n.api_key},
    )
    integration = Integration.objects.get(organization=organization)
    assert integration.credentials == {"api_key": n8n.api_key}

    refused = member_client.post("/integrations", {"action": "test", "integration": integration.pk}, follow=True)
    assert b"private, loopback" in refused.content  # an admin has not allowed the private address yet
    Integration.objects.filter(pk=integration.pk).update(allow_private=True)
    tested = member_client.post("/integrations", {"action": "test", "integration": integration.pk}, follow=True)
    assert b"connection works" in tested.content

    chooser = member_client.get(f"/integrations?choose={integration.pk}")
    assert f'value="{n8n_id}"'.encode() in chooser.content
    synced = member_client.post(
        "/integrations", {"action": "sync", "integration": integration.pk, "workflow_ids": [n8n_id]}, follow=True
    )
    assert b"Sync finished: 1 in sync (1 created" in synced.content
    assert b"Last sync report" in synced.content and b"AI / LangChain node" in synced.content
    assert WorkflowLink.objects.filter(integration=integration, external_id=n8n_id).exists()


def test_the_hub_audits_its_writes_through_the_services(member_client, organization, user):
    """Connect, test, choose, sync and set key from the hub each leave one row naming the member."""
    member_client.post(
        "/integrations",
        {"action": "connect", "organization": organization.pk, "service_url": "https://n8n.example.com"},
    )
    integration = Integration.objects.get(organization=organization)
    for data in (
        {"action": "test"},
        {"action": "choose", "workflow_ids": ["7"]},
        {"action": "key", "api_key": "s3cr3t-key"},
    ):
        member_client.post("/integrations", {**data, "integration": integration.pk})
    rows = AuditLog.objects.filter(organization=organization).order_by("created_at")
    assert [(row.action, row.actor) for row in rows] == [
        ("integration.create", user),
        ("integration.test", user),
        ("integration.update", user),
        ("integration.update", user),
    ]
    assert [row.data["fields"] for row in rows[2:]] == [["configuration"], ["api_key"]]
    assert "s3cr3t-key" not in str([row.data for row in rows])


def test_a_bad_choice_names_the_field_and_keeps_the_configuration(member_client, organization):
    integration = services.integration_create(organization=organization, service_url="https://n8n.example.com")
    with pytest.raises(Exception) as error:  # the service refuses a non-list directly
        services.integration_choose_workflows(integration=integration, workflow_ids="all")
    assert "workflow_ids" in str(error.value)
    page = member_client.post(
        "/integrations", {"action": "choose", "integration": integration.pk, "workflow_ids": [""]}, follow=True
    )
    assert b"Must be a list of n8n workflow ids" in page.content
    assert Integration.objects.get(pk=integration.pk).configuration == {}


def test_the_hubs_choice_is_kept_for_the_next_and_the_periodic_sync(member_client, organization, user, n8n):
    n8n_client = N8nClient(base_url=n8n.url, api_key=n8n.api_key, allow_private=True)
    first = n8n_client.create_workflow(n8n_workflows.greeting_branch())["id"]
    second = n8n_client.create_workflow(n8n_workflows.order_lines())["id"]
    integration = services.integration_create(
        organization=organization, service_url=n8n.url, api_key=n8n.api_key, allow_private=True
    )
    member_client.post("/integrations", {"action": "choose", "integration": integration.pk, "workflow_ids": [first]})
    assert Integration.objects.get(pk=integration.pk).configuration == {"workflow_ids": [first]}
    chooser = member_client.get(f"/integrations?choose={integration.pk}").content.decode()
    assert f'value="{first}" aria-label' in chooser and "checked" in chooser.split(f'value="{first}"')[1][:80]
    assert "checked" not in chooser.split(f'value="{second}"')[1][:80]

    member_client.post("/integrations", {"action": "sync", "integration": integration.pk})  # the row's "Sync now"
    assert set(WorkflowLink.objects.filter(integration=integration).values_list("external_id", flat=True)) == {first}

    page = member_client.post(
        "/integrations",
        {"action": "sync", "save": "1", "integration": integration.pk, "workflow_ids": [second]},
        follow=True,
    )
    assert b"the next sync (and the periodic one) takes 1 chosen workflow(s)" in page.content
    assert set(WorkflowLink.objects.filter(integration=integration).values_list("external_id", flat=True)) == {
        first,
        second,
    }
    Integration.objects.filter(pk=integration.pk).update(periodic_sync=True)
    services.integration_sync_periodic(integration_id=str(integration.pk))
    assert SyncJob.objects.filter(integration=integration).latest("created_at").workflow_ids == [second]


def test_another_organizations_integration_is_not_shown_or_usable(member_client, other_organization):
    theirs = Integration.objects.create(organization=other_organization, service_url="https://theirs.example.org")
    assert b"theirs.example.org" not in member_client.get("/integrations").content
    assert member_client.post("/integrations", {"action": "test", "integration": theirs.pk}).status_code == 404


def test_the_admin_lists_and_shows_an_integration_without_its_key(organization):
    admin = UserFactory(is_staff=True, is_superuser=True)
    integration = Integration.objects.create(
        organization=organization, service_url="https://n8n.example.com", name="ours", credentials={"api_key": "s3cr3t"}
    )
    client = Client()
    client.force_login(admin)
    assert client.get("/admin/integrations/integration/").status_code == 200
    page = client.get(f"/admin/integrations/integration/{integration.pk}/change/")
    assert page.status_code == 200 and b"s3cr3t" not in page.content


def test_the_admins_writes_are_audited_by_the_services_via_admin(organization):
    admin = UserFactory(is_staff=True, is_superuser=True)
    integration = services.integration_create(organization=organization, service_url="https://n8n.example.com")
    client = Client()
    client.force_login(admin)
    changelist = "/admin/integrations/integration/"
    client.post(changelist, {"action": "test_connection", "_selected_action": [integration.pk]})
    client.post(f"{changelist}{integration.pk}/delete/", {"post": "yes"})
    assert not Integration.objects.filter(pk=integration.pk).exists()
    rows = AuditLog.objects.filter(organization=organization).order_by("created_at")
    assert [(row.action, row.actor, row.data.get("via")) for row in rows] == [
        ("integration.test", admin, "admin"),
        ("integration.delete", admin, "admin"),
    ]
