"""The registry: strict registration, lookups, and discovery of every built-in node."""

import importlib
import inspect
import pkgutil

import pytest

from apps.nodes import builtin
from apps.nodes.base import Node, NodeContext, NodeResult
from apps.nodes.choices import Category
from apps.nodes.registry import (
    ABSTRACT_NODE,
    NodeRegistrationError,
    NodeRegistry,
    UnknownNodeType,
    class_path,
    registry,
)

STRICT = {"type": "object", "properties": {"x": {"type": "string"}}, "additionalProperties": False}


def make_node(name="sample", category="transforms", schema=None, **attributes) -> type[Node]:
    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult.single(ctx.config)

    namespace = {"type_name": name, "category": category, "config_schema": schema or STRICT, "run": run}
    return type("SampleNode", (Node,), {**namespace, **attributes})


def test_register_get_all_and_contains():
    nodes = NodeRegistry()
    first, second = make_node("b_node"), make_node("a_node", category="actions")
    assert nodes.register(first) is first
    nodes.register(second)
    assert nodes.get("b_node") is first
    assert "a_node" in nodes and "c_node" not in nodes
    assert nodes.all() == [second, first]  # by category, then name
    assert len(nodes) == 2


def test_registering_the_same_class_twice_is_a_no_op():
    nodes = NodeRegistry()
    node = make_node()
    nodes.register(node)
    nodes.register(node)
    assert nodes.all() == [node]


def test_a_second_class_under_a_taken_name_is_rejected_naming_both():
    nodes = NodeRegistry()
    first, second = make_node("dup"), make_node("dup")
    nodes.register(first)
    with pytest.raises(NodeRegistrationError) as caught:
        nodes.register(second)
    assert str(caught.value) == (
        f'Node type "dup" of {class_path(second)} is already registered by {class_path(first)}.'
    )


def test_an_unknown_type_raises_unknown_node_type():
    with pytest.raises(UnknownNodeType, match=r'Unknown node type "nope"\.'):
        NodeRegistry().get("nope")
    with pytest.raises(UnknownNodeType):
        NodeRegistry().unregister("nope")


def test_unregister_forgets_a_type():
    nodes = NodeRegistry()
    nodes.register(make_node("gone"))
    nodes.unregister("gone")
    assert "gone" not in nodes


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"type": "object", "properties": {"x": {"type": "strin"}}, "additionalProperties": False},
            "/properties/x/type",
        ),
        ({"type": "object", "required": "x", "additionalProperties": False}, "/required"),
        ({"type": "object", "properties": {}}, "strict config_schema"),
        ({"type": "array", "additionalProperties": False}, "strict config_schema"),
    ],
)
def test_invalid_or_loose_schemas_are_rejected(schema, message):
    with pytest.raises(NodeRegistrationError, match=message):
        NodeRegistry().register(make_node(schema=schema))


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"type_name": "Bad Name"}, "has type_name 'Bad Name'"),
        ({"type_name": ""}, "has type_name ''"),
        ({"type_name": "x" * 101}, "at most 100 characters"),
        ({"category": "gadgets"}, "has category 'gadgets'; expected one of: triggers, transforms"),
        ({"outputs": ["main"]}, "must declare outputs as a tuple"),
        ({"inputs": ("a", "a")}, "must declare inputs as a tuple of distinct"),
        ({"outputs": ("main", "error")}, 'declares the "error" port'),
    ],
)
def test_bad_declarations_are_rejected_with_a_clear_message(attributes, message):
    node = make_node(**{key: value for key, value in attributes.items() if key in ("category",)})
    for key, value in attributes.items():
        setattr(node, key, value)
    with pytest.raises(NodeRegistrationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        NodeRegistry().register(node)


def test_a_class_without_run_or_not_a_node_is_rejected():
    class NoRun(Node):
        type_name = "no_run"
        category = "transforms"

    with pytest.raises(NodeRegistrationError) as caught:
        NodeRegistry().register(NoRun)
    assert str(caught.value) == ABSTRACT_NODE.format(path=class_path(NoRun))
    with pytest.raises(NodeRegistrationError, match="is not a subclass"):
        NodeRegistry().register(object)


def test_plugin_prefixed_names_are_allowed():
    nodes = NodeRegistry()
    nodes.register(make_node("acme.greet"))
    assert "acme.greet" in nodes


def _builtin_classes() -> list[type[Node]]:
    classes = []
    for module_info in pkgutil.iter_modules(builtin.__path__):
        module = importlib.import_module(f"{builtin.__name__}.{module_info.name}")
        classes.extend(
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, Node)
            and obj.__module__ == module.__name__
            and not inspect.isabstract(obj)
        )
    return classes


def test_every_built_in_node_class_was_discovered():
    classes = _builtin_classes()
    assert classes
    for cls in classes:
        assert registry.get(cls.type_name) is cls


def test_the_trigger_and_transform_library_is_complete():
    expected = {
        "triggers": {"manual", "webhook", "schedule", "form"},
        "transforms": {
            "set",
            "map",
            "filter",
            "sort",
            "limit",
            "aggregate",
            "merge",
            "template",
            "json_parse",
            "json_stringify",
            "jmespath",
            "date_time",
            "split",
        },
    }
    for category, names in expected.items():
        assert names <= {cls.type_name for cls in registry.all() if cls.category == category}


def test_every_built_in_node_describes_itself():
    for cls in _builtin_classes():
        assert cls.display_name and len(cls.description) >= 60, cls.type_name
        assert cls.config_schema["additionalProperties"] is False, cls.type_name


def test_the_library_has_at_least_25_types_across_all_five_categories():
    builtins = [cls for cls in registry.all() if cls.__module__.startswith("apps.nodes.builtin.")]
    assert len(builtins) >= 25
    assert {cls.category for cls in builtins} == set(Category.values)
