"""Integration services without n8n: the periodic sync's beat entry, the demo seed, stored secrets, bad input."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django_celery_beat.models import PeriodicTask

from apps.integrations.demo import DEMO_N8N_URL
from apps.integrations.models import Integration
from apps.integrations.services import (
    PERIODIC_TASK,
    integration_create,
    integration_delete,
    integration_update,
    sync_job_create,
)

pytestmark = pytest.mark.django_db


def test_periodic_sync_switches_a_beat_entry_on_and_off(organization):
    integration = integration_create(
        organization=organization, service_url="https://n8n.example.com/", periodic_sync=True, sync_interval_minutes=30
    )
    task = PeriodicTask.objects.get(pk=integration.periodic_task_id)
    assert task.task == PERIODIC_TASK and task.interval.every == 30
    assert json.loads(task.kwargs) == {"integration_id": str(integration.pk)}
    integration_update(integration=integration, sync_interval_minutes=60)
    assert PeriodicTask.objects.get(pk=task.pk).interval.every == 60
    integration_update(integration=integration, periodic_sync=False)
    assert not PeriodicTask.objects.filter(pk=task.pk).exists()
    integration_update(integration=integration, periodic_sync=True)
    task_id = Integration.objects.get(pk=integration.pk).periodic_task_id
    integration_delete(integration=integration)
    assert not PeriodicTask.objects.filter(pk=task_id).exists()


def test_the_api_key_is_encrypted_at_rest(organization):
    integration = integration_create(organization=organization, service_url="https://n8n.example.com", api_key="k-123")
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_integration")  # the test's only row
        row = cursor.fetchone()
    assert "k-123" not in row[0]
    assert Integration.objects.get(pk=integration.pk).credentials == {"api_key": "k-123"}


def test_bad_input_names_the_field(organization):
    with pytest.raises(ValidationError) as error:
        integration_create(organization=organization, service_url="localhost:5678")
    assert "service_url" in error.value.message_dict
    integration = integration_create(organization=organization, service_url="https://n8n.example.com")
    with pytest.raises(ValidationError) as error:
        sync_job_create(integration=integration, workflow_ids="all")
    assert "workflow_ids" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        integration_update(integration=integration, sync_interval_minutes=1)
    assert "sync_interval_minutes" in str(error.value) or "__all__" in error.value.message_dict


def test_the_demo_seeds_one_inactive_n8n_row(organization, settings):
    settings.CONCERTMASTER_DEMO = True
    call_command("bootstrap_demo", force=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("bootstrap_demo", force=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    row = Integration.objects.get(service_url=DEMO_N8N_URL)
    assert (row.status, row.service, row.allow_private, row.has_api_key) == ("inactive", "n8n", True, False)
    assert Integration.objects.filter(service_url=DEMO_N8N_URL).count() == 1
