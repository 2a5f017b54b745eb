"""The Celery app. Configured from Django settings (CELERY_*), tasks found in every app and the engine."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")

app = Celery("concertmaster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["apps.executions.engine"])

# The parent of a prefork worker must not hand its connection pool (sockets, threads) to the children it forks.
from celery.signals import worker_init  # noqa: E402

from apps.core.dbpool import worker_starting  # noqa: E402

worker_init.connect(worker_starting, weak=False)
