"""Fixtures shared by every test package."""

import pytest
from django.test import override_settings

from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory

#: One PBKDF2 hash costs over a second on a busy machine and every factory user needs one; tests need no strength.
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hasher():
    """Test users are hashed with MD5 (test settings only; production keeps Django's hashers)."""
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        yield


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
