"""The engine's two persistence paths write the same rows (issue 14).

On PostgreSQL the hot path (claim, lock, completion) runs hand-written statements (`engine/statements.py`);
everywhere else it runs the ORM. `CONCERTMASTER_ENGINE_STORE` picks one (`engine/store.py`), so here each
workflow of a corpus runs through a real worker once on each path, and the resulting `NodeExecution` and
`ExecutionEvent` rows (of the execution and its children) must be equal once ids and times are normalised.

While they run, a deferred trigger checks the invariant the unlocked completion relies on: every change of a
running execution's nodes (their status or ports) appends an event in the same transaction.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import DateTimeField, ForeignKey, UUIDField

from apps.executions import services
from apps.executions.engine import statements, store
from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from tests.executions.conftest import wait_idle
from tests.executions.engine.helpers import TRIGGER, chain, make_workflow, start, wait_finished, wait_node
from tests.orgs.factories import OrganizationFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="only the ORM path exists on SQLite: there is nothing to compare"
    ),
]

FAST_RETRY = {"max_attempts": 3, "backoff_seconds": 0.05, "max_delay_seconds": 0.1}

#: Event data and node values that carry times or durations (they differ between any two runs).
TIMING_KEYS = frozenset({"duration_ms", "waited_ms", "delay_seconds", "slept_until"})
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?")


# --- the corpus: each builds a workflow, runs it to its end through the worker and returns the execution -----


def sequence() -> WorkflowExecution:
    workflow = make_workflow(*chain({"id": "a", "type": "test.noop"}, {"id": "b", "type": "test.echo"}))
    return wait_finished(start(workflow, {"x": 1}))


def parallel_split_and_join() -> WorkflowExecution:
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "a", "type": "test.echo", "config": {"value": "A"}},
            {"id": "b", "type": "test.slow", "config": {"seconds": 0.2}},
            {"id": "join", "type": "test.echo", "config": {"value": "joined"}},
        ],
        [("start", "a"), ("start", "b"), ("a", "join"), ("b", "join")],
    )
    return wait_finished(start(workflow))


def exclusive_branch_and_simple_merge() -> WorkflowExecution:
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "if", "type": "test.ports", "config": {"ports": ["a"]}},
            {"id": "yes", "type": "test.noop"},
            {"id": "no", "type": "test.noop"},
            {"id": "no_after", "type": "test.noop"},
            {"id": "merge", "type": "test.echo", "config": {"value": "merged"}},
        ],
        [("start", "if"), ("if", "yes", "a"), ("if", "no", "b"), ("no", "no_after"), ("yes", "merge")],
    )
    return wait_finished(start(workflow, {"v": 1}))


def retry_then_success() -> WorkflowExecution:
    workflow = make_workflow(
        *chain({"id": "flaky", "type": "test.flaky", "config": {"succeed_on": 3}, "retry": FAST_RETRY})
    )
    return wait_finished(start(workflow))


def retry_then_error_port() -> WorkflowExecution:
    workflow = make_workflow(
        [
            TRIGGER,
            {
                "id": "flaky",
                "type": "test.flaky",
                "config": {"succeed_on": 9},
                "retry": FAST_RETRY,
                "on_error": "route",
            },
            {"id": "next", "type": "test.noop"},
            {"id": "handler", "type": "test.echo", "config": {"value": "{{ nodes.flaky.output.error.message }}"}},
        ],
        [("start", "flaky"), ("flaky", "next"), ("flaky", "handler", "error")],
    )
    return wait_finished(start(workflow))


def pause_and_resume() -> WorkflowExecution:
    workflow = make_workflow(
        *chain({"id": "slow", "type": "test.slow", "config": {"seconds": 0.3}}, {"id": "next", "type": "test.noop"})
    )
    execution = start(workflow)
    wait_node(execution, "slow", "running")
    services.execution_pause(execution=execution)
    wait_node(execution, "slow", "succeeded")
    services.execution_resume(execution=execution)
    return wait_finished(execution)


def cancel_during_a_delay() -> WorkflowExecution:
    workflow = make_workflow(
        *chain({"id": "wait", "type": "delay", "config": {"seconds": 7200}}, {"id": "after", "type": "test.noop"})
    )
    execution = start(workflow)
    wait_node(execution, "wait", "waiting")
    services.execution_cancel(execution=execution)
    return wait_finished(execution)


def approval() -> WorkflowExecution:
    workflow = make_workflow(
        [
            TRIGGER,
            {"id": "ask", "type": "wait_for_approval", "config": {"message": "Ship it?"}},
            {"id": "yes", "type": "test.noop"},
            {"id": "no", "type": "test.noop"},
            {"id": "late", "type": "test.noop"},
        ],
        [("start", "ask"), ("ask", "yes", "approved"), ("ask", "no", "rejected"), ("ask", "late", "timeout")],
    )
    execution = start(workflow, {"order": 7})
    wait_node(execution, "ask", "waiting")
    user, _ = get_user_model().objects.get_or_create(username="approver")  # the same name in both runs
    services.execution_approve(execution=execution, node_id="ask", user=user, comment="go")
    return wait_finished(execution)


def foreach_with_children() -> WorkflowExecution:
    organization = OrganizationFactory()
    child = make_workflow(
        *chain({"id": "double", "type": "test.echo", "config": {"value": "{{ trigger.n * 2 }}"}}),
        organization=organization,
        name="child",
    )
    config = {"workflow_id": str(child.pk), "items": [{"n": 1}, {"n": 2}, {"n": 3}], "concurrency": 1}
    parent = make_workflow(*chain({"id": "each", "type": "foreach", "config": config}), organization=organization)
    return wait_finished(start(parent), timeout=30)


CORPUS: list[Callable[[], WorkflowExecution]] = [
    sequence,
    parallel_split_and_join,
    exclusive_branch_and_simple_merge,
    retry_then_success,
    retry_then_error_port,
    pause_and_resume,
    cancel_during_a_delay,
    approval,
    foreach_with_children,
]


# --- normalising rows ----------------------------------------------------------------------------------------


def normalised(value: Any) -> Any:
    """`value` with ids and times replaced by what they are (two runs differ in those and nothing else)."""
    if isinstance(value, dict):
        return {key: _timing(item) if key in TIMING_KEYS else normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, str):
        return ISO_TIME.sub("<time>", UUID.sub("<id>", value))
    if isinstance(value, datetime | timedelta):
        return "<time>"
    return value


def _timing(value: Any) -> str:
    return "<none>" if value is None else f"<{type(value).__name__}>"


def _row(instance: NodeExecution | ExecutionEvent, skip: frozenset[str] = frozenset()) -> dict:
    row = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if field.name in skip:
            continue
        if field.primary_key or isinstance(field, ForeignKey | UUIDField | DateTimeField) or field.name in TIMING_KEYS:
            row[field.name] = _timing(value)
        else:
            row[field.name] = normalised(value)
    return row


def snapshot(execution: WorkflowExecution) -> list[dict]:
    """The execution's and its children's node and event rows (children in the order they were created)."""
    executions = [execution, *WorkflowExecution.objects.filter(parent=execution).order_by("created_at", "pk")]
    return [
        {
            "status": run.status,
            "last_seq": run.last_seq,
            "output": normalised(run.output),
            "error": normalised(run.error),
            "nodes": [_row(n) for n in NodeExecution.objects.filter(execution=run).order_by("node_id")],
            "events": [_row(e) for e in ExecutionEvent.objects.filter(execution=run).order_by("seq")],
        }
        for run in executions
    ]


# --- the invariant, checked by the database --------------------------------------------------------------------

_NODES = NodeExecution._meta.db_table
_EVENTS = ExecutionEvent._meta.db_table
_EXECUTIONS = WorkflowExecution._meta.db_table
_VIOLATIONS = "test_engine_invariant_violations"

_INSTALL = f"""
CREATE TABLE IF NOT EXISTS {_VIOLATIONS} (
    execution_id uuid, node_id text, old_status text, new_status text, execution_status text
);
CREATE OR REPLACE FUNCTION test_engine_node_change_has_event() RETURNS trigger AS $$
DECLARE
    run_status text;
