"""Celery tasks of the trigger layer (the engine's own tasks live in engine/tasks.py)."""

from celery import shared_task


@shared_task(name="concertmaster.schedule_trigger_fire", ignore_result=True)
def schedule_trigger_fire(trigger_id: str) -> None:
    """Beat calls this for each due schedule trigger (PeriodicTask kwargs carry the trigger id)."""
    from .triggers import schedule_fire

    schedule_fire(trigger_id=trigger_id)
