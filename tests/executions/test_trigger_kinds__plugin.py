"""A trigger kind a plugin adds (registered here, no migration) is created through the API and starts a run."""

import copy
import re

import pytest

from apps.core.errors import ApplicationError
from apps.executions import triggers
from apps.executions.models import WorkflowExecution
from apps.workflows.services import workflow_activate
from apps.workflows.trigger_kinds import TriggerKindSpec, register_trigger_kind, trigger_kinds
from tests.executions.conftest import wait_idle
from tests.workflows.factories import SIMPLE_DEFINITION, WorkflowFactory

KIND = "acme.queue"


class QueueKind(TriggerKindSpec):
    """A message on a queue starts the workflow; the run receives the queue's name and the message."""

    name = KIND
    label = "Queue message"
    start_nodes = ("manual",)
    config_schema = {
        "type": "object",
        "properties": {"queue": {"type": "string", "minLength": 1}},
        "required": ["queue"],
        "additionalProperties": False,
    }

    def run_input(self, *, trigger, payload):
        return {"queue": trigger.config["queue"], "message": payload}


@pytest.fixture
def queue_kind():
    register_trigger_kind(QueueKind)
    yield
    trigger_kinds.unregister(KIND)


def _workflow(organization):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(SIMPLE_DEFINITION))
    workflow_activate(workflow=workflow)
    return workflow


def _create(api_client, organization, member_factory, workflow) -> dict:
    api_client.force_authenticate(member_factory(organization, "admin"))
    body = {"workflow": str(workflow.pk), "kind": KIND, "config": {"queue": "orders"}}
    response = api_client.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_plugin_kind_created_through_the_api_starts_a_run(
    engine_worker, api_client, organization, member_factory, queue_kind
):
    workflow = _workflow(organization)
    created = _create(api_client, organization, member_factory, workflow)
    assert created["state"] == "live"
    trigger = workflow.triggers.get(pk=created["id"])
    execution = triggers.trigger_fire(trigger=trigger, payload={"order": 7})
    wait_idle()
    execution = triggers.execution_wait(execution_id=execution.pk, timeout=20)
    assert (execution.status, execution.trigger_kind) == ("succeeded", KIND)
    assert execution.trigger_data == {"queue": "orders", "message": {"order": 7}}
    listed = api_client.get("/api/v1/executions/", {"trigger": KIND})
    assert [row["id"] for row in listed.json()["results"]] == [str(execution.pk)]
    assert listed.json()["results"][0]["trigger_kind"] == KIND


@pytest.mark.django_db
def test_a_switched_off_plugin_trigger_starts_nothing(api_client, organization, member_factory, queue_kind):
    workflow = _workflow(organization)
    created = _create(api_client, organization, member_factory, workflow)
    response = api_client.patch(f"/api/v1/triggers/{created['id']}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    trigger = workflow.triggers.get(pk=created["id"])
    with pytest.raises(ApplicationError, match=re.escape(triggers.TRIGGER_INACTIVE)):
        triggers.trigger_fire(trigger=trigger, payload={"order": 7})
    assert not WorkflowExecution.objects.exists()
