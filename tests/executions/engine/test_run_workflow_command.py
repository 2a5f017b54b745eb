"""`manage.py run_workflow`: in-process against the test worker, and from scratch in a subprocess."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from apps.executions.management.commands import run_workflow
from apps.workflows.demo import DEMO_DEFINITION
from tests.executions.engine.helpers import chain, make_workflow, workflow_from

BASE_DIR = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_embedded_worker(settings):
    settings.CONCERTMASTER_EMBEDDED_WORKER = False  # the test's worker runs the nodes


@pytest.mark.django_db(transaction=True)
def test_waits_and_prints_every_node_status_and_output(engine_worker, no_embedded_worker):
    workflow = workflow_from(DEMO_DEFINITION)
    out = StringIO()
    call_command("run_workflow", str(workflow.pk), "--input", '{"name": "Ada", "amount": 7}', "--wait", stdout=out)
    text = out.getvalue()
    assert "execution_succeeded" in text
    assert "greet: succeeded" in text
    assert "big: skipped" in text
    assert "small (log): succeeded, attempts 1" in text
    assert '"greeting": "Hello Ada"' in text


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_exits_with_an_error_and_shows_the_node_error(engine_worker, no_embedded_worker):
    workflow = make_workflow(*chain({"id": "bad", "type": "test.fail", "config": {"message": "it broke"}}))
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("run_workflow", str(workflow.pk), "--wait", stdout=out)
    assert str(raised.value) == run_workflow.FINISHED_BADLY.format(id=raised.value.args[0].split()[2], status="failed")
    assert "bad: failed (it broke)" in out.getvalue()
    assert "error: it broke" in out.getvalue()


@pytest.mark.django_db
def test_bad_input_and_unknown_workflow_are_refused():
    with pytest.raises(CommandError, match="--input is not valid JSON"):
        call_command("run_workflow", "00000000-0000-0000-0000-000000000000", "--input", "{nope")
    with pytest.raises(CommandError) as raised:
        call_command("run_workflow", "not-a-uuid")
    assert str(raised.value) == run_workflow.NO_WORKFLOW.format(id="not-a-uuid")


@pytest.mark.django_db
def test_without_wait_it_prints_the_execution_and_returns(no_embedded_worker):
    workflow = workflow_from(DEMO_DEFINITION)
    out = StringIO()
    call_command("run_workflow", str(workflow.pk), stdout=out)
    assert out.getvalue().startswith("Execution ")


# The subprocess always runs embedded (its own SQLite file, whatever the suite's database is): one pass covers it.
@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("DATABASE_URL")), reason="embedded-only; runs in the SQLite pass of make test")
def test_runs_the_demo_workflow_from_a_fresh_database(tmp_path):
    """What a clean clone does: migrate, bootstrap the demo, run it embedded (in-memory broker, SQLite)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    env["DEBUG"] = "1"  # a DATABASE_URL alone means a deployment; this is a developer machine

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput")
    manage("bootstrap_demo")
    script = "from apps.workflows.models import Workflow; print(Workflow.objects.get().pk)"
    workflow_id = manage("shell", "--no-imports", "-c", script).strip().splitlines()[-1]
    out = manage("run_workflow", workflow_id, "--input", json.dumps({"name": "Bo", "amount": 500}), "--wait")
    assert "execution_succeeded" in out
    assert "big (log): succeeded" in out
    assert "small (log): skipped" in out
