"""The back office for organizations, memberships, API keys and the audit log."""

import pytest
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.orgs.admin import API_KEY_SHOWN_ONCE, ONLY_OWNER_GRANTS_OWNER
from apps.orgs.models import ApiKey, AuditLog, Membership, Organization
from apps.orgs.services import LAST_OWNER, api_key_authenticate, api_key_create, audit_log_record
from tests.orgs.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff_with_role(organization: Organization, role: str):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def org_admin(organization):
    return staff_with_role(organization, "admin")


@pytest.fixture
def org_admin_client(client, org_admin):
    client.force_login(org_admin)
    return client


def make_rows(organization: Organization) -> dict[type, object]:
    """One row of every model of the app in `organization`, each with a name unique to it."""
    member = UserFactory(username=f"member-of-{organization.slug}")
    api_key, _ = api_key_create(organization=organization, name=f"key-of-{organization.slug}")
    return {
        Organization: organization,
        Membership: MembershipFactory(organization=organization, user=member, role="member"),
        ApiKey: api_key,
        AuditLog: audit_log_record(organization=organization, actor=None, action=f"did-{organization.slug}"),
    }


def listed_as(row) -> str:
    """The text a changelist shows for `row`."""
    if isinstance(row, Membership):
        return row.user.username
    if isinstance(row, AuditLog):
        return row.action
    return row.name


def url(model: type, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_model_of_the_app_is_registered():
    for model in apps.get_app_config("orgs").get_models():
        assert admin.site.is_registered(model), model


@pytest.mark.parametrize("model", [Organization, Membership, ApiKey, AuditLog])
def test_superuser_sees_every_page(admin_client, organization, other_organization, model):
    rows = make_rows(organization)
    make_rows(other_organization)

    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "change", rows[model].pk)).status_code == 200
    expected_add = 403 if model is AuditLog else 200
    assert admin_client.get(url(model, "add")).status_code == expected_add


@pytest.mark.parametrize("model", [Organization, Membership, ApiKey, AuditLog])
def test_org_admin_sees_only_their_organization(org_admin_client, organization, other_organization, model):
    own, foreign = make_rows(organization), make_rows(other_organization)

    changelist = org_admin_client.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert listed_as(own[model]) in changelist.content.decode()
    assert listed_as(foreign[model]) not in changelist.content.decode()
    assert org_admin_client.get(url(model, "change", own[model].pk)).status_code == 200

    foreign_page = org_admin_client.get(url(model, "change", foreign[model].pk))
    assert foreign_page.status_code == 302
    assert foreign_page.url == reverse("admin:index")
    assert org_admin_client.post(url(model, "delete", foreign[model].pk), {"post": "yes"}).status_code in (302, 403)
    assert model.objects.filter(pk=foreign[model].pk).exists()


@pytest.mark.parametrize("model", [Membership, ApiKey])
def test_org_admin_add_forms_render(org_admin_client, model):
    assert org_admin_client.get(url(model, "add")).status_code == 200


