"""The Celery app. Configured from Django settings (CELERY_*), tasks found in every app and the engine."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")

app = Celery("concertmaster")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["apps.executions.engine"])
