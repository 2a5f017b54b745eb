"""Authentication: API keys, JWT, sessions; throttles per caller and per organization."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from apps.orgs.api.authentication import INVALID_API_KEY
from apps.orgs.models import ApiKey
from apps.orgs.services import api_key_create, api_key_revoke
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


def _bearer(client, raw_key: str):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def test_api_key_sees_its_organization_only(api_client, organization, other_organization):
    mine = WorkflowFactory(organization=organization)
    WorkflowFactory(organization=other_organization)
    _, raw = api_key_create(organization=organization, name="ci")
    response = _bearer(api_client, raw).get("/api/v1/workflows/")
    assert response.status_code == 200
    assert [w["id"] for w in response.json()["results"]] == [str(mine.pk)]


def test_api_key_use_is_recorded(api_client, organization):
    api_key, raw = api_key_create(organization=organization, name="ci")
    _bearer(api_client, raw).get("/api/v1/workflows/")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


@pytest.mark.parametrize("spoil", ["revoked", "expired", "wrong_secret", "unknown_prefix"])
def test_unusable_api_keys_get_401(api_client, organization, spoil):
    api_key, raw = api_key_create(organization=organization, name="ci")
    if spoil == "revoked":
        api_key_revoke(api_key=api_key)
    elif spoil == "expired":
        ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    elif spoil == "wrong_secret":
        raw = raw[:-4] + "abcd"
    else:
        raw = "cm_ffffffff_" + raw.split("_", 2)[2]
    response = _bearer(api_client, raw).get("/api/v1/workflows/")
    assert response.status_code == 401
    assert response.json()["detail"] == INVALID_API_KEY


def test_read_scoped_api_key_cannot_create(api_client, organization):
    _, raw = api_key_create(organization=organization, name="ro", scopes=["read"])
    body = {"name": "w", "definition": {"nodes": [], "edges": []}}
    response = _bearer(api_client, raw).post("/api/v1/workflows/", body, format="json")
    assert response.status_code == 403


def test_jwt_obtain_refresh_verify_and_use(api_client, user):
    credentials = {"username": user.username, "password": "pass-word-123"}
    response = api_client.post("/api/v1/auth/token/", credentials, format="json")
    assert response.status_code == 200
    tokens = response.json()
    assert api_client.post("/api/v1/auth/token/verify/", {"token": tokens["access"]}, format="json").status_code == 200
    refreshed = api_client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    assert api_client.get("/api/v1/workflows/").status_code == 200


def test_jwt_with_wrong_password_is_401(api_client, user):
    response = api_client.post("/api/v1/auth/token/", {"username": user.username, "password": "nope"}, format="json")
    assert response.status_code == 401
    assert set(response.json()) == {"type", "detail", "errors"}


def test_session_write_needs_csrf(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get("/api/v1/workflows/").status_code == 200
    response = client.post("/api/v1/workflows/", {"name": "w", "definition": {}}, format="json")
    assert response.status_code == 403


def _rates(user: str = "1000/min", organization: str = "1000/min") -> dict:
    from django.conf import settings

    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "user": user, "organization": organization}
    return rest


def test_caller_throttle_answers_429_with_retry_after(api_client, user):
    cache.clear()
    api_client.force_authenticate(user)
    with override_settings(REST_FRAMEWORK=_rates(user="3/min")):
        codes = [api_client.get("/api/v1/workflows/").status_code for _ in range(4)]
        response = api_client.get("/api/v1/workflows/")
    assert codes == [200, 200, 200, 429]
    assert response.json()["type"] == "throttled"
    assert int(response["Retry-After"]) > 0


def test_organization_throttle_is_shared_by_its_members(api_client, organization, member_factory):
    cache.clear()
    first, second = member_factory(organization), member_factory(organization)
    with override_settings(REST_FRAMEWORK=_rates(organization="3/min")):
        for caller in (first, first, second):
            api_client.force_authenticate(caller)
            assert api_client.get("/api/v1/workflows/").status_code == 200
        api_client.force_authenticate(second)
        assert api_client.get("/api/v1/workflows/").status_code == 429
