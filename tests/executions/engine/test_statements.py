"""The claim as the worker makes it (with the node and version ids the task carries): on PostgreSQL one statement
(`statements.claim`), elsewhere the locked ORM path; both must take a node exactly when it is the task's to run.

No worker here: nothing dispatched by `start()` is sent (the test's transaction never commits), so each claim is
made by the test itself.
"""

import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.executions import services
from apps.executions.engine import statements
from apps.executions.engine.runner import claim_node, complete_node
from apps.executions.engine.runtime import _ROW_FIELDS, compiled_graph, locked
from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from tests.executions.engine.helpers import TRIGGER, chain, make_workflow, node, start

pytestmark = pytest.mark.django_db


def claim(execution, node_id, task_id=None):
    row = node(execution, node_id)
    return claim_node(
        str(execution.pk),
        str(row.pk),
        task_id or row.task_id,
        node_id=node_id,
        version_id=str(execution.version_id),
    )


def last_seq(execution) -> int:
    return WorkflowExecution.objects.values_list("last_seq", flat=True).get(pk=execution.pk)


def test_a_claim_takes_the_queued_node_records_node_started_and_reads_the_trigger(test_nodes):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.echo"})), {"name": "Ada"})
    seq = last_seq(execution)
    taken = claim(execution, "start")
    assert taken is not None
    assert taken.inputs == {"main": {"name": "Ada"}}
    assert taken.expression_context["trigger"] == {"name": "Ada"}
    assert taken.attempt == 1
    row = node(execution, "start")
    assert (row.status, row.attempt) == ("running", 1)
    assert row.lease_expires_at is not None and row.started_at is not None
    assert last_seq(execution) == seq + 1
    event = ExecutionEvent.objects.get(execution=execution, seq=seq + 1)
    assert (event.type, event.node_id, event.data) == ("node_started", "start", {"attempt": 1, "node_type": "manual"})


def test_a_claim_reads_the_outputs_of_its_sources_and_all_outputs_when_its_config_names_nodes(test_nodes):
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "a", "type": "test.noop"},
            {"id": "b", "type": "test.echo", "config": {"value": "{{ nodes.start.output.n }}"}},
        ],
        [("start", "a"), ("a", "b")],
    )
    execution = start(workflow, {"n": 7})
    complete_node(claim(execution, "start"), {"main": {"n": 7}}, 0.01)
    complete_node(claim(execution, "a"), {"main": {"from": "a"}}, 0.01)
    taken = claim(execution, "b")
    assert taken.inputs == {"main": {"from": "a"}}
    assert taken.expression_context["nodes"] == {"start": {"output": {"n": 7}}, "a": {"output": {"from": "a"}}}


def test_a_second_delivery_or_a_stale_task_takes_nothing_and_writes_nothing(test_nodes):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})))
    assert claim(execution, "start") is not None
    seq = last_seq(execution)
    assert claim(execution, "start") is None  # the same task delivered again: the node is running
    assert claim(execution, "a", task_id="not-its-task") is None
    a = node(execution, "a")
    NodeExecution.objects.filter(pk=a.pk).update(status="queued", task_id="task-a")
    # A message naming another node or version than its rows is not this task's either.
    other_version = make_workflow(*chain({"id": "a", "type": "test.noop"})).versions.get().pk
    for node_id, version_id in (("start", execution.version_id), ("a", other_version)):
        taken = claim_node(str(execution.pk), str(a.pk), "task-a", node_id=node_id, version_id=str(version_id))
        assert taken is None
    NodeExecution.objects.filter(pk=a.pk).update(status="pending", task_id="")
    assert last_seq(execution) == seq
    assert node(execution, "start").attempt == 1
    assert node(execution, "a").status == "pending"


def test_nothing_is_claimed_in_a_paused_or_cancelled_execution(test_nodes):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})))
    queued = node(execution, "start")
    services.execution_pause(execution=execution)
    seq = last_seq(execution)
    assert claim(execution, "start", task_id=queued.task_id) is None
    assert node(execution, "start").status == "pending"
    assert last_seq(execution) == seq
    services.execution_resume(execution=execution)
    requeued = node(execution, "start")
    services.execution_cancel(execution=WorkflowExecution.objects.get(pk=execution.pk))
    assert claim(execution, "start", task_id=requeued.task_id) is None
    assert node(execution, "start").status == "cancelled"


