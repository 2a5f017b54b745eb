"""The engine's Celery tasks: the asynchronous boundary only, at the top of the engine's imports. Each takes ids
and makes one call. Lower modules send these tasks by name (`sending.py`).

Node tasks are acknowledged late and rejected when their worker is lost, so a crash never drops one; they
may be delivered twice, which the runtime makes harmless. A database outage retries the task with backoff (same
task id, so its claim stays valid) every few seconds for a few minutes, so a node goes on within seconds of the
database's return; one that gave up is sent again by the reaper (its message is then nowhere: see presence.py).
"""

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_init, worker_ready, worker_shutdown
from django.db import DatabaseError

from . import connections, presence, recovery, sending
from . import runner as node_runner
from .children import children_changed as move_children_on
from .waking import wake_node as wake

_RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "autoretry_for": (DatabaseError,),
    # Full jitter between 0 and 1, 2, 4, 8, then 10 seconds: about 5 s apart, 40 times (some 3 minutes).
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "max_retries": 40,
}


@shared_task(name=sending.RUN_NODE, bind=True, **_RELIABLE)
def run_node(self, execution_id: str, node_execution_id: str, node_id: str = "", version_id: str = "") -> None:
    node_runner.run_node(execution_id, node_execution_id, self.request.id, node_id=node_id, version_id=version_id)


@shared_task(name=sending.WAKE_NODE, **_RELIABLE)
def wake_node(execution_id: str, node_execution_id: str) -> None:
    wake(execution_id, node_execution_id)


@shared_task(name=sending.CHILDREN_CHANGED, **_RELIABLE)
def children_changed(parent_execution_id: str, parent_node_id: str) -> None:
    move_children_on(parent_execution_id, parent_node_id)


@shared_task(name=sending.START_QUEUED, **_RELIABLE)
def start_queued(workflow_id: str) -> None:
    recovery.start_queued(workflow_id)


@shared_task(name=sending.RECOVER, ignore_result=True)
def recover() -> dict:
    return recovery.recover()


@shared_task(name=sending.PRUNE, ignore_result=True)
def prune() -> int:
    return recovery.prune()


@worker_ready.connect
def recover_at_worker_start(sender=None, **kwargs) -> None:
    """A standalone worker (`celery -A concertmaster worker`) re-queues what a dead worker left behind."""
    recovery.recover_on_start(embedded=False)


@worker_init.connect
def start_heartbeat(sender=None, **kwargs) -> None:
    """Every worker records the tasks it holds, so the reaper can tell a lost message from a held one."""
    presence.start_heartbeat(getattr(sender, "hostname", None) or "worker")


@worker_shutdown.connect
def stop_heartbeat(sender=None, **kwargs) -> None:
    presence.stop_heartbeat()


@task_prerun.connect
@task_postrun.connect
def recycle_database_connections(**kwargs) -> None:
    """What Django does around a request: drop a connection that broke or outlived CONN_MAX_AGE, keep the rest
    (see connections.py: without a health check per task).

    Celery's own Django fixup would close the connection around every task (a new PostgreSQL connection per
    node); CELERY_DB_REUSE_MAX turns that off and this keeps broken connections from lingering.
    """
    connections.recycle()
