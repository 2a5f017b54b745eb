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


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def member_factory(db):
    """member_factory(organization, role) -> a new user holding `role` in `organization`."""

    def make(organization, role="member"):
        user = UserFactory()
        MembershipFactory(user=user, organization=organization, role=role)
        return user

    return make
