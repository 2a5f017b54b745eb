"""Every mutating API call leaves an AuditLog row naming who did what."""

import pytest

from apps.executions.services import execution_start
from apps.orgs.models import AuditLog, Membership
from tests.orgs.factories import UserFactory
from tests.workflows.factories import SIMPLE_DEFINITION

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_each_mutation_is_audited(api_client, organization, member_factory):
    owner = member_factory(organization, "owner")
    api_client.force_authenticate(owner)
    org = str(organization.pk)

    def call(method, url, body=None, expected=None):
        before = AuditLog.objects.count()
        response = getattr(api_client, method)(url, body or {}, format="json")
        assert response.status_code == (expected or {"post": 201, "patch": 200, "delete": 204}[method]), (
            url,
            response.json() if response.content else None,
        )
        assert AuditLog.objects.count() == before + 1, f"{method.upper()} {url} wrote no audit row"
        latest = AuditLog.objects.order_by("-at").first()
        assert latest.actor == owner
        return response.json() if response.content else None

    workflow = call("post", "/api/v1/workflows/", {"name": "A", "definition": SIMPLE_DEFINITION})["id"]
    base = f"/api/v1/workflows/{workflow}"
    call("patch", f"{base}/", {"description": "changed"})
    call("post", f"{base}/activate/", expected=200)
    call("post", f"{base}/deactivate/", expected=200)
    call("post", f"{base}/duplicate/", expected=201)
    document = api_client.get(f"{base}/export/").json()
    call("post", "/api/v1/workflows/import/", {"document": document})
    call("post", f"{base}/versions/1/restore/", expected=200)
    execution = call("post", f"{base}/execute/", expected=202)["id"]
    call("post", f"/api/v1/executions/{execution}/cancel/", expected=200)
    running = execution_start(workflow=organization.workflows.get(pk=workflow))
    call("post", f"/api/v1/executions/{running.pk}/pause/", expected=200)
    call("post", f"/api/v1/executions/{running.pk}/resume/", expected=200)

    schedule = {"workflow": workflow, "kind": "schedule", "config": {"cron": "0 9 * * *"}}
    trigger = call("post", "/api/v1/triggers/", schedule)["id"]
    call("patch", f"/api/v1/triggers/{trigger}/", {"name": "renamed"})
    call("post", f"/api/v1/triggers/{trigger}/rotate-secret/", expected=200)
    call("delete", f"/api/v1/triggers/{trigger}/")

    secret = {"organization": org, "name": "c", "kind": "k", "data": {"t": "x"}}
    credential = call("post", "/api/v1/credentials/", secret)["id"]
    call("patch", f"/api/v1/credentials/{credential}/", {"data": {"token": "t"}})
    call("delete", f"/api/v1/credentials/{credential}/")

    newcomer = UserFactory()
    membership = call("post", "/api/v1/memberships/", {"organization": org, "user": newcomer.username})["id"]
    call("patch", f"/api/v1/memberships/{membership}/", {"role": "viewer"})
    call("delete", f"/api/v1/memberships/{membership}/")
    assert not Membership.objects.filter(user=newcomer).exists()

    key = call("post", "/api/v1/api-keys/", {"organization": org, "name": "k"})["id"]
    call("delete", f"/api/v1/api-keys/{key}/")

    call("patch", f"/api/v1/organizations/{org}/", {"name": "Renamed"})
    call("delete", f"{base}/")
