"""A schedule trigger on a workflow that starts with a `schedule` node: the node's cron is the one beat runs.

The trigger record keeps a cron only when the workflow starts with a `manual` node (the only place it can be).
"""

import copy

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from apps.workflows.models import Trigger
from apps.workflows.services import (
    EXPORT_FORMAT,
    SCHEDULE_NEEDS_CRON,
    trigger_create,
    workflow_activate,
    workflow_duplicate,
    workflow_import,
    workflow_update,
    workflow_version_restore,
)
from apps.workflows.triggers import (
    SCHEDULE_CONFIG_BELONGS_TO_NODE,
    SCHEDULE_NOT_LITERAL,
    STATE_NO_SCHEDULE,
    trigger_state,
)
from tests.orgs.factories import MembershipFactory, UserFactory
from tests.workflows.factories import SIMPLE_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db

SCHEDULE_DEFINITION = {
    "nodes": [
        {"id": "tick", "type": "schedule", "config": {"cron": "30 6 * * 1-5", "timezone": "Europe/Paris"}},
        {"id": "log", "type": "log", "config": {"message": "tick"}},
    ],
    "edges": [{"source": "tick", "target": "log"}],
}


def _schedule_definition(**config) -> dict:
    definition = copy.deepcopy(SCHEDULE_DEFINITION)
    definition["nodes"][0]["config"] = config
    return definition


@pytest.fixture
def as_admin(api_client, organization, member_factory):
    api_client.force_authenticate(member_factory(organization, "admin"))
    return api_client


@pytest.fixture
def scheduled(organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SCHEDULE_DEFINITION))
    workflow_activate(workflow=workflow)
    return workflow


def _crontab(trigger_id) -> tuple:
    crontab = PeriodicTask.objects.get(name=f"trigger:{trigger_id}").crontab
    fields = (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week)
    return (" ".join(fields), str(crontab.timezone))


