"""Migration 0005: a schedule trigger on a workflow that starts with a schedule node gives up its own cron."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django_celery_beat.models import CrontabSchedule, PeriodicTask, PeriodicTasks

BEFORE = ("workflows", "0004_trigger_config_into_start_node")
AFTER = ("workflows", "0005_schedule_cron_from_start_node")
LOG = {"id": "log", "type": "log", "config": {"message": "tick"}}
SCHEDULE_START = {
    "nodes": [{"id": "tick", "type": "schedule", "config": {"cron": "0 6 * * *", "timezone": "UTC"}}, LOG],
    "edges": [{"source": "tick", "target": "log"}],
}
MANUAL_START = {
    "nodes": [{"id": "start", "type": "manual", "config": {}}, LOG],
    "edges": [{"source": "start", "target": "log"}],
}


def _migrate(target) -> object:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_the_schedule_nodes_cron_wins_and_a_manual_starts_cron_stays():
    old = _migrate(BEFORE)
    organization = old.get_model("orgs", "Organization").objects.create(name="Acme", slug="acme-schedule-cron")
    Workflow = old.get_model("workflows", "Workflow")
    Version = old.get_model("workflows", "WorkflowVersion")
    Trigger = old.get_model("workflows", "Trigger")

    def trigger(name, definition, config):
        workflow = Workflow.objects.create(organization=organization, name=name, definition=definition)
        Version.objects.create(organization=organization, workflow=workflow, number=1, definition=definition)
        return Trigger.objects.create(organization=organization, workflow=workflow, kind="schedule", config=config).pk

    node_start = trigger("node", SCHEDULE_START, {"cron": "0 9 * * *", "timezone": "Europe/Paris"})
    manual_start = trigger("manual", MANUAL_START, {"cron": "0 9 * * *", "timezone": "UTC"})
    nine = CrontabSchedule.objects.create(minute="0", hour="9", timezone="Europe/Paris")
    PeriodicTask.objects.create(name=f"trigger:{node_start}", task="concertmaster.schedule_trigger_fire", crontab=nine)
    try:
        new = _migrate(AFTER)
        Trigger = new.get_model("workflows", "Trigger")
        assert Trigger.objects.get(pk=node_start).config == {}
        assert Trigger.objects.get(pk=manual_start).config == {"cron": "0 9 * * *", "timezone": "UTC"}
        crontab = PeriodicTask.objects.get(name=f"trigger:{node_start}").crontab
        assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("0", "6", "UTC")
        assert PeriodicTasks.last_change() is not None  # beat reloads its schedule
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
