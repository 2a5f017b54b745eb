"""Organization variables and secrets: the services (audited, names validated), the API per role (viewers read,
members write variables, admins write secrets), secrets never in an answer, and what the engine gives nodes."""

import pytest
from django.core.exceptions import ValidationError

from apps.orgs.api.variables import NO_RENAME
from apps.orgs.models import AuditLog, OrganizationSecret
from apps.orgs.variables import (
    NAME_TAKEN,
    SECRET_EMPTY,
    SECRET_MISSING,
    org_expression_context,
    org_secret_create,
    org_secrets_apply,
    org_variable_create,
)
from tests.orgs.factories import OrganizationFactory
from tests.workflows.factories import CredentialFactory

pytestmark = pytest.mark.django_db
SECRET = "sk-live-4b1d-never-shown"


@pytest.fixture
def as_role(api_client, organization, member_factory):
    def login(role):
        user = member_factory(organization, role)
        api_client.force_authenticate(user)
        return user

    return login


def _paths(response) -> dict:
    return {error["path"]: error["message"] for error in response.json()["errors"]}


def test_variables_are_the_org_in_the_expression_context(organization):
    org_variable_create(organization=organization, name="REGION", value="eu-west-1")
    org_variable_create(organization=OrganizationFactory(), name="OTHER", value="x")
    org_secret_create(organization=organization, name="KEY", value=SECRET)

    assert org_expression_context(organization.pk) == {"vars": {"REGION": "eu-west-1"}}


@pytest.mark.parametrize("name", ["1abc", "has-dash", "has space", "", "x" * 101, "org.vars"])
def test_a_bad_name_is_refused_naming_the_field(organization, name):
    with pytest.raises(ValidationError) as caught:
        org_variable_create(organization=organization, name=name, value="v")
    assert "name" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        org_secret_create(organization=organization, name=name, value="v")
    assert "name" in caught.value.message_dict


def test_a_taken_name_is_refused_under_name(organization):
    org_variable_create(organization=organization, name="REGION", value="eu")
    with pytest.raises(ValidationError) as caught:
        org_variable_create(organization=organization, name="REGION", value="us")
    assert caught.value.message_dict == {"name": [NAME_TAKEN.format(name="REGION")]}
    org_variable_create(organization=OrganizationFactory(), name="REGION", value="us")  # another org: fine


def test_an_empty_secret_is_refused(organization):
    with pytest.raises(ValidationError) as caught:
        org_secret_create(organization=organization, name="KEY", value="")
    assert caught.value.message_dict == {"value": [SECRET_EMPTY]}
    assert not OrganizationSecret.objects.exists()


def test_secrets_are_encrypted_at_rest_and_audited_without_their_value(organization, user):
    from django.db import connection

    org_secret_create(organization=organization, name="KEY", value=SECRET, actor=user)

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT value FROM {OrganizationSecret._meta.db_table}")
        assert SECRET not in str(cursor.fetchall())
    row = AuditLog.objects.get(action="org_secret.create")
    assert row.actor == user and row.data == {"name": "KEY"}


def test_credentials_take_referenced_secrets_in_memory_only(organization):
    org_secret_create(organization=organization, name="KEY", value=SECRET)
    credential = CredentialFactory(
        organization=organization, kind="header", data={"header": "X-Key", "value": "{{ org.secrets.KEY }}"}
    )

    assert org_secrets_apply(organization_id=organization.pk, credentials=[credential]) is None

    assert credential.data == {"header": "X-Key", "value": SECRET}
    credential.refresh_from_db()
    assert credential.data["value"] == "{{ org.secrets.KEY }}"


def test_a_reference_to_a_missing_or_other_orgs_secret_is_an_error(organization):
    org_secret_create(organization=OrganizationFactory(), name="KEY", value=SECRET)
    credential = CredentialFactory(organization=organization, kind="bearer", data={"token": "{{org.secrets.KEY}}"})

    error = org_secrets_apply(organization_id=organization.pk, credentials=[credential])

    assert error == SECRET_MISSING.format(credential=credential.name, name="KEY")
    assert SECRET not in str(credential.data)


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("member", 201), ("admin", 201), ("owner", 201)])
def test_who_may_add_a_variable(as_role, api_client, organization, role, status):
    as_role(role)
    response = api_client.post("/api/v1/org-variables/", {"name": "REGION", "value": "eu"}, format="json")
    assert response.status_code == status, response.content
    if status == 201:
        assert response.json()["value"] == "eu" and response.json()["organization"] == str(organization.pk)
        assert AuditLog.objects.filter(action="org_variable.create").count() == 1


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("member", 403), ("admin", 201), ("owner", 201)])
def test_who_may_add_a_secret(as_role, api_client, role, status):
    as_role(role)
    response = api_client.post("/api/v1/org-secrets/", {"name": "KEY", "value": SECRET}, format="json")
    assert response.status_code == status, response.content
    assert SECRET.encode() not in response.content
    assert OrganizationSecret.objects.exists() is (status == 201)


