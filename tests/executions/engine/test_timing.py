"""How long a node waited as well as how long it computed: `duration_ms` and `waited_ms`, in the API and in the
live events, through a real worker."""

import pytest
from rest_framework.test import APIClient

from apps.executions import services
from apps.executions.models import ExecutionEvent, WorkflowExecution, waited_ms
from tests.executions.engine.helpers import chain, make_workflow, node, start, wait_finished
from tests.orgs.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

DELAY_SECONDS = 1.0


def test_a_delay_node_reports_its_wait_apart_from_its_compute_time(engine_worker):
    workflow = make_workflow(*chain({"id": "wait", "type": "delay", "config": {"seconds": DELAY_SECONDS}}))
    execution = wait_finished(start(workflow))
    assert execution.status == "succeeded"
    waited = node(execution, "wait")
    assert waited.queued_at is not None
    assert waited.queued_at <= waited.started_at <= waited.finished_at
    # The delay was spent parked, not computing: the node waited, was queued again by the wake-up, and its
    # compute time is that of the run after it (started once woken), the rest since first queued is the wait.
    events = {e.type: e for e in ExecutionEvent.objects.filter(execution=execution, node_id="wait").order_by("seq")}
    assert events["node_waiting"].data["kind"] == "delay"
    woken = ExecutionEvent.objects.get(execution=execution, node_id="wait", type="node_queued", data__reason="delay")
    assert woken.seq > events["node_waiting"].seq and waited.started_at >= woken.at
    assert waited.duration_ms <= (waited.finished_at - waited.started_at).total_seconds() * 1000 + 1
    assert waited.waited_ms == waited_ms(
        queued_at=waited.queued_at, finished_at=waited.finished_at, duration_ms=waited.duration_ms
    )
    assert waited.waited_ms >= DELAY_SECONDS * 1000 - 50

    user = UserFactory()
    MembershipFactory(user=user, organization=workflow.organization, role="viewer")
    api = APIClient()
    api.force_authenticate(user)
    nodes = {row["node_id"]: row for row in api.get(f"/api/v1/executions/{execution.pk}/").json()["nodes"]}
    assert nodes["wait"]["duration_ms"] == waited.duration_ms
    assert nodes["wait"]["waited_ms"] == waited.waited_ms >= DELAY_SECONDS * 1000 - 50
    assert nodes["wait"]["queued_at"] is not None
    assert nodes["start"]["waited_ms"] is not None and nodes["start"]["duration_ms"] is not None

    succeeded = ExecutionEvent.objects.get(execution=execution, node_id="wait", type="node_succeeded")
    assert succeeded.data["duration_ms"] == waited.duration_ms
    assert succeeded.data["waited_ms"] >= DELAY_SECONDS * 1000 - 50


def test_a_failed_node_reports_both_figures_and_a_retry_keeps_its_first_queued_time(engine_worker):
    retry = {"max_attempts": 2, "backoff_seconds": 0.3, "jitter": False}
    workflow = make_workflow(*chain({"id": "fail", "type": "test.fail", "retry": retry}))
    execution = wait_finished(start(workflow))
    failed = node(execution, "fail")
    assert (failed.status, failed.attempt) == ("failed", 2)
    assert failed.waited_ms >= 300  # the back-off between the attempts
    event = ExecutionEvent.objects.get(execution=execution, node_id="fail", type="node_failed")
    assert event.data["duration_ms"] == failed.duration_ms
    assert event.data["waited_ms"] >= 300


@pytest.mark.django_db
def test_a_node_sent_back_by_a_pause_keeps_its_first_queued_time(test_nodes):
    """Nothing runs here (no worker, no commit): the trigger node stays queued, is paused and resumed."""
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})))
    first = node(execution, "start").queued_at
    assert first is not None
    assert node(execution, "a").queued_at is None  # not queued yet
    services.execution_pause(execution=execution)
    assert node(execution, "start").status == "pending"
    services.execution_resume(execution=WorkflowExecution.objects.get(pk=execution.pk))
    resumed = node(execution, "start")
    assert (resumed.status, resumed.queued_at) == ("queued", first)
