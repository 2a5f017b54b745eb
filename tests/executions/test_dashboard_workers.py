"""Workers alive on the dashboard: a real worker (the package's, on the configured broker) running a slow node
shows it, under its organization only."""

import pytest

from apps.executions import dashboard
from tests.executions.engine.helpers import chain, make_workflow, start, wait_finished, wait_for, wait_node
from tests.orgs.factories import OrganizationFactory


@pytest.mark.django_db(transaction=True)
def test_a_worker_shows_the_node_it_runs(engine_worker):
    organization, other = OrganizationFactory(), OrganizationFactory()
    nodes, edges = chain({"id": "nap", "type": "test.slow", "config": {"seconds": 4}})
    workflow = make_workflow(nodes, edges, organization=organization, name="sleepy")
    execution = start(workflow)
    wait_node(execution, "nap", "running")

    def holding():
        return [row for row in dashboard.workers_alive(organization_ids=[organization.pk]) if row.running]

    # The Redis heartbeat records what a worker holds every CONCERTMASTER_ENGINE_HEARTBEAT_SECONDS.
    [worker] = wait_for(holding, timeout=10, message="a worker holding the node")
    [(workflow_name, node_id, node_type, status, execution_id)] = worker.running
    assert (workflow_name, node_id, node_type, status) == ("sleepy", "nap", "test.slow", "running")
    assert execution_id == execution.pk
    assert all(not row.running for row in dashboard.workers_alive(organization_ids=[other.pk]))
    assert wait_finished(execution, timeout=20).status == "succeeded"