BEGIN
    SELECT status INTO run_status FROM {_EXECUTIONS} WHERE id = NEW.execution_id;
    IF run_status = 'running' AND NOT EXISTS (
        SELECT 1 FROM {_EVENTS}
        WHERE execution_id = NEW.execution_id AND xmin::text = (txid_current() % 4294967296)::text
    ) THEN
        INSERT INTO {_VIOLATIONS} VALUES (NEW.execution_id, NEW.node_id, OLD.status, NEW.status, run_status);
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS test_engine_node_change_has_event ON {_NODES};
CREATE CONSTRAINT TRIGGER test_engine_node_change_has_event AFTER UPDATE ON {_NODES}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.ports IS DISTINCT FROM NEW.ports)
    EXECUTE FUNCTION test_engine_node_change_has_event();
"""

_REMOVE = f"""
DROP TRIGGER IF EXISTS test_engine_node_change_has_event ON {_NODES};
DROP FUNCTION IF EXISTS test_engine_node_change_has_event();
DROP TABLE IF EXISTS {_VIOLATIONS};
"""


@pytest.fixture
def node_changes_append_events(engine_worker):
    """Fails the test when a transaction changed a running execution's node status or ports without an event
    for that execution: checked at each commit by a deferred constraint trigger."""
    with connection.cursor() as cursor:
        cursor.execute(_INSTALL)
    yield
    wait_idle()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT execution_id, node_id, old_status, new_status FROM {_VIOLATIONS}")
        violations = cursor.fetchall()
        cursor.execute(_REMOVE)
    assert violations == [], f"node changes without an event: {violations}"


def differences(orm: Any, sql: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, as "path: orm value != sql value" (readable where a whole-row diff is not)."""
    if isinstance(orm, dict) and isinstance(sql, dict):
        keys = [*orm, *(key for key in sql if key not in orm)]
        return [line for key in keys for line in differences(orm.get(key), sql.get(key), f"{path}.{key}")]
    if isinstance(orm, list) and isinstance(sql, list) and len(orm) == len(sql):
        return [
            line
            for index, pair in enumerate(zip(orm, sql, strict=True))
            for line in differences(*pair, f"{path}[{index}]")
        ]
    return [] if orm == sql else [f"{path}: {orm!r} != {sql!r}"]


