"""What the engine benchmark adds to its worker (`--include benchmarks.engine_plugin`) and to itself: a no-op
node type, raw no-op Celery tasks for the baseline, and routing of every task to the benchmark's queue."""

from __future__ import annotations

import os
import time

import redis
from celery import shared_task
from django.conf import settings

from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.registry import registry
from concertmaster.celery import app

QUEUE_ENV = "CONCERTMASTER_BENCH_QUEUE"


class BenchNoop(Node):
    """Outputs a constant: the engine's cost per node with nothing else in it (passing the input on would make
    the benchmark's joins nest lists of lists)."""

    type_name = "bench.noop"
    category = "actions"

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single({"ok": True})


if BenchNoop.type_name not in registry:
    registry.register(BenchNoop)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@shared_task(name="bench.noop", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def noop(started_key: str = "", done_key: str = "") -> None:
    """A raw Celery task that does nothing; records when it ran when asked (first and last of a chain)."""
    if started_key or done_key:
        _redis().set(started_key or done_key, repr(time.time()), ex=600)


@shared_task(name="bench.write", ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def write(row_id: str, started_key: str = "", done_key: str = "") -> None:
    """A raw task that commits one one-row UPDATE: the floor of "a hop plus durable state" on this database."""
    from django.db import connection, transaction

    if started_key or done_key:
        _redis().set(started_key or done_key, repr(time.time()), ex=600)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE executions_workflowexecution SET updated_at = updated_at WHERE id = %s", [row_id])


def route_to(queue: str) -> None:
    app.conf.task_routes = {"concertmaster.engine.*": {"queue": queue}, "bench.*": {"queue": queue}}
    app.amqp.flush_routes()
    if "router" in app.amqp.__dict__:
        del app.amqp.router  # a cached Router keeps the routes it was built with


if os.environ.get(QUEUE_ENV):
    route_to(os.environ[QUEUE_ENV])
