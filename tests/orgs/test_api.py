"""Organizations, memberships, API keys and the audit log over the API, with a permission matrix per role."""

import pytest

from apps.orgs.api.views import ALREADY_MEMBER, API_KEY_CANNOT, ONLY_OWNER_GRANTS_OWNER
from apps.orgs.models import ApiKey, AuditLog, Membership
from apps.orgs.services import LAST_OWNER, api_key_create
from tests.orgs.factories import UserFactory

pytestmark = pytest.mark.django_db
ROLES = ["viewer", "member", "admin", "owner"]


@pytest.fixture
def as_role(api_client, organization, member_factory):
    def login(role):
        user = member_factory(organization, role)
        api_client.force_authenticate(user)
        return user

    return login


def test_create_organization_makes_the_caller_owner(api_client, user):
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/organizations/", {"name": "Acme", "slug": "acme"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "owner"
    assert Membership.objects.get(user=user, organization_id=response.json()["id"]).role == "owner"
    assert AuditLog.objects.filter(action="organization.create", organization_id=response.json()["id"]).exists()


def test_create_organization_with_a_taken_slug_is_400(api_client, user, organization):
    api_client.force_authenticate(user)
    response = api_client.post("/api/v1/organizations/", {"name": "X", "slug": organization.slug}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/slug"


def test_api_key_cannot_create_organizations(api_client, organization):
    _, raw = api_key_create(organization=organization, name="k", scopes=["admin"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api_client.post("/api/v1/organizations/", {"name": "X", "slug": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == API_KEY_CANNOT


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 403), ("admin", 200), ("owner", 200)])
def test_rename_organization_needs_admin(as_role, api_client, organization, role, expected):
    as_role(role)
    response = api_client.patch(f"/api/v1/organizations/{organization.pk}/", {"name": "New"}, format="json")
    assert response.status_code == expected


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 403), ("admin", 403), ("owner", 204)])
def test_delete_organization_needs_owner(as_role, api_client, organization, role, expected):
    as_role(role)
    assert api_client.delete(f"/api/v1/organizations/{organization.pk}/").status_code == expected


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 403), ("admin", 201), ("owner", 201)])
def test_add_member_needs_admin(as_role, api_client, organization, role, expected):
    as_role(role)
    newcomer = UserFactory()
    body = {"organization": str(organization.pk), "user": newcomer.email, "role": "member"}
    response = api_client.post("/api/v1/memberships/", body, format="json")
    assert response.status_code == expected
    if expected == 201:
        assert response.json()["user"]["username"] == newcomer.username
        assert AuditLog.objects.filter(action="membership.create").count() == 1


def test_add_member_twice_or_unknown_user_is_400(as_role, api_client, organization):
    admin = as_role("admin")
    body = {"organization": str(organization.pk), "user": admin.username}
    assert api_client.post("/api/v1/memberships/", body, format="json").json()["errors"][0]["message"] == ALREADY_MEMBER
    body["user"] = "nobody-like-this"
    assert api_client.post("/api/v1/memberships/", body, format="json").json()["errors"][0]["path"] == "/user"


def test_only_owners_grant_owner(as_role, api_client, organization, member_factory):
    as_role("admin")
    member = member_factory(organization, "member")
    membership = Membership.objects.get(user=member)
    response = api_client.patch(f"/api/v1/memberships/{membership.pk}/", {"role": "owner"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == ONLY_OWNER_GRANTS_OWNER


def test_last_owner_cannot_leave(as_role, api_client):
    owner = as_role("owner")
    membership = Membership.objects.get(user=owner)
    response = api_client.delete(f"/api/v1/memberships/{membership.pk}/")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == LAST_OWNER


def test_owner_changes_a_role_and_it_is_audited(as_role, api_client, organization, member_factory):
    as_role("owner")
    membership = Membership.objects.get(user=member_factory(organization, "viewer"))
    response = api_client.patch(f"/api/v1/memberships/{membership.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert AuditLog.objects.get(action="membership.update").data == {"role": "admin"}


@pytest.mark.parametrize(("role", "expected"), [("viewer", 403), ("member", 403), ("admin", 201), ("owner", 201)])
def test_create_api_key_needs_admin_and_shows_the_key_once(as_role, api_client, organization, role, expected):
    as_role(role)
    body = {"organization": str(organization.pk), "name": "ci", "scopes": ["read"]}
    response = api_client.post("/api/v1/api-keys/", body, format="json")
    assert response.status_code == expected
    if expected == 201:
        key = response.json()["key"]
        assert key.startswith("cm_")
        detail = api_client.get(f"/api/v1/api-keys/{response.json()['id']}/").json()
        assert "key" not in detail
        assert ApiKey.objects.get(pk=response.json()["id"]).hashed_secret not in key


def test_api_key_bad_scope_is_400(as_role, api_client, organization):
    as_role("admin")
    body = {"organization": str(organization.pk), "name": "ci", "scopes": ["root"]}
    response = api_client.post("/api/v1/api-keys/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "/scopes/0"


def test_revoking_an_api_key_stops_it(as_role, api_client, organization):
    as_role("admin")
    api_key, raw = api_key_create(organization=organization, name="k")
    assert api_client.delete(f"/api/v1/api-keys/{api_key.pk}/").status_code == 204
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    api_client.force_authenticate(None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api_client.get("/api/v1/workflows/").status_code == 401


@pytest.mark.parametrize(("role", "visible"), [("viewer", 0), ("member", 0), ("admin", 1), ("owner", 1)])
def test_audit_log_is_for_managers(as_role, api_client, organization, role, visible):
    from apps.orgs.services import audit_log_record

    audit_log_record(organization=organization, actor=None, action="something.done")
    as_role(role)
    assert len(api_client.get("/api/v1/audit-log/").json()["results"]) == visible


def test_audit_log_is_read_only(as_role, api_client):
    as_role("owner")
    assert api_client.post("/api/v1/audit-log/", {}, format="json").status_code == 405


def test_lists_page_with_cursors(as_role, api_client, organization, member_factory):
    as_role("admin")
    for _ in range(4):
        member_factory(organization, "viewer")
    first = api_client.get("/api/v1/memberships/", {"page_size": 2}).json()
    second = api_client.get(first["next"]).json()
    third = api_client.get(second["next"]).json()
    ids = [m["id"] for page in (first, second, third) for m in page["results"]]
    assert len(ids) == len(set(ids)) == 5
    assert third["next"] is None
