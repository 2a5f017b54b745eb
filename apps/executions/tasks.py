"""Celery tasks of the trigger layer (the engine's own tasks live in engine/tasks.py)."""

from celery import shared_task


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