def test_completing_sends_the_node_and_its_successors_updates_with_the_events(test_nodes):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.noop"})))
    complete_node(claim(execution, "start"), {"main": {"ok": True}}, 0.01)
    start_row, a = node(execution, "start"), node(execution, "a")
    assert (start_row.status, start_row.output, start_row.ports) == ("succeeded", {"ok": True}, ["main"])
    assert a.status == "queued" and a.task_id
    assert node(execution, "b").status == "pending"
    types = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("type", flat=True))
    assert types[-2:] == ["node_succeeded", "node_queued"]
    assert last_seq(execution) == len(types)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's locking statement")
def test_locking_with_nodes_reads_the_execution_and_every_node_row(test_nodes):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})), {"big": "x" * 100})
    with locked(execution.pk, nodes=True) as unit:
        assert unit.execution.status == "running"
        assert unit.execution.get_deferred_fields() == {"trigger_data", "context", "output"}
        assert sorted(unit.node_ids()) == ["a", "start"]
        start_row = unit.node("start")
        assert start_row.pk == node(execution, "start").pk
        assert start_row.status == "queued"
    assert set(statements.lock_with_nodes(execution.pk, _ROW_FIELDS)[1]) == {"start", "a"}
    missing = NodeExecution.objects.filter(execution=execution).first().pk  # not an execution's id
    with pytest.raises(WorkflowExecution.DoesNotExist):
        statements.lock_with_nodes(missing, _ROW_FIELDS)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's one-statement claim")
def test_on_postgresql_a_claim_is_one_statement(test_nodes, django_assert_num_queries):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})), {"amount": 7})
    trigger = node(execution, "start")
    compiled_graph(execution.version_id)  # parsed once per process, as in a worker
    with django_assert_num_queries(1):
        taken = claim_node(
            str(execution.pk), str(trigger.pk), trigger.task_id, node_id="start", version_id=str(execution.version_id)
        )
    execution.refresh_from_db()
    assert taken.organization_id == str(execution.organization_id)
    assert taken.inputs == {"main": {"amount": 7}}
    assert taken.expression_context["trigger"] == {"amount": 7}
    assert taken.expression_context["execution"] == {
        "id": str(execution.pk),
        "workflow_id": str(execution.workflow_id),
        "started_at": execution.started_at.isoformat(),
        "trigger_kind": execution.trigger_kind,
        "attempt": 1,
    }
    assert taken.correlation_id == execution.correlation_id


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
@pytest.mark.parametrize("prepared", [True, False])
def test_the_claim_is_prepared_unless_turned_off(test_nodes, settings, prepared):
    settings.CONCERTMASTER_ENGINE_PREPARED_STATEMENTS = prepared
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as on a new connection (psycopg forgets its own list too)
    connection.connection.prepare_threshold = None  # Django's default
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})))
    assert claim(execution, "start") is not None
    assert claim(execution, "start") is None  # the second run of a statement on a connection prepares it
    claimed = [statement for statement in prepared_statements() if "WITH execution AS" in statement]
    assert len(claimed) == (1 if prepared else 0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's prepared statements")
def test_the_prepared_claim_and_completion_are_planned_once(test_nodes):
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.connection.prepare_threshold = None  # as on a new connection
    nodes = [{"id": f"n{index}", "type": "test.noop"} for index in range(6)]
    execution = start(make_workflow(*chain(*nodes)))
    for node_id in ["start", *(spec["id"] for spec in nodes)]:
        taken = claim(execution, node_id)
        complete_node(taken, {"main": {"ok": True}}, 0.01, config={})
    assert node(execution, "n5").status == "succeeded"
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%WITH execution AS%"],
        )
        plans = cursor.fetchall()
    assert len(plans) == 2  # the claim and the completion
    assert all(custom == 0 and generic >= 5 for generic, custom in plans)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's unlocked completion")
