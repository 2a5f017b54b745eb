"""The dashboard pages: the admin index and `/analytics`, rendered without JavaScript, each scoped to who asks."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.executions.models import WorkflowExecution
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_dashboard_cache(settings):
    settings.CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS = 0


@pytest.fixture
def two_tenants(organization, other_organization):
    mine = WorkflowFactory(organization=organization, name="mine-flow")
    theirs = WorkflowFactory(organization=other_organization, name="theirs-secret-flow")
    for workflow, status, count in ((mine, "succeeded", 2), (mine, "failed", 1), (theirs, "failed", 7)):
        for _ in range(count):
            execution = WorkflowExecutionFactory(workflow=workflow, status=status)
            now = timezone.now()
            WorkflowExecution.objects.filter(pk=execution.pk).update(
                started_at=now - timedelta(seconds=2), finished_at=now
            )
    return mine, theirs


def window_row(html: str, index: int) -> list[str]:
    row = re.search(rf'<tr data-window="{index}">(.*?)</tr>', html, re.S).group(1)
    return re.findall(r"<td>(\d+)</td>", row)


def test_analytics_requires_login(client):
    response = client.get(reverse("analytics"))
    assert response.status_code == 302


def test_analytics_shows_the_members_organizations_only(client, organization, two_tenants):
    member = UserFactory()
    MembershipFactory(user=member, organization=organization, role="viewer")
    client.force_login(member)
    response = client.get(reverse("analytics"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<script" not in html
    assert "<svg" in html
    assert window_row(html, 1) == ["3", "2", "1", "0", "0", "0", "0"]  # total, succeeded, failed, ...
    assert "mine-flow" in html
    assert "theirs-secret-flow" not in html
    assert 'data-queue="' not in html  # the broker's queues are platform-wide: not a member's
    assert "/admin/" not in html.split('id="ops-dashboard"')[1]


def test_admin_index_shows_every_organization_to_a_superuser(client, two_tenants):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:index"))
    html = response.content.decode()
    assert response.status_code == 200
    assert window_row(html, 1) == ["10", "2", "8", "0", "0", "0", "0"]
    assert "theirs-secret-flow" in html and "mine-flow" in html
    assert 'data-queue="celery"' in html
    assert 'href="/admin/executions/nodeexecution/?stuck=lease_expired"' in html
    assert "app-executions" in html  # Django's app list is still there, under the dashboard


def test_admin_index_is_scoped_for_staff_of_one_organization(client, organization, two_tenants):
    staff = UserFactory(is_staff=True)
    MembershipFactory(user=staff, organization=organization, role="admin")
    client.force_login(staff)
    html = client.get(reverse("admin:index")).content.decode()
    assert window_row(html, 1) == ["3", "2", "1", "0", "0", "0", "0"]
    assert "theirs-secret-flow" not in html
    assert 'data-queue="' not in html


def test_the_dashboard_is_kept_in_the_cache_for_a_while(client, organization, two_tenants, settings):
    """Within CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS a reload shows the numbers computed first."""
    settings.CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS = 60
    member = UserFactory()
    MembershipFactory(user=member, organization=organization, role="viewer")
    client.force_login(member)
    assert window_row(client.get(reverse("analytics")).content.decode(), 1)[0] == "3"
    WorkflowExecutionFactory(workflow=two_tenants[0], status="failed")
    assert window_row(client.get(reverse("analytics")).content.decode(), 1)[0] == "3"
    settings.CONCERTMASTER_OPS_DASHBOARD_CACHE_SECONDS = 0
    assert window_row(client.get(reverse("analytics")).content.decode(), 1)[0] == "4"
