"""A beat tick of a schedule trigger whose workflow starts with a schedule node runs the workflow to the end."""

import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.executions import triggers
from apps.executions.models import WorkflowExecution
from apps.workflows.services import trigger_create, workflow_activate, workflow_create
from concertmaster.celery import app as celery_app
from tests.orgs.factories import OrganizationFactory
from tests.workflows.test_triggers__schedule_node import SCHEDULE_DEFINITION

pytestmark = pytest.mark.slow


def test_a_beat_tick_runs_the_workflow_on_the_nodes_cron(engine_worker):
    workflow = workflow_create(
        organization=OrganizationFactory(), name="tick", definition=copy.deepcopy(SCHEDULE_DEFINITION)
    )
    workflow_activate(workflow=workflow)
    trigger = trigger_create(workflow=workflow, kind="schedule")
    task = PeriodicTask.objects.get(name=f"trigger:{trigger.pk}")
    task.last_run_at = datetime(2026, 3, 2, 5, 29, tzinfo=ZoneInfo("UTC"))  # Monday 06:29 in Paris
    task.save()
    with time_machine.travel(datetime(2026, 3, 2, 5, 30, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        entry = DatabaseScheduler(app=celery_app, lazy=True).all_as_schedule()[task.name]
        assert entry.is_due()[0]
    execution = triggers.schedule_fire(**entry.kwargs)
    execution = triggers.execution_wait(execution_id=execution.pk, timeout=20)
    assert execution.status == "succeeded", execution.error
    assert execution.trigger_kind == "schedule"
    tick = execution.node_executions.get(node_id="tick").output
    assert (tick["cron"], tick["timezone"]) == ("30 6 * * 1-5", "Europe/Paris")
    assert WorkflowExecution.objects.count() == 1
