"""The test suite's own set-up: what keeps it fast without touching production settings."""

import pytest
from django.conf import settings

from tests.orgs.factories import UserFactory


@pytest.mark.django_db
def test_test_users_get_a_fast_password_hash():
    """Users made in tests are hashed with MD5 (one PBKDF2 hash costs over a second on a busy machine)."""
    user = UserFactory()

    assert user.password.startswith("md5$")
    assert user.check_password("pass-word-123")


def test_production_settings_keep_django_default_hashers():
    """The fast hasher lives in the tests' conftest only: the settings module names no hasher of its own."""
    source = (settings.BASE_DIR / "concertmaster" / "settings.py").read_text()

    assert "PASSWORD_HASHERS" not in source
