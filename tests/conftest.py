"""Fixtures shared by every test package."""

import pytest

from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def other_organization(db):
    return OrganizationFactory()


@pytest.fixture
def user(db, organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="member")
    return user
