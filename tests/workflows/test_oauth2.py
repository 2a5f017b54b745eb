"""The OAuth2 authorization-code consent against a real local provider: Connect redirects with a signed state and
PKCE, the callback exchanges the code and stores the tokens encrypted in the credential; a forged, replayed or
another user's state, a refusal and a wrong kind are clear 400s that store nothing."""

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.db import connection

from apps.orgs.models import AuditLog
from apps.orgs.variables import org_secret_create
from apps.workflows.models import Credential
from apps.workflows.oauth2 import NOT_AUTHORIZATION_CODE, PROVIDER_REFUSED, STATE_INVALID, STATE_OTHER_USER
from apps.workflows.services import credential_create
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.oauth2_provider import OAuth2Provider

pytestmark = pytest.mark.django_db
CLIENT_SECRET = "cs-9d2e-never-shown"


@pytest.fixture
def provider(settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True  # the provider is on loopback
    with OAuth2Provider("app", CLIENT_SECRET) as running:
        yield running


@pytest.fixture
def admin(organization, client):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return user


def _credential(organization, provider, **extra) -> Credential:
    data = {
        "authorize_url": f"{provider.url}/authorize",
        "token_url": f"{provider.url}/token",
        "client_id": "app",
        "client_secret": CLIENT_SECRET,
        "scope": "read write",
        **extra,
    }
    return credential_create(organization=organization, name="crm", kind="oauth2_authorization_code", data=data)


def _consent(client, provider, credential) -> tuple[str, dict]:
    """Connect, then the provider's consent page (real HTTP): the callback path and query it sends the user to."""
    connect = client.get(f"/credentials/{credential.pk}/oauth2/connect/")
    assert connect.status_code == 302, connect.content
    assert connect["Location"].startswith(f"{provider.url}/authorize?")
    consent = httpx.get(connect["Location"], follow_redirects=False)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["location"])
    return back.path, {key: values[0] for key, values in parse_qs(back.query).items()}


def test_connect_redirects_with_a_signed_state_and_pkce_and_the_callback_stores_the_tokens(
    client, organization, admin, provider
):
    credential = _credential(organization, provider)

    path, query = _consent(client, provider, credential)
    done = client.get(path, query)

    asked = provider.authorize_requests[0]
    assert asked["response_type"] == "code" and asked["client_id"] == "app" and asked["scope"] == "read write"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == "http://testserver/oauth2/callback/"
    assert CLIENT_SECRET not in str(asked)
    assert done.status_code == 200, done.content
    exchange = provider.token_requests[0]
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]
    credential.refresh_from_db()
    assert credential.data["access_token"] == "at-2-app" and credential.data["refresh_token"] == "rt-2-app"
    assert credential.data["expires_at"] > 0 and credential.data["client_secret"] == CLIENT_SECRET
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {Credential._meta.db_table}")
        assert "at-2-app" not in str(cursor.fetchall())  # encrypted at rest
    row = AuditLog.objects.get(action="credential.connect")
    assert row.actor == admin and row.data == {"name": "crm", "refreshable": True}
    answers = client.get(f"/api/v1/credentials/{credential.pk}/").content + done.content
    for secret in (CLIENT_SECRET, "at-2-app", "rt-2-app"):
        assert secret.encode() not in answers


def test_the_client_secret_may_be_an_org_secret(client, organization, admin, provider):
    org_secret_create(organization=organization, name="CRM_SECRET", value=CLIENT_SECRET)
    credential = _credential(organization, provider, client_secret="{{ org.secrets.CRM_SECRET }}")

    path, query = _consent(client, provider, credential)

    assert client.get(path, query).status_code == 200
    assert provider.token_requests[0]["client_secret"] == CLIENT_SECRET
    credential.refresh_from_db()
    assert credential.data["client_secret"] == "{{ org.secrets.CRM_SECRET }}"  # the reference stays
    assert credential.data["access_token"].startswith("at-")


def test_a_replayed_callback_is_refused(client, organization, admin, provider):
    path, query = _consent(client, provider, _credential(organization, provider))
    assert client.get(path, query).status_code == 200

    again = client.get(path, query)

    assert again.status_code == 400 and STATE_INVALID.encode() in again.content
    assert len(provider.token_requests) == 1


def test_a_forged_state_is_refused_and_nothing_is_stored(client, organization, admin, provider):
    credential = _credential(organization, provider)
    path, query = _consent(client, provider, credential)

    forged = client.get(path, {**query, "state": query["state"][:-2] + "xx"})

    assert forged.status_code == 400 and STATE_INVALID.encode() in forged.content
    credential.refresh_from_db()
    assert "access_token" not in credential.data and provider.token_requests == []


def test_another_users_state_is_refused(client, organization, admin, provider):
    credential = _credential(organization, provider)
    path, query = _consent(client, provider, credential)
    other = UserFactory()
    MembershipFactory(user=other, organization=organization, role="owner")
    client.force_login(other)

    answer = client.get(path, query)

    assert answer.status_code == 400 and STATE_OTHER_USER.encode() in answer.content
    assert provider.token_requests == []


def test_a_refused_consent_is_a_400_naming_the_providers_error(client, organization, admin, provider):
    provider.deny = True
    path, query = _consent(client, provider, _credential(organization, provider))

    answer = client.get(path, query)

    assert answer.status_code == 400
    assert PROVIDER_REFUSED.format(error="access_denied").encode() in answer.content


def test_only_an_authorization_code_credential_connects(client, organization, admin, provider):
    bearer = credential_create(organization=organization, name="b", kind="bearer", data={"token": "t"})
    assert client.get(f"/credentials/{bearer.pk}/oauth2/connect/").status_code == 400

    api = client.post(f"/api/v1/credentials/{bearer.pk}/oauth2-authorize/")
    assert api.status_code == 400 and NOT_AUTHORIZATION_CODE in str(api.json())


def test_a_member_or_another_organization_cannot_connect(client, organization, other_organization, provider):
    credential = _credential(organization, provider)
    member = UserFactory()
    MembershipFactory(user=member, organization=organization, role="member")
    client.force_login(member)
    assert client.get(f"/credentials/{credential.pk}/oauth2/connect/").status_code == 404
    assert client.post(f"/api/v1/credentials/{credential.pk}/oauth2-authorize/").status_code == 403
    stranger = UserFactory()
    MembershipFactory(user=stranger, organization=other_organization, role="owner")
    client.force_login(stranger)
    assert client.get(f"/credentials/{credential.pk}/oauth2/connect/").status_code == 404
    assert provider.authorize_requests == []


def test_the_api_gives_the_consent_url(client, organization, admin, provider):
    credential = _credential(organization, provider)

    answer = client.post(f"/api/v1/credentials/{credential.pk}/oauth2-authorize/")

    assert answer.status_code == 200
    url = answer.json()["authorize_url"]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{provider.url}/authorize?") and query["code_challenge_method"] == ["S256"]
    assert query["state"][0] and CLIENT_SECRET not in url


def test_the_admin_change_page_shows_the_connect_link(client, organization, admin, provider):
    admin.is_staff = True
    admin.save(update_fields=["is_staff"])
    credential = _credential(organization, provider)

    page = client.get(f"/admin/workflows/credential/{credential.pk}/change/")

    assert page.status_code == 200
    assert f'href="/credentials/{credential.pk}/oauth2/connect/"'.encode() in page.content
    assert b"not connected" in page.content and CLIENT_SECRET.encode() not in page.content