def test_only_superusers_create_organizations(admin_client, org_admin_client):
    assert org_admin_client.get(url(Organization, "add")).status_code == 403

    response = admin_client.post(
        url(Organization, "add"),
        {
            "name": "Acme",
            "slug": "acme",
            "settings": '{"timezone": "UTC"}',
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    assert Organization.objects.get(slug="acme").settings == {"timezone": "UTC"}


def test_staff_without_membership_sees_no_organization_data(client, organization):
    make_rows(organization)
    client.force_login(UserFactory(is_staff=True))

    assert client.get(url(Organization, "changelist")).status_code == 403
    assert "Organizations" not in client.get(reverse("admin:index")).content.decode()


def test_viewer_views_but_does_not_manage(client, organization):
    rows = make_rows(organization)
    client.force_login(staff_with_role(organization, "viewer"))

    assert client.get(url(Organization, "changelist")).status_code == 200
    assert client.get(url(Membership, "add")).status_code == 403
    assert client.post(url(Membership, "change", rows[Membership].pk), {"role": "owner"}).status_code == 403
    # API keys and the audit log are for owners and admins only, as in the API.
    assert client.get(url(ApiKey, "changelist")).status_code == 403
    assert client.get(url(AuditLog, "change", rows[AuditLog].pk)).status_code == 403


def test_org_admin_cannot_delete_the_organization_but_owner_can(client, organization):
    client.force_login(staff_with_role(organization, "admin"))
    assert client.post(url(Organization, "delete", organization.pk), {"post": "yes"}).status_code == 403

    client.force_login(staff_with_role(organization, "owner"))
    assert client.post(url(Organization, "delete", organization.pk), {"post": "yes"}).status_code == 302
    assert not Organization.objects.filter(pk=organization.pk).exists()


def test_creating_an_api_key_shows_the_secret_once(org_admin_client, organization):
    response = org_admin_client.post(
        url(ApiKey, "add"), {"organization": organization.pk, "name": "ci", "scopes": '["read"]'}
    )

    assert response.status_code == 302
    api_key = ApiKey.objects.get(name="ci")
    shown = [str(m) for m in get_messages(response.wsgi_request) if m.level == messages.WARNING]
    assert len(shown) == 1
    raw_key = shown[0].split(": ", 1)[1].split(" ", 1)[0]
    assert shown[0] == API_KEY_SHOWN_ONCE.format(name="ci", raw_key=raw_key)
    assert raw_key.startswith(f"cm_{api_key.prefix}_")
    secret = raw_key.split("_", 2)[2]
    assert api_key_authenticate(raw_key=raw_key) == api_key
    assert secret not in api_key.hashed_secret
    assert api_key.created_by.is_staff

    # The next page shows the message; no later page shows the secret or its hash.
    assert raw_key in org_admin_client.get(url(ApiKey, "changelist")).content.decode()
    for page in (url(ApiKey, "changelist"), url(ApiKey, "change", api_key.pk)):
        content = org_admin_client.get(page).content.decode()
        assert secret not in content
        assert api_key.hashed_secret not in content


def test_api_key_cannot_be_created_in_another_organization(org_admin_client, other_organization):
    response = org_admin_client.post(url(ApiKey, "add"), {"organization": other_organization.pk, "name": "sneaky"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.filter(name="sneaky").exists()


def test_revoke_action_revokes_keys(org_admin_client, organization):
    api_key, _ = api_key_create(organization=organization, name="old")

    response = org_admin_client.post(
        url(ApiKey, "changelist"), {"action": "revoke_keys", "_selected_action": [api_key.pk]}
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "Revoked" in org_admin_client.get(url(ApiKey, "changelist")).content.decode()


def test_membership_role_changes_through_the_service(org_admin_client, organization):
    membership = MembershipFactory(organization=organization, role="viewer")

    response = org_admin_client.post(url(Membership, "change", membership.pk), {"role": "member"})

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "member"


def test_duplicate_membership_is_a_form_error(org_admin_client, organization, org_admin):
    response = org_admin_client.post(
        url(Membership, "add"), {"organization": organization.pk, "user": org_admin.pk, "role": "viewer"}
    )

    assert response.status_code == 200
    assert Membership.objects.get(user=org_admin).role == "admin"


def test_org_admin_picks_users_only_from_their_organizations(org_admin_client, organization, other_organization):
    outsider = MembershipFactory(organization=other_organization).user

    response = org_admin_client.post(
        url(Membership, "add"), {"organization": organization.pk, "user": outsider.pk, "role": "member"}
    )

    assert response.status_code == 200
    assert not Membership.objects.filter(user=outsider, organization=organization).exists()
    assert outsider.username not in org_admin_client.get(url(Membership, "add")).content.decode()


def test_memberships_are_added_inline(admin_client, organization):
    newcomer = UserFactory()

    response = admin_client.post(
        url(Organization, "change", organization.pk),
        {
            "name": organization.name,
            "slug": organization.slug,
            "settings": "{}",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": "viewer",
        },
    )

    assert response.status_code == 302
    assert Membership.objects.get(user=newcomer, organization=organization).role == "viewer"


def test_search_by_full_id(org_admin_client, organization):
    rows = make_rows(organization)
    other = MembershipFactory(organization=organization)

    page = org_admin_client.get(url(Membership, "changelist"), {"q": str(rows[Membership].pk)}).content.decode()

    assert str(rows[Membership].user) in page
    assert str(other.user) not in page


def test_only_owners_grant_the_owner_role(org_admin_client, organization):
    membership = MembershipFactory(organization=organization, role="member")

    response = org_admin_client.post(url(Membership, "change", membership.pk), {"role": "owner"})

    assert response.status_code == 200
    assert ONLY_OWNER_GRANTS_OWNER in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "member"


def test_the_last_owner_cannot_be_demoted_or_removed(client, organization):
    owner = staff_with_role(organization, "owner")
    membership = Membership.objects.get(user=owner)
    client.force_login(owner)

    demoted = client.post(url(Membership, "change", membership.pk), {"role": "admin"})
    removed = client.post(url(Membership, "delete", membership.pk), {"post": "yes"}, follow=True)

    assert demoted.status_code == 200
    assert LAST_OWNER in demoted.content.decode()
    assert LAST_OWNER in removed.content.decode()
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_bulk_delete_that_a_service_refuses_deletes_nothing(admin_client, organization):
    owner = MembershipFactory(organization=organization, role="owner")
    member = MembershipFactory(organization=organization, role="member")

    response = admin_client.post(
        url(Membership, "changelist"),
        {"action": "delete_selected", "_selected_action": [owner.pk, member.pk], "post": "yes"},
        follow=True,
    )

    assert LAST_OWNER in response.content.decode()
    assert Membership.objects.filter(pk__in=[owner.pk, member.pk]).count() == 2


def test_admin_changes_are_audited(org_admin_client, organization, org_admin):
    membership = MembershipFactory(organization=organization, role="viewer")

    org_admin_client.post(url(Membership, "change", membership.pk), {"role": "member"})

    entry = AuditLog.objects.get(action="membership.update")
    assert (entry.actor, entry.organization, entry.target_id) == (org_admin, organization, str(membership.pk))
    assert entry.data["via"] == "admin"
    assert org_admin_client.get(url(AuditLog, "change", entry.pk)).status_code == 200


def test_admin_index_for_an_org_admin(org_admin_client):
    page = org_admin_client.get(reverse("admin:index")).content.decode()

    for section in ("Organizations", "API keys", "Workflows", "Credentials", "Workflow executions", "Node types"):
        assert section in page
    # Users and groups are the platform's, not an organization's.
    assert reverse("admin:auth_user_changelist") not in page


def test_login_page_renders_for_anonymous_visitors(client):
    response = client.get(reverse("admin:login"))

    assert response.status_code == 200
    assert "ConcertMaster" in response.content.decode()
