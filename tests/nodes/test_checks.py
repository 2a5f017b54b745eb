"""The system check reports a registered node whose schema became invalid after registration."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.checks import INVALID_SCHEMA_ID, check_node_schemas
from apps.nodes.registry import registry


class MutatedNode(Node):
    type_name = "test_mutated"
    category = "transforms"
    config_schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single(None)


@pytest.fixture
def mutated_node():
    registry.register(MutatedNode)
    original = MutatedNode.config_schema
    MutatedNode.config_schema = {**original, "properties": {"x": {"type": 5}}}
    yield MutatedNode
    MutatedNode.config_schema = original
    registry.unregister(MutatedNode.type_name)


def test_the_built_in_registry_passes():
    assert check_node_schemas() == []


def test_an_invalid_schema_is_an_error_naming_the_node_and_place(mutated_node):
    (error,) = check_node_schemas()
    assert error.id == INVALID_SCHEMA_ID
    assert error.msg.startswith('Node type "test_mutated" has an invalid config_schema at /properties/x/type:')
    assert error.obj.endswith("MutatedNode")
    with pytest.raises(SystemCheckError, match=r"nodes\.E001"):
        call_command("check")