@pytest.fixture
def statement_calls(monkeypatch) -> Counter:
    """How often the worker ran each hand-written statement (the real ones: counted, then called)."""
    calls: Counter = Counter()

    def counted(name: str) -> Callable:
        real = getattr(statements, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return call

    for name in ("claim", "lock_with_nodes", "complete_unlocked"):
        monkeypatch.setattr(statements, name, counted(name))
    return calls


def run_on(store: str, scenario: Callable[[], WorkflowExecution], settings, calls: Counter) -> list[dict]:
    settings.CONCERTMASTER_ENGINE_STORE = store
    calls.clear()
    execution = scenario()
    wait_idle()
    if store == "sql":
        assert calls["claim"] and calls["lock_with_nodes"], "the SQL store did not run its statements"
    else:
        assert not calls, f"the ORM store ran hand-written statements: {dict(calls)}"
    return snapshot(execution)


@pytest.mark.parametrize("scenario", CORPUS, ids=[scenario.__name__ for scenario in CORPUS])
def test_both_stores_write_the_same_rows(
    scenario, engine_worker, node_changes_append_events, statement_calls, settings
):
    sql = run_on("sql", scenario, settings, statement_calls)
    orm = run_on("orm", scenario, settings, statement_calls)
    assert sql[0]["nodes"], "the scenario ran no node"
    assert differences(orm, sql) == []


def test_the_store_setting_picks_the_path(settings):
    settings.CONCERTMASTER_ENGINE_STORE = "auto"
    assert store.uses_sql()
    settings.CONCERTMASTER_ENGINE_STORE = "orm"
    assert not store.uses_sql()
    settings.CONCERTMASTER_ENGINE_STORE = "sql"
    assert store.uses_sql()
    settings.CONCERTMASTER_ENGINE_STORE = "fast"
    with pytest.raises(ImproperlyConfigured, match="CONCERTMASTER_ENGINE_STORE must be one of auto, orm, sql"):
        store.uses_sql()


def test_the_invariant_check_finds_a_node_change_without_an_event(engine_worker, settings):
    """The trigger above can fail: a node status changed outside the engine, with no event, is reported."""
    with connection.cursor() as cursor:
        cursor.execute(_INSTALL)
    try:
        workflow = make_workflow(*chain({"id": "slow", "type": "test.slow", "config": {"seconds": 0.3}}))
        execution = start(workflow)
        wait_node(execution, "slow", "running")
        NodeExecution.objects.filter(execution=execution, node_id="start").update(status="pending")
        wait_finished(execution)
        wait_idle()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT node_id, old_status, new_status, execution_status FROM {_VIOLATIONS}")
            assert cursor.fetchall() == [("start", "succeeded", "pending", "running")]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_REMOVE)
