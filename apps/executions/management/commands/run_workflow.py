"""`manage.py run_workflow <workflow id> --input '{...}' --wait`: start a run from the shell and watch it."""

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.core.errors import ApplicationError
from apps.core.jsonparse import json_loads_bounded
from apps.executions import waits
from apps.executions.choices import EXECUTION_TERMINAL, ExecutionStatus
from apps.executions.models import ExecutionEvent, NodeExecution, WorkflowExecution
from apps.executions.services import execution_start
from apps.workflows.choices import TriggerKind
from apps.workflows.models import Workflow

BAD_INPUT = "--input is not valid JSON: {error}"
NO_WORKFLOW = "No workflow with id {id!r}."
TIMED_OUT = "The execution {id} did not finish within {seconds:g} seconds (it keeps running)."
NOT_STARTED = "The workflow cannot run: {error}"
FINISHED_BADLY = "The execution {id} {status}."
OUTPUT_PREVIEW_CHARS = 2000


class Command(BaseCommand):
    help = "Run a workflow with a JSON input; with --wait, print each node's status and output as it runs."

    def add_arguments(self, parser):
        parser.add_argument("workflow_id", help="The workflow's id (UUID).")
        parser.add_argument("--input", default="{}", help="The trigger input, as JSON (default: {}).")
        parser.add_argument("--wait", action="store_true", help="Wait for the end, printing node updates.")
        parser.add_argument("--timeout", type=float, default=300.0, help="Seconds to wait with --wait.")

    def handle(self, *args, workflow_id: str, input: str, wait: bool, timeout: float, **options):
        try:
            data = json_loads_bounded(input)
        except json.JSONDecodeError as exc:
            raise CommandError(BAD_INPUT.format(error=exc)) from exc
        try:
            workflow = Workflow.objects.filter(pk=workflow_id).first()
        except ValidationError:
            workflow = None
        if workflow is None:
            raise CommandError(NO_WORKFLOW.format(id=workflow_id))
        with _local_worker(wait):
            try:
                execution = execution_start(workflow=workflow, trigger_data=data, trigger_kind=TriggerKind.MANUAL)
            except (ApplicationError, ValidationError) as exc:
                raise CommandError(NOT_STARTED.format(error=getattr(exc, "message", None) or exc)) from exc
            self.stdout.write(f"Execution {execution.pk} of {workflow.name!r}: {execution.status}")
            if not wait:
                return
            execution = self._follow(execution, timeout)
            self._summary(execution)
        if execution.status != ExecutionStatus.SUCCEEDED:
            raise CommandError(FINISHED_BADLY.format(id=execution.pk, status=execution.status))

    def _follow(self, execution: WorkflowExecution, timeout: float) -> WorkflowExecution:
        """Print node events as they are appended, until the execution finishes."""
        deadline = time.monotonic() + timeout
        seq = 0
        with waits.subscribed(execution.pk) as woken:  # woken by the run's live events, not a 50 ms poll
            while True:
                woken.clear()
                for event in ExecutionEvent.objects.filter(execution=execution, seq__gt=seq).order_by("seq"):
                    seq = event.seq
                    self._print_event(event)
                execution = WorkflowExecution.objects.get(pk=execution.pk)
                if execution.status in EXECUTION_TERMINAL and execution.last_seq <= seq:
                    return execution
                if time.monotonic() > deadline:
                    raise CommandError(TIMED_OUT.format(id=execution.pk, seconds=timeout))
                woken.wait(min(waits.FALLBACK_POLL_SECONDS, max(0.0, deadline - time.monotonic())))

    def _print_event(self, event: ExecutionEvent) -> None:
        if not event.node_id:
            self.stdout.write(f"[{event.seq}] {event.type}")
            return
        line = f"[{event.seq}] {event.node_id}: {event.type.removeprefix('node_')}"
        if event.type == "node_failed" or event.type == "node_retrying":
            line += f" ({event.data.get('error', {}).get('message', '')})"
        self.stdout.write(line)

    def _summary(self, execution: WorkflowExecution) -> None:
        self.stdout.write("")
        self.stdout.write(f"Execution {execution.pk}: {execution.status}")
        order = {node["id"]: i for i, node in enumerate(execution.version.definition.get("nodes", ()))}
        nodes = sorted(NodeExecution.objects.filter(execution=execution), key=lambda n: order.get(n.node_id, 0))
        for node in nodes:
            self.stdout.write(f"  {node.node_id} ({node.node_type}): {node.status}, attempts {node.attempt}")
            if node.output is not None:
                self.stdout.write(f"    output: {_preview(node.output)}")
            if node.error:
                self.stdout.write(f"    error: {node.error.get('message')}")
        if execution.output is not None:
            self.stdout.write(f"Output: {_preview(execution.output)}")


@contextmanager
def _local_worker(wait: bool) -> Iterator[None]:
    """In embedded mode the broker lives in this process: run a worker thread here while waiting."""
    if not (wait and settings.CONCERTMASTER_EMBEDDED_WORKER):
        yield
        return
    from celery.contrib.testing.worker import start_worker

    from concertmaster.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10) as worker:
        try:
            yield
        finally:
            worker.stop(in_sighandler=False)  # ask first: the thread then exits in about a second, not four


def _preview(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= OUTPUT_PREVIEW_CHARS else text[:OUTPUT_PREVIEW_CHARS] + "..."
