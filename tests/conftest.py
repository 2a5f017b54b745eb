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


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server on a free loopback port (tests/s3server.py), for the session."""
    from tests import s3server

    server = s3server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_auth_server():
    """The same server with IAM checks on: a wrong key or secret is refused as S3 refuses it."""
    from tests import s3server

    server = s3server.start(enforce_auth=True)
    yield server
    server.stop()


@pytest.fixture
def local_files(settings, tmp_path):
    """The platform file storage on the local filesystem (the embedded mode), in a folder of the test's own."""
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return tmp_path


@pytest.fixture
def s3_files(settings, s3_server):
    """The platform file storage on S3 (the production mode): a fresh bucket of the moto server, through
    django-storages' S3Storage."""
    import uuid

    bucket = f"files-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "files": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server.url,
                "region_name": "us-east-1",
                "access_key": s3_server.access_key_id,
                "secret_key": s3_server.secret_access_key,
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": None,
                "file_overwrite": False,
                "querystring_expire": 60,
            },
        },
    }
    return bucket


@pytest.fixture(params=["local", "s3"])
def file_storage_mode(request):
    """Each test that takes it runs twice: files on the local filesystem, then on S3."""
    request.getfixturevalue("local_files" if request.param == "local" else "s3_files")
    return request.param
