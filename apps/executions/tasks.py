"""Celery tasks of the trigger layer (the engine's own tasks live in engine/tasks.py)."""

from celery import shared_task
from django.db import DatabaseError


@shared_task(name="concertmaster.schedule_trigger_fire", ignore_result=True)
def schedule_trigger_fire(trigger_id: str) -> None:
    """Beat calls this for each due schedule trigger (PeriodicTask kwargs carry the trigger id)."""
    from .triggers import schedule_fire

    schedule_fire(trigger_id=trigger_id)


@shared_task(name="concertmaster.retention.prune", ignore_result=True)
def retention_prune() -> dict[str, int]:
    """Beat calls this hourly: delete what each organization's retention periods no longer keep."""
    from .retention import prune_all

    return prune_all()


@shared_task(
    name="concertmaster.error_workflow_start",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=2,
    max_retries=10,
)
def error_workflow_start(run_id: str) -> None:
    """Start a failed run's error workflow (queued when the failure commits; a repeat finds it started)."""
    from .failures import error_workflow_start as start

    start(run_id=run_id)


@shared_task(name="concertmaster.alerts.evaluate", ignore_result=True)
def alerts_evaluate() -> int:
    """Beat, every minute: each alert rule sends its digest when due; lost error workflow starts are sent again."""
    from .alerts import alerts_pass

    return alerts_pass()
