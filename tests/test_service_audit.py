"""Every mutating service writes its own audit row: called from outside a request (a task, a command, a consumer),
with the actor passed, the row is there, naming the actor (a user, or an API key's creator with its prefix)."""

import pytest

from apps.orgs import services as org_services
from apps.orgs.models import AuditLog
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _organization_create(org, actor):
    return org_services.organization_create(name="New", slug="new-org", actor=actor), "organization.create"


def _organization_update(org, actor):
    return org_services.organization_update(organization=org, name="Renamed", actor=actor), "organization.update"


def _membership_set(org, actor):
    org_services.membership_set(organization=org, user=UserFactory(), role="viewer", actor=actor)
    return org, "membership.create"


def _membership_update(org, actor):
    membership = MembershipFactory(organization=org, role="viewer")
    org_services.membership_update(membership=membership, role="member", actor=actor)
    return org, "membership.update"


def _membership_delete(org, actor):
    org_services.membership_delete(membership=MembershipFactory(organization=org, role="viewer"), actor=actor)
    return org, "membership.delete"


def _api_key_create(org, actor):
    org_services.api_key_create(organization=org, name="k", actor=actor)
    return org, "api_key.create"


def _api_key_update(org, actor):
    api_key, _ = org_services.api_key_create(organization=org, name="k")
    org_services.api_key_update(api_key=api_key, name="k2", scopes=["read"], expires_at=None, actor=actor)
    return org, "api_key.update"


def _api_key_revoke(org, actor):
    api_key, _ = org_services.api_key_create(organization=org, name="k")
    org_services.api_key_revoke(api_key=api_key, actor=actor)
    return org, "api_key.revoke"


SERVICES = [
    _organization_create,
    _organization_update,
    _membership_set,
    _membership_update,
    _membership_delete,
    _api_key_create,
    _api_key_update,
    _api_key_revoke,
]


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def person(org):
    return MembershipFactory(organization=org, role="owner").user


@pytest.mark.parametrize("call", SERVICES, ids=lambda call: call.__name__.lstrip("_"))
def test_service_called_with_a_user_writes_its_audit_row(call, org, person):
    """A user's write outside any request is audited with that user as the actor."""
    organization, action = call(org, person)
    row = AuditLog.objects.get(organization=organization, action=action)
    assert row.actor == person
    assert "via" not in row.data


@pytest.mark.parametrize("call", SERVICES, ids=lambda call: call.__name__.lstrip("_"))
def test_service_called_with_an_api_key_names_the_key(call, org, person):
    """An API key's write is audited with its creator as the actor and the key's prefix in the data."""
    api_key, _ = org_services.api_key_create(organization=org, name="robot", created_by=person)
    organization, action = call(org, api_key)
    row = AuditLog.objects.get(organization=organization, action=action)
    assert (row.actor, row.data["api_key"]) == (person, api_key.prefix)


@pytest.mark.parametrize("call", SERVICES, ids=lambda call: call.__name__.lstrip("_"))
def test_service_called_without_an_actor_writes_no_row(call, org):
    """The platform acting on its own (or a service inside another) leaves the row to the outer call."""
    call(org, None)
    assert not AuditLog.objects.exists()


def test_a_row_says_which_interface_it_came_through(org, person):
    """Inside `audit_via`, rows carry `via` (the admin wraps its views in it)."""
    with org_services.audit_via("command"):
        org_services.organization_update(organization=org, name="Renamed", actor=person)
    assert AuditLog.objects.get(action="organization.update").data == {"fields": ["name"], "via": "command"}
