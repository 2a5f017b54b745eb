"""The code step node types: their config, validation that leaves code alone, and a run through the node API."""

from __future__ import annotations

import pytest

from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin.code_steps import NETWORK_NOT_ALLOWED
from apps.nodes.registry import registry
from apps.nodes.validation import validate_config
from apps.workflows.validation import workflow_definition_problems
from tests.nodes.sandbox_helpers import needs_bwrap

CODE_WITH_BRACES = "rows = {'a': {'b': 1}}\nreturn f\"{{not an expression}} {{% raw %}} {{# x\" + str(rows)"


@pytest.mark.parametrize("type_name", ["code_python", "code_js"])
def test_code_with_template_markers_is_valid_config(type_name):
    assert validate_config(type_name, {"code": "x = '{{ broken'\n{% if"}) == []


@pytest.mark.parametrize(
    ("config", "path"),
    [({}, ""), ({"code": ""}, "/code"), ({"code": "1", "mode": "twice"}, "/mode"), ({"code": "1", "x": 1}, "")],
)
def test_bad_config_names_the_field(config, path):
    errors = validate_config("code_python", config)

    assert errors and errors[0].path == path


@pytest.mark.django_db
def test_a_workflow_with_code_full_of_braces_has_no_expression_problem():
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "py", "type": "code_python", "config": {"code": CODE_WITH_BRACES, "mode": "once"}},
        ],
        "edges": [{"source": "start", "target": "py"}],
    }

    assert workflow_definition_problems(definition) == []


def _context(type_name: str, config: dict, data=None, **extra) -> NodeContext:
    return NodeContext(
        node_id="code", execution_id="e1", organization_id="o1", config=config, inputs={"main": data}, **extra
    )


@pytest.mark.slow
@needs_bwrap
def test_a_python_step_runs_with_the_expression_context():
    node = registry.get("code_python")()
    ctx = _context(
        "code_python",
        {"code": "return {'n': len(items), 'who': trigger['who'], 'run': execution['id']}"},
        [1, 2, 3],
        expression_context={"trigger": {"who": "ann"}, "execution": {"id": "e1"}},
    )

    assert node.run(ctx).outputs == {"main": {"n": 3, "who": "ann", "run": "e1"}}


@pytest.mark.slow
@needs_bwrap
def test_a_failed_step_is_not_retried_and_carries_its_logs():
    node = registry.get("code_js")()

    with pytest.raises(NodeError) as caught:
        node.run(_context("code_js", {"code": "console.log('x'); throw new Error('nope')"}, []))

    assert caught.value.retryable is False
    assert caught.value.data["kind"] == "code"
    assert caught.value.data["logs"] == "x"


def test_network_needs_the_operator_s_consent(settings):
    settings.CONCERTMASTER_SANDBOX_ALLOW_NETWORK = False

    with pytest.raises(NodeError) as caught:
        registry.get("code_python")().run(_context("code_python", {"code": "return 1", "network": True}))

    assert caught.value.message == NETWORK_NOT_ALLOWED


@pytest.mark.slow
def test_without_bubblewrap_the_node_fails_clearly(settings):
    settings.CONCERTMASTER_SANDBOX_BWRAP = "/nonexistent/bwrap"

    with pytest.raises(NodeError) as caught:
        registry.get("code_python")().run(_context("code_python", {"code": "return 1"}))

    assert "sandbox is unavailable" in caught.value.message
    assert caught.value.data["kind"] == "unavailable"
