import pytest
from django.db import IntegrityError, connection

from apps.workflows.models import VERSION_IMMUTABLE, Credential, Trigger, Workflow, WorkflowVersion
from apps.workflows.services import workflow_update
from tests.workflows.factories import CredentialFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def test_creating_a_workflow_makes_version_one():
    workflow = WorkflowFactory()
    assert list(workflow.versions.values_list("number", flat=True)) == [1]
    assert workflow.latest_version.definition == workflow.definition


def test_a_new_definition_makes_a_new_version_and_the_old_one_stays():
    """Saving a new definition records version 2; version 1 keeps the old definition."""
    workflow = WorkflowFactory()
    old = dict(workflow.definition)
    new = {
        "nodes": [*old["nodes"], {"id": "more", "type": "log", "config": {"message": "x"}}],
        "edges": [*old["edges"], {"source": "log", "target": "more"}],
    }
    workflow_update(workflow=workflow, definition=new)
    assert [v.number for v in workflow.versions.order_by("number")] == [1, 2]
    assert workflow.versions.get(number=1).definition == old
    workflow_update(workflow=workflow, name="Renamed")
    assert workflow.versions.count() == 2


def test_a_version_cannot_be_changed():
    """WorkflowVersion rows are immutable, by save() and by queryset update()."""
    version = WorkflowFactory().latest_version
    version.definition = {"nodes": []}
    with pytest.raises(ValueError, match=VERSION_IMMUTABLE):
        version.save()
    with pytest.raises(ValueError, match=VERSION_IMMUTABLE):
        WorkflowVersion.objects.filter(pk=version.pk).update(number=9)


def test_version_numbers_are_unique_per_workflow():
    version = WorkflowFactory().latest_version
    with pytest.raises(IntegrityError):
        WorkflowVersion.objects.create(
            organization=version.organization, workflow=version.workflow, number=1, definition={}
        )


@pytest.mark.parametrize("model", [Workflow, Trigger, Credential])
def test_tenant_rows_need_an_organization(model):
    fields = {"workflow": WorkflowFactory()} if model is Trigger else {}
    with pytest.raises(IntegrityError):
        model.objects.create(organization=None, **fields)


def test_credentials_round_trip_and_are_not_stored_in_clear():
    """The data column holds a Fernet token; reading the model gives the original value back."""
    credential = CredentialFactory(data={"token": "very-secret-value-123"})
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT data FROM {Credential._meta.db_table} WHERE id = %s",
            [credential.pk.hex if connection.vendor == "sqlite" else credential.pk],
        )
        (raw,) = cursor.fetchone()
    assert "very-secret-value-123" not in raw
    assert raw.startswith("gAAAA")
    assert Credential.objects.get(pk=credential.pk).data == {"token": "very-secret-value-123"}


def test_credentials_survive_key_rotation(settings):
    """After a new key is put first, old rows still decrypt, and rotation rewrites them with the new key."""
    from cryptography.fernet import Fernet

    from apps.workflows.services import credential_rotate_all

    credential = CredentialFactory(data={"token": "t1"})
    old_keys = list(settings.CONCERTMASTER_CREDENTIAL_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.CONCERTMASTER_CREDENTIAL_KEYS = [new_key, *old_keys]
    assert Credential.objects.get(pk=credential.pk).data == {"token": "t1"}
    assert credential_rotate_all() == 1
    settings.CONCERTMASTER_CREDENTIAL_KEYS = [new_key]
    assert Credential.objects.get(pk=credential.pk).data == {"token": "t1"}
