"""Celery tasks of integrations: they take ids and call one service."""

from celery import shared_task


@shared_task(name="concertmaster.integration_sync", ignore_result=True, acks_late=True)
def integration_sync(job_id: str) -> None:
    """Run a sync job; a repeated delivery finds the job no longer pending and does nothing."""
    from .services import sync_job_run

    sync_job_run(job_id=job_id)


@shared_task(name="concertmaster.integration_sync_periodic", ignore_result=True)
def integration_sync_periodic(integration_id: str) -> None:
    """Beat calls this for an integration whose periodic sync is on (PeriodicTask kwargs carry the id)."""
    from .services import integration_sync_periodic as run

    run(integration_id=integration_id)