def test_a_schedule_trigger_needs_no_config_and_beat_runs_the_nodes_cron(as_admin, scheduled):
    response = as_admin.post("/api/v1/triggers/", {"workflow": str(scheduled.pk), "kind": "schedule"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["config"] == {}
    assert body["schedule"] == {"cron": "30 6 * * 1-5", "timezone": "Europe/Paris", "source": "node", "node": "tick"}
    assert body["state"] == "live"
    assert "30 6 * * 1-5" in body["state_detail"]
    assert _crontab(body["id"]) == ("30 6 * * 1-5", "Europe/Paris")
    assert PeriodicTask.objects.get(name=f"trigger:{body['id']}").enabled is True
    listed = as_admin.get("/api/v1/triggers/").json()["results"]
    assert [row["schedule"] for row in listed] == [body["schedule"]]


def test_saving_the_nodes_cron_moves_the_beat_schedule(as_admin, scheduled):
    trigger = trigger_create(workflow=scheduled, kind="schedule")
    edited = _schedule_definition(cron="0 18 * * *", timezone="America/New_York")
    response = as_admin.patch(f"/api/v1/workflows/{scheduled.pk}/", {"definition": edited}, format="json")
    assert response.status_code == 200, response.json()
    assert _crontab(trigger.pk) == ("0 18 * * *", "America/New_York")
    assert as_admin.get(f"/api/v1/triggers/{trigger.pk}/").json()["schedule"]["cron"] == "0 18 * * *"
    workflow_version_restore(workflow=scheduled, version=scheduled.versions.get(number=1))
    assert _crontab(trigger.pk) == ("30 6 * * 1-5", "Europe/Paris")


def test_a_draft_with_problems_leaves_the_running_schedule_alone(scheduled):
    trigger = trigger_create(workflow=scheduled, kind="schedule")
    draft = _schedule_definition(cron="0 18 * * *")
    draft["edges"].append({"source": "log", "target": "nowhere"})
    workflow_update(workflow=scheduled, definition=draft)
    assert _crontab(trigger.pk) == ("30 6 * * 1-5", "Europe/Paris")


def test_a_trigger_declaring_its_own_cron_is_refused(as_admin, scheduled):
    body = {"workflow": str(scheduled.pk), "kind": "schedule", "config": {"cron": "0 9 * * *"}}
    response = as_admin.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    message = SCHEDULE_CONFIG_BELONGS_TO_NODE.format(node="tick", keys="cron")
    assert response.json()["errors"] == [{"path": "/config", "message": message}]
    assert not Trigger.objects.exists() and not PeriodicTask.objects.exists()

    trigger = trigger_create(workflow=scheduled, kind="schedule")
    response = as_admin.patch(f"/api/v1/triggers/{trigger.pk}/", {"config": {"cron": "0 9 * * *"}}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/config", "message": message}]
    assert _crontab(trigger.pk) == ("30 6 * * 1-5", "Europe/Paris")


def test_a_manual_start_keeps_the_cron_on_the_trigger(as_admin, organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    body = {"workflow": str(workflow.pk), "kind": "schedule"}
    response = as_admin.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [{"path": "/config/cron", "message": SCHEDULE_NEEDS_CRON}]
    body["config"] = {"cron": "15 2 * * *", "timezone": "Asia/Tokyo"}
    created = as_admin.post("/api/v1/triggers/", body, format="json").json()
    assert created["schedule"] == {"cron": "15 2 * * *", "timezone": "Asia/Tokyo", "source": "trigger", "node": None}
    assert _crontab(created["id"]) == ("15 2 * * *", "Asia/Tokyo")


def test_a_manual_start_turned_into_a_schedule_start_drops_the_triggers_cron(organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    trigger = trigger_create(workflow=workflow, kind="schedule", config={"cron": "15 2 * * *"})
    workflow_update(workflow=workflow, definition=copy.deepcopy(SCHEDULE_DEFINITION))
    trigger.refresh_from_db()
    assert trigger.config == {}
    assert _crontab(trigger.pk) == ("30 6 * * 1-5", "Europe/Paris")


@pytest.mark.parametrize(("field", "value"), [("cron", "{{ vars.cron }}"), ("timezone", "{{ vars.zone }}")])
def test_a_node_cron_with_an_expression_cannot_be_published(as_admin, organization, field, value):
    config = {"cron": "0 9 * * *", "timezone": "UTC", field: value}
    definition = _schedule_definition(**config)
    definition["variables"] = {"cron": "0 9 * * *", "zone": "UTC"}
    workflow = WorkflowFactory(organization=organization, definition=definition)
    assert workflow.versions.count() == 1  # a valid definition: the node accepts an expression
    response = as_admin.post("/api/v1/triggers/", {"workflow": str(workflow.pk), "kind": "schedule"}, format="json")
    assert response.status_code == 400
    message = SCHEDULE_NOT_LITERAL.format(node="tick", field=field, value=value)
    assert response.json()["errors"] == [{"path": "/workflow", "message": message}]
    assert not PeriodicTask.objects.exists()


def test_a_node_cron_edited_into_an_expression_stops_the_beat_schedule(scheduled):
    trigger = trigger_create(workflow=scheduled, kind="schedule")
    definition = _schedule_definition(cron="{{ vars.cron }}")
    definition["variables"] = {"cron": "0 9 * * *"}
    workflow_update(workflow=scheduled, definition=definition)
    assert not PeriodicTask.objects.filter(name=f"trigger:{trigger.pk}").exists()
    state, detail = trigger_state(trigger=Trigger.objects.get(pk=trigger.pk))
    assert state == STATE_NO_SCHEDULE
    assert detail == SCHEDULE_NOT_LITERAL.format(node="tick", field="cron", value="{{ vars.cron }}")


def test_the_admin_shows_the_schedule_in_effect(client, organization, scheduled):
    user = UserFactory(is_staff=True)
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    trigger = trigger_create(workflow=scheduled, kind="schedule")
    page = client.get(reverse("admin:workflows_trigger_change", args=[trigger.pk])).content.decode()
    assert "30 6 * * 1-5 (Europe/Paris), from the workflow&#x27;s schedule node tick" in page


def test_an_old_export_with_a_cron_on_the_trigger_imports_with_the_nodes(organization):
    """An export made when the trigger kept its own cron: the schedule node's wins, as migration 0005 decided."""
    document = {
        "format": EXPORT_FORMAT,
        "name": "old",
        "definition": copy.deepcopy(SCHEDULE_DEFINITION),
        "triggers": [{"kind": "schedule", "name": "", "config": {"cron": "0 9 * * *"}, "is_active": True}],
    }
    workflow = workflow_import(organization=organization, document=document)
    trigger = workflow.triggers.get()
    assert trigger.config == {}
    assert _crontab(trigger.pk) == ("30 6 * * 1-5", "Europe/Paris")
    copied = workflow_duplicate(workflow=workflow)
    assert _crontab(copied.triggers.get().pk) == ("30 6 * * 1-5", "Europe/Paris")