def test_viewers_read_variables_and_secret_names_never_values(as_role, api_client, organization):
    org_variable_create(organization=organization, name="REGION", value="eu")
    secret = org_secret_create(organization=organization, name="KEY", value=SECRET)
    as_role("viewer")

    variables = api_client.get("/api/v1/org-variables/")
    secrets = api_client.get("/api/v1/org-secrets/")
    one = api_client.get(f"/api/v1/org-secrets/{secret.pk}/")

    assert [(v["name"], v["value"]) for v in variables.json()["results"]] == [("REGION", "eu")]
    assert [s["name"] for s in secrets.json()["results"]] == ["KEY"]
    assert one.json()["reference"] == "{{ org.secrets.KEY }}"
    for answer in (variables, secrets, one):
        assert SECRET.encode() not in answer.content
    assert api_client.delete(f"/api/v1/org-secrets/{secret.pk}/").status_code == 403


def test_an_admin_replaces_a_secret_value_but_cannot_rename_it(as_role, api_client, organization):
    secret = org_secret_create(organization=organization, name="KEY", value="old")
    as_role("admin")

    renamed = api_client.patch(f"/api/v1/org-secrets/{secret.pk}/", {"name": "OTHER"}, format="json")
    replaced = api_client.patch(f"/api/v1/org-secrets/{secret.pk}/", {"value": SECRET}, format="json")

    assert renamed.status_code == 400 and _paths(renamed) == {"/name": NO_RENAME}
    assert replaced.status_code == 200 and SECRET.encode() not in replaced.content
    secret.refresh_from_db()
    assert secret.value == SECRET and secret.name == "KEY"
    assert AuditLog.objects.get(action="org_secret.update").data == {"name": "KEY", "fields": ["value"]}


def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(as_role, api_client):
    as_role("admin")

    bad_name = api_client.post("/api/v1/org-variables/", {"name": "no-dash", "value": "x"}, format="json")
    empty_secret = api_client.post("/api/v1/org-secrets/", {"name": "KEY", "value": ""}, format="json")
    unknown = api_client.post("/api/v1/org-variables/", {"name": "A", "value": "x", "secret": True}, format="json")
    api_client.post("/api/v1/org-variables/", {"name": "A", "value": "x"}, format="json")
    taken = api_client.post("/api/v1/org-variables/", {"name": "A", "value": "y"}, format="json")

    assert bad_name.status_code == 400 and "/name" in _paths(bad_name)
    assert empty_secret.status_code == 400 and "/value" in _paths(empty_secret)
    assert unknown.status_code == 400 and "/secret" in _paths(unknown)
    assert taken.status_code == 400 and _paths(taken) == {"/name": NAME_TAKEN.format(name="A")}
    assert not OrganizationSecret.objects.exists()


def test_a_variable_of_another_organization_is_a_404(as_role, api_client):
    other = org_variable_create(organization=OrganizationFactory(), name="REGION", value="eu")
    as_role("owner")
    assert api_client.get(f"/api/v1/org-variables/{other.pk}/").status_code == 404
    assert api_client.patch(f"/api/v1/org-variables/{other.pk}/", {"value": "x"}, format="json").status_code == 404


def test_rotate_credentials_reencrypts_org_secrets(organization, settings):
    """After a new key is put first, `rotate_credentials` rewrites secrets so that the old key can go."""
    from io import StringIO

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    secret = org_secret_create(organization=organization, name="KEY", value=SECRET)
    new_key = Fernet.generate_key().decode()
    settings.CONCERTMASTER_CREDENTIAL_KEYS = [new_key, *settings.CONCERTMASTER_CREDENTIAL_KEYS]
    out = StringIO()

    call_command("rotate_credentials", stdout=out)

    assert "1 organization secret(s)" in out.getvalue()
    settings.CONCERTMASTER_CREDENTIAL_KEYS = [new_key]
    assert OrganizationSecret.objects.get(pk=secret.pk).value == SECRET
