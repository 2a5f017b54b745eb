"""The retention policies admin: an organization's admins set its periods through the audited service; another
organization's policy is out of their reach."""

import pytest
from django.urls import reverse

from apps.orgs.models import AuditLog, RetentionPolicy
from apps.orgs.retention import retention_policy_set
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff_with_role(organization, role: str):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def form(organization, **days) -> dict:
    fields = ["audit_log_days", "webhook_delivery_days", "form_submission_days", "execution_log_days"]
    fields += ["datastore_days", "file_days"]
    return {"organization": str(organization.pk), **{field: days.get(field, "") for field in fields}}


def test_an_org_admin_sets_periods_through_the_audited_service(client, organization):
    admin_user = staff_with_role(organization, "admin")
    client.force_login(admin_user)
    response = client.post(reverse("admin:orgs_retentionpolicy_add"), form(organization, audit_log_days=30))
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = RetentionPolicy.objects.get(organization=organization)
    assert (policy.audit_log_days, policy.form_submission_days) == (30, None)
    row = AuditLog.objects.get(organization=organization, action="retention_policy.update")
    assert row.actor == admin_user


def test_a_member_cannot_change_periods_and_another_organization_is_out_of_reach(client, organization):
    other = OrganizationFactory()
    foreign = retention_policy_set(organization=other, audit_log_days=5)
    client.force_login(staff_with_role(organization, "member"))
    assert client.post(reverse("admin:orgs_retentionpolicy_add"), form(organization)).status_code == 403
    client.force_login(staff_with_role(organization, "admin"))
    change = reverse("admin:orgs_retentionpolicy_change", args=[foreign.pk])
    assert client.post(change, form(other, audit_log_days=500)).status_code in (302, 403, 404)
    assert RetentionPolicy.objects.get(pk=foreign.pk).audit_log_days == 5
