"""The raw Celery baseline of benchmarks/run_bench.py: a no-op task, results on Redis, a queue of its own."""

import os

from celery import Celery

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("RAW_BENCH_QUEUE", "raw-bench")

app = Celery("raw_bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    broker_connection_retry_on_startup=True,
)


@app.task(name="raw_bench.noop")
def noop(value=None):
    return value
