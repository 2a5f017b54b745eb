"""Child executions through a real worker: foreach and sub_workflow start linked children, bound their
concurrency, collect results in order, and cancel with their parent."""

import pytest

from apps.executions import services
from apps.executions.engine.children import MSG_CHILD_WORKFLOW_MISSING, MSG_CHILDREN_NOT_LIST
from apps.executions.models import WorkflowExecution
from tests.executions.engine.helpers import (
    chain,
    make_workflow,
    node,
    start,
    statuses,
    wait_finished,
    wait_for,
    wait_node,
)
from tests.orgs.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def child_workflow(organization, node_spec: dict | None = None):
    spec = node_spec or {"id": "double", "type": "test.echo", "config": {"value": "{{ trigger.n * 2 }}"}}
    return make_workflow(*chain(spec), organization=organization, name="child")


def test_foreach_runs_a_child_per_item_and_collects_outputs_in_order(engine_worker):
    organization = OrganizationFactory()
    child = child_workflow(organization)
    config = {"workflow_id": str(child.pk), "items": [{"n": 1}, {"n": 2}, {"n": 3}], "concurrency": 2}
    parent = make_workflow(*chain({"id": "each", "type": "foreach", "config": config}), organization=organization)
    execution = wait_finished(start(parent), timeout=30)
    assert execution.status == "succeeded", execution.error
    results = node(execution, "each").output["results"]
    assert [r["value"] for r in results] == [2, 4, 6]
    children = WorkflowExecution.objects.filter(parent=execution).order_by("created_at")
    assert children.count() == 3
    assert {c.parent_node_id for c in children} == {"each"}
    assert all(c.status == "succeeded" for c in children)
    assert node(execution, "each").attempt == 1


def _parent_with(node_spec: dict, organization=None):
    return make_workflow(*chain(node_spec), organization=organization)


def test_children_never_exceed_the_concurrency_limit(engine_worker):
    organization = OrganizationFactory()
    child = child_workflow(organization, {"id": "slow", "type": "test.slow", "config": {"seconds": 0.2}})
    spec = {
        "id": "kids",
        "type": "test.wait",
        "config": {
            "kind": "children",
            "concurrency": 2,
            "children": [{"workflow_id": str(child.pk), "input": {"i": i}} for i in range(5)],
        },
    }
    execution = start(_parent_with(spec, organization))
    peak = 0

    def done():
        nonlocal peak
        active = WorkflowExecution.objects.filter(parent=execution, status__in=("pending", "running")).count()
        peak = max(peak, active)
        return WorkflowExecution.objects.get(pk=execution.pk).status == "succeeded"

    wait_for(done, timeout=30, poll=0.01)
    assert 1 <= peak <= 2
    results = node(execution, "kids").output["resume"]["results"]
    assert [r["status"] for r in results] == ["succeeded"] * 5
    started = list(
        WorkflowExecution.objects.filter(parent=execution).order_by("created_at").values_list("trigger_data", flat=True)
    )
    assert started == [{"i": i} for i in range(5)]


def test_sub_workflow_outputs_the_child_output(engine_worker):
    organization = OrganizationFactory()
    child = child_workflow(organization)
    spec = {"id": "sub", "type": "sub_workflow", "config": {"workflow_id": str(child.pk), "input": {"n": 21}}}
    execution = wait_finished(start(_parent_with(spec, organization)), timeout=30)
    assert execution.status == "succeeded", execution.error
    assert node(execution, "sub").output["value"] == 42


def test_a_failed_child_fails_the_sub_workflow_node(engine_worker):
    organization = OrganizationFactory()
    child = child_workflow(organization, {"id": "bad", "type": "test.fail", "config": {"retryable": False}})
    spec = {"id": "sub", "type": "sub_workflow", "config": {"workflow_id": str(child.pk)}}
    execution = wait_finished(start(_parent_with(spec, organization)), timeout=30)
    assert execution.status == "failed"
    assert node(execution, "sub").error["data"]["status"] == "failed"


def test_a_child_workflow_of_another_organization_is_refused(engine_worker):
    stranger = child_workflow(None)
    spec = {"id": "sub", "type": "sub_workflow", "config": {"workflow_id": str(stranger.pk)}}
    execution = wait_finished(start(_parent_with(spec)))
    assert execution.status == "failed"
    assert node(execution, "sub").error["message"] == MSG_CHILD_WORKFLOW_MISSING.format(id=stranger.pk)
    assert not WorkflowExecution.objects.filter(parent=execution).exists()


def test_cancelling_the_parent_cancels_its_children(engine_worker):
    organization = OrganizationFactory()
    child = child_workflow(organization, {"id": "wait", "type": "delay", "config": {"seconds": 3600}})
    spec = {"id": "sub", "type": "sub_workflow", "config": {"workflow_id": str(child.pk)}}
    execution = start(_parent_with(spec, organization))
    wait_node(execution, "sub", "waiting")
    kid = wait_for(lambda: WorkflowExecution.objects.filter(parent=execution).first())
    wait_for(lambda: statuses(kid).get("wait") == "waiting")
    services.execution_cancel(execution=execution)
    kid.refresh_from_db()
    assert kid.status == "cancelled"
    assert statuses(kid)["wait"] == "cancelled"
    assert WorkflowExecution.objects.get(pk=execution.pk).status == "cancelled"


def test_a_parent_paused_while_children_finish_continues_on_resume(engine_worker):
    organization = OrganizationFactory()
    child = child_workflow(organization, {"id": "slow", "type": "test.slow", "config": {"seconds": 0.3}})
    spec = {
        "id": "kids",
        "type": "test.wait",
        "config": {"kind": "children", "concurrency": 1, "children": [{"workflow_id": str(child.pk)}] * 2},
    }
    execution = start(_parent_with(spec, organization))
    wait_node(execution, "kids", "waiting")
    services.execution_pause(execution=execution)
    wait_for(lambda: WorkflowExecution.objects.filter(parent=execution, status="succeeded").count() == 1)
    wait_for(lambda: statuses(execution)["kids"] == "waiting")
    assert WorkflowExecution.objects.filter(parent=execution).count() == 1  # no new child while paused
    services.execution_resume(execution=execution)
    execution = wait_finished(execution, timeout=30)
    assert execution.status == "succeeded"
    assert WorkflowExecution.objects.filter(parent=execution).count() == 2


def test_a_malformed_children_request_fails_the_node(engine_worker):
    spec = {"id": "kids", "type": "test.wait", "config": {"kind": "children", "children": [{"input": 1}]}}
    execution = wait_finished(start(_parent_with(spec)))
    assert node(execution, "kids").error["message"] == MSG_CHILDREN_NOT_LIST


def test_no_children_resumes_at_once_with_no_results(engine_worker):
    spec = {"id": "kids", "type": "test.wait", "config": {"kind": "children", "children": []}}
    execution = wait_finished(start(_parent_with(spec)))
    assert execution.status == "succeeded"
    assert node(execution, "kids").output["resume"] == {"results": []}
