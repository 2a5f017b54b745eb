"""A node run's logs carry its execution, node and correlation id, from the worker into the node's thread."""

import io
import json
import logging
import logging.config

import pytest

from apps.core.logging import logging_config
from tests.executions.engine.helpers import make_workflow, start, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def json_lines():
    config = logging_config(json=True, level="INFO")
    formatter = logging.config.DictConfigurator(config).configure_custom(dict(config["formatters"]["structlog"]))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("concertmaster.node.log")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # whatever a worker started earlier in this process did to the root logger
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.setLevel(level)
    logger.removeHandler(handler)


def test_a_node_s_log_line_names_its_execution_node_and_correlation_id(engine_worker, json_lines):
    workflow = make_workflow(
        [{"id": "start", "type": "manual"}, {"id": "say", "type": "log", "config": {"message": "hi {{ trigger.n }}"}}],
        [("start", "say")],
    )
    execution = wait_finished(start(workflow, {"n": 7}, correlation_id="corr-7"))
    assert execution.status == "succeeded"
    [line] = [line for line in json_lines() if line["event"] == "hi 7"]
    assert line["execution_id"] == str(execution.pk)
    assert line["node_id"] == "say"
    assert line["correlation_id"] == "corr-7"
