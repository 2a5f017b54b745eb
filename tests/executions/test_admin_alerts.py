"""The alert rule admin: scoped to the organizations a staff member manages, saved through the audited services,
and its test-send action sends through the rule's channel."""

import pytest
from django.core import mail
from django.urls import reverse

from apps.executions import alerts
from apps.executions.alert_models import AlertMessage, AlertRule
from apps.orgs.models import AuditLog
from tests.orgs.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
RULE = {"name": "Failures", "kind": "production_failure", "channel": "email", "target": "ops@example.com"}


@pytest.fixture
def staff_client(client, organization):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return client


def test_a_staff_admin_adds_a_rule_through_the_service(staff_client, organization):
    body = {**RULE, "organization": organization.pk, "min_runs": 5, "window_minutes": 60, "digest_minutes": 5}
    response = staff_client.post(reverse("admin:executions_alertrule_add"), {**body, "is_active": "on"})

    assert response.status_code == 302, response.content[:2000]
    rule = AlertRule.objects.get()
    assert AuditLog.objects.get(action="alert_rule.create", target_id=str(rule.pk)).data.get("via") == "admin"


def test_another_organizations_rule_is_not_listed(staff_client, organization, other_organization):
    alerts.alert_rule_create(organization=organization, **RULE)
    theirs = alerts.alert_rule_create(organization=other_organization, **{**RULE, "name": "Theirs"})

    page = staff_client.get(reverse("admin:executions_alertrule_changelist")).content.decode()

    assert "Failures" in page and "Theirs" not in page
    assert staff_client.get(reverse("admin:executions_alertrule_change", args=[theirs.pk])).status_code in (302, 404)


def test_the_test_action_sends_a_message(staff_client, organization, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rule = alerts.alert_rule_create(organization=organization, **RULE)
    changelist = reverse("admin:executions_alertrule_changelist")

    staff_client.post(changelist, {"action": "send_test_message", "_selected_action": [rule.pk]})

    assert [message.to for message in mail.outbox] == [["ops@example.com"]]
    assert AlertMessage.objects.get().test is True