def test_a_success_whose_successors_are_simply_queued_is_one_statement(test_nodes, django_assert_num_queries):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.noop"})))
    taken = claim(execution, "start")
    assert taken.states is not None and taken.seen_seq == last_seq(execution)
    with django_assert_num_queries(1):
        complete_node(taken, {"main": {"ok": True}}, 0.01, config={"rendered": True})
    start_row, a = node(execution, "start"), node(execution, "a")
    assert (start_row.status, start_row.output, start_row.ports, start_row.duration_ms) == (
        "succeeded",
        {"ok": True},
        ["main"],
        10,
    )
    assert (start_row.input, start_row.rendered_config) == ({"main": {}}, {"rendered": True})
    assert start_row.lease_expires_at is None
    assert a.status == "queued" and a.task_id and a.lease_expires_at is not None
    assert a.queued_at == start_row.finished_at  # the statement records when the successor was first queued
    assert taken.queued_at == start_row.queued_at is not None
    rows = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("seq", "type", "data"))
    waited = start_row.waited_ms
    assert rows[-2:] == [
        (taken.seen_seq + 1, "node_succeeded", {"ports": ["main"], "duration_ms": 10, "waited_ms": waited}),
        (taken.seen_seq + 2, "node_queued", {}),
    ]
    assert last_seq(execution) == taken.seen_seq + 2


def test_a_completion_after_another_change_reads_everything_again_under_the_lock(test_nodes):
    workflow = make_workflow(
        [TRIGGER, *({"id": node_id, "type": "test.noop"} for node_id in ("a", "b", "end"))],
        [("start", "a"), ("start", "b"), ("a", "end"), ("b", "end")],
    )
    execution = start(workflow)
    complete_node(claim(execution, "start"), {"main": 1}, 0.01)
    first, second = claim(execution, "a"), claim(execution, "b")  # b's claim changes the execution after a's
    complete_node(first, {"main": "from a"}, 0.01)
    assert node(execution, "a").status == "succeeded"
    assert node(execution, "end").status == "pending"  # the AND-join still waits for b
    complete_node(second, {"main": "from b"}, 0.01)
    assert node(execution, "end").status == "queued"
    complete_node(claim(execution, "end"), {"main": "done"}, 0.01)  # the last one finishes the execution
    finished = WorkflowExecution.objects.get(pk=execution.pk)
    assert (finished.status, finished.output) == ("succeeded", "done")
    seqs = list(ExecutionEvent.objects.filter(execution=execution).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, finished.last_seq + 1))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's unlocked completion")
def test_the_unlocked_completion_writes_nothing_once_the_execution_has_moved_on(test_nodes):
    execution = start(make_workflow(*chain({"id": "a", "type": "test.noop"})))
    taken = claim(execution, "start")
    services.execution_pause(execution=WorkflowExecution.objects.get(pk=execution.pk))  # appends an event
    services.execution_resume(execution=WorkflowExecution.objects.get(pk=execution.pk))
    seq = last_seq(execution)
    assert seq > taken.seen_seq
    now = timezone.now()
    event = ExecutionEvent(
        id=uuid.uuid4(), seq=taken.seen_seq + 1, type="node_succeeded", node_id="start", data={}, at=now
    )
    queued = statements.complete_unlocked(
        execution_id=taken.execution_id,
        organization_id=taken.organization_id,
        seen_seq=taken.seen_seq,
        node_execution_id=taken.node_execution_id,
        task_id=taken.task_id,
        fields={"ports": ["main"], "output": 1, "duration_ms": 1, "input": None, "rendered_config": None},
        next_tasks={"a": "task-a"},
        events=[event],
        now=now,
        lease=now,
    )
    assert queued is None
    assert last_seq(execution) == seq
    assert (node(execution, "start").status, node(execution, "a").status) == ("running", "pending")
    assert not ExecutionEvent.objects.filter(pk=event.id).exists()
    complete_node(taken, {"main": 1}, 0.01)  # the same success through the lock
    assert (node(execution, "start").status, node(execution, "a").status) == ("succeeded", "queued")
