import pytest
from django.db import IntegrityError

from apps.orgs.models import ApiKey, AuditLog, Membership
from apps.orgs.services import api_key_authenticate, api_key_create, api_key_revoke
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_membership_is_unique_per_user_and_organization():
    """A user holds one membership per organization."""
    membership = MembershipFactory()
    with pytest.raises(IntegrityError):
        Membership.objects.create(user=membership.user, organization=membership.organization, role="viewer")


def test_membership_role_must_be_known():
    """The database refuses a role outside owner/admin/member/viewer."""
    with pytest.raises(IntegrityError):
        MembershipFactory(role="emperor")


@pytest.mark.parametrize("model", [Membership, ApiKey, AuditLog])
def test_tenant_rows_need_an_organization(model):
    """Every tenant row is refused without an organization."""
    fields = {"user": UserFactory()} if model is Membership else {}
    with pytest.raises(IntegrityError):
        model.objects.create(organization=None, **fields)


def test_api_key_is_stored_hashed_and_authenticates():
    """The raw key is returned once, only its hash is stored, and it authenticates until revoked."""
    organization = OrganizationFactory()
    api_key, raw = api_key_create(organization=organization, name="ci")
    assert raw.startswith("cm_") and api_key.prefix in raw
    secret = raw.rsplit("_", 1)[1]
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert secret not in stored.hashed_secret
    assert api_key_authenticate(raw_key=raw) == api_key
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None
    assert api_key_authenticate(raw_key=raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    api_key_revoke(api_key=api_key)
    assert api_key_authenticate(raw_key=raw) is None


def test_unknown_api_key_formats_do_not_authenticate():
    assert api_key_authenticate(raw_key="Bearer nothing") is None
    assert api_key_authenticate(raw_key="cm_") is None
