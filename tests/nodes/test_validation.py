"""validate_config: every schema error with its JSON pointer, formats, expressions and node checks."""

import pytest
from jsonschema import Draft202012Validator

from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.registry import UnknownNodeType, registry
from apps.nodes.validation import CONFIG_NOT_OBJECT, ConfigError, instance_errors, validate_config


class FormatsNode(Node):
    type_name = "test_formats"
    category = "actions"
    config_schema = {
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email"},
            "url": {"type": "string", "format": "uri"},
            "at": {"type": "string", "format": "date-time"},
            "count": {"type": "integer", "minimum": 1},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    @classmethod
    def check_config(cls, config):
        count = config.get("count", 2)  # may be an expression, known only once rendered
        return [("/count", "Count must be even.")] if isinstance(count, int) and count % 2 else []

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single(None)


@pytest.fixture(autouse=True)
def formats_node():
    registry.register(FormatsNode)
    yield
    registry.unregister(FormatsNode.type_name)


def test_a_valid_config_has_no_errors():
    assert validate_config("test_formats", {"url": "https://example.com/a", "to": "a@b.co", "count": 2}) == []


def test_every_error_is_reported_at_once_with_its_pointer():
    config = {"to": "not-an-email", "url": "not a uri", "at": "yesterday", "count": 0, "headers": {"a/b": 3}, "x": 1}
    errors = validate_config("test_formats", config)
    assert all(isinstance(error, ConfigError) for error in errors)
    paths = {error.path: error.message for error in errors}
    assert paths["/to"] == "'not-an-email' is not a 'email'"
    assert paths["/url"] == "'not a uri' is not a 'uri'"
    assert paths["/at"] == "'yesterday' is not a 'date-time'"
    assert paths["/count"] == "0 is less than the minimum of 1"
    assert paths["/headers/a~1b"] == "3 is not of type 'string'"
    assert paths[""] == "Additional properties are not allowed ('x' was unexpected)"


def test_a_missing_required_key_is_reported_on_the_object():
    assert validate_config("test_formats", {}) == [ConfigError("", "'url' is a required property")]


def test_values_written_as_expressions_are_checked_only_once_rendered():
    config = {"url": "{{ vars.base }}/x", "count": "{{ vars.n }}", "to": "{{ trigger.email }}"}
    assert validate_config("test_formats", config) == []
    rendered = {"url": "nope", "count": "3", "to": "x"}
    assert {error.path for error in validate_config("test_formats", rendered, rendered=True)} == {
        "/url",
        "/count",
        "/to",
    }


def test_expression_syntax_errors_are_reported_with_pointers():
    errors = validate_config("test_formats", {"url": "https://x.test", "headers": {"h": "{{ oops "}})
    assert [error.path for error in errors] == ["/headers/h"]
    assert errors[0].message.startswith("Invalid expression syntax:")


def test_node_checks_run_once_the_schema_passes():
    assert validate_config("test_formats", {"url": "https://x.test", "count": 3}) == [
        ConfigError("/count", "Count must be even.")
    ]
    # With a schema error, the node's own check is not run on a malformed config.
    assert [e.path for e in validate_config("test_formats", {"url": "nope nope", "count": 3})] == ["/url"]


def test_a_config_that_is_not_an_object_is_one_error():
    assert validate_config("test_formats", ["x"]) == [ConfigError("", CONFIG_NOT_OBJECT)]


def test_an_unknown_type_raises():
    with pytest.raises(UnknownNodeType):
        validate_config("no_such_type", {})


def test_instance_errors_checks_data_against_a_schema():
    schema = {"type": "object", "properties": {"email": {"type": "string", "format": "email"}}, "required": ["email"]}
    assert instance_errors(schema, {"email": "bad"}) == [ConfigError("/email", "'bad' is not a 'email'")]
    assert instance_errors(schema, {"email": "a@b.co"}) == []


def test_every_registered_config_schema_passes_the_draft_2020_12_metaschema():
    for node_class in registry.all():
        Draft202012Validator.check_schema(node_class.config_schema)
