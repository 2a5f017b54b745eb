"""Loaded into a worker subprocess with `celery -A concertmaster worker --include tests.reliability.testnode_plugin`:
registers the test node types and routes the engine's tasks to the queue the test names, so that only the
test's own workers take them."""

import os

from apps.nodes.registry import registry
from concertmaster.celery import app
from tests.executions.engine.testnodes import TEST_NODES

QUEUE_ENV = "CONCERTMASTER_TEST_QUEUE"

for node_class in TEST_NODES:
    registry.register(node_class)

if os.environ.get(QUEUE_ENV):
    app.conf.task_routes = {"concertmaster.engine.*": {"queue": os.environ[QUEUE_ENV]}}
