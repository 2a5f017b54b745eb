"""The engine's Celery tasks as lower modules send them: by their registered name.

The task functions live at the top of the engine (`tasks.py`, which calls the runner, recovery and the rest);
the modules below it send tasks without importing it, so imports run one way. `tasks.py` is imported when Django
starts (`ExecutionsConfig.ready`), so the names are registered in every process that sends.
"""

from __future__ import annotations

from celery import Task

from concertmaster.celery import app

RUN_NODE = "concertmaster.engine.run_node"
WAKE_NODE = "concertmaster.engine.wake_node"
CHILDREN_CHANGED = "concertmaster.engine.children_changed"
START_QUEUED = "concertmaster.engine.start_queued"
RECOVER = "concertmaster.engine.recover"
PRUNE = "concertmaster.engine.prune"


def task(name: str) -> Task:
    """The registered task `name` (the same object as `tasks.<function>`, so patching one patches the other)."""
    return app.tasks[name]
