"""Definition validation against the registry and the admin's enabled switches."""

import pytest
from django.core.exceptions import ValidationError

from apps.nodes.base import Node, NodeResult
from apps.nodes.models import NodeType
from apps.nodes.registry import registry
from apps.workflows import graph
from apps.workflows.demo import DEMO_DEFINITION, demo_bootstrap
from apps.workflows.models import Workflow
from apps.workflows.services import workflow_activate, workflow_create, workflow_update
from apps.workflows.validation import (
    DefinitionInvalid,
    definition_validate,
    node_specs,
    problems_to_validation_error,
    workflow_definition_problems,
)


class _Start(Node):
    type_name = "test_validation.start"
    category = "triggers"
    inputs = ()

    def run(self, ctx):
        return NodeResult.single({})


class _Route(Node):
    type_name = "test_validation.route"
    category = "conditions"
    config_schema = {
        "type": "object",
        "properties": {"cases": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
        "required": ["cases"],
        "additionalProperties": False,
    }

    @classmethod
    def output_ports(cls, config):
        return (*config["cases"], "default")

    def run(self, ctx):
        return NodeResult.single(ctx.input, "default")


class _Say(Node):
    type_name = "test_validation.say"
    category = "actions"
    config_schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": 20}, "times": {"type": "integer"}},
        "required": ["text"],
        "additionalProperties": False,
    }

    def run(self, ctx):
        return NodeResult.single(ctx.config["text"])


START, ROUTE, SAY = _Start.type_name, _Route.type_name, _Say.type_name


@pytest.fixture(autouse=True)
def test_nodes():
    for cls in (_Start, _Route, _Say):
        registry.register(cls)
    yield
    for cls in (_Start, _Route, _Say):
        registry.unregister(cls.type_name)


def _definition(**overrides):
    definition = {
        "nodes": [
            {"id": "start", "type": START},
            {"id": "route", "type": ROUTE, "config": {"cases": ["a", "b"]}},
            {"id": "say", "type": SAY, "config": {"text": "{{ trigger.name }}", "times": "{{ vars.n }}"}},
        ],
        "edges": [
            {"source": "start", "target": "route"},
            {"source": "route", "source_port": "b", "target": "say"},
        ],
    }
    definition.update(overrides)
    return definition


def test_node_specs_mirror_the_registry(db):
    specs = node_specs()
    assert set(specs) >= {START, ROUTE, SAY}
    assert specs[START].is_trigger and specs[START].inputs == ()
    assert specs[ROUTE].ports_out({"cases": ["x"]}) == frozenset({"x", "default", "error"})
    assert specs[SAY].config_errors({"text": "hi"}) == []
    assert all(spec.enabled for spec in specs.values())


@pytest.mark.django_db
def test_a_valid_definition_has_no_problems():
    """Expressions stand in for values the schema would reject until rendered (times: integer)."""
    assert workflow_definition_problems(_definition()) == []
    definition_validate(_definition())


@pytest.mark.django_db
def test_schema_ports_expressions_and_types_are_checked_together():
    definition = _definition(
        nodes=[
            {"id": "start", "type": START},
            {"id": "route", "type": ROUTE, "config": {"cases": ["a", "b"]}},
            {"id": "say", "type": SAY, "config": {"text": "x" * 30, "extra": 1, "times": "{{ vars.n"}},
            {"id": "odd", "type": "test_validation.nope", "config": {"v": "{% if %}"}},
        ],
        edges=[
            {"source": "start", "target": "route"},
            {"source": "route", "source_port": "c", "target": "say"},
            {"source": "route", "target": "odd"},
        ],
    )
    problems = workflow_definition_problems(definition)
    assert sorted((p.path, p.code) for p in problems) == [
        ("/edges/1/source_port", graph.EDGE_MISSING_PORT),
        ("/edges/2/source_port", graph.EDGE_MISSING_PORT),
        ("/nodes/2/config", graph.INVALID_CONFIG),
        ("/nodes/2/config/text", graph.INVALID_CONFIG),
        ("/nodes/2/config/times", graph.BAD_EXPRESSION),
        ("/nodes/3/config/v", graph.BAD_EXPRESSION),
        ("/nodes/3/type", graph.UNKNOWN_NODE_TYPE),
    ]
    messages = {p.path: p.message for p in problems}
    assert "extra" in messages["/nodes/2/config"]
    assert messages["/nodes/2/config/times"].startswith("Invalid expression syntax")


@pytest.mark.django_db
def test_a_disabled_node_type_is_a_problem():
    NodeType.objects.create(name=SAY, category="actions", display_name="Say", implementation="tests", is_enabled=False)
    problems = workflow_definition_problems(_definition())
    assert [(p.path, p.code) for p in problems] == [("/nodes/2/type", graph.DISABLED_NODE_TYPE)]
    assert problems[0].message == graph.MSG_DISABLED_NODE_TYPE.format(type=SAY)


@pytest.mark.django_db
def test_definition_validate_raises_with_pointers_and_codes():
    with pytest.raises(ValidationError) as excinfo:
        definition_validate(_definition(edges=[]))
    error = excinfo.value
    assert error.message_dict == {
        "definition": [
            "/nodes/1: " + graph.MSG_UNREACHABLE.format(id="route"),
            "/nodes/2: " + graph.MSG_UNREACHABLE.format(id="say"),
        ]
    }
    details = error.error_dict["definition"]
    assert [(e.code, e.params["path"]) for e in details] == [
        (graph.UNREACHABLE_NODE, "/nodes/1"),
        (graph.UNREACHABLE_NODE, "/nodes/2"),
    ]


def test_percent_signs_in_messages_survive():
    problem = graph.Problem(path="/nodes/0/config/x", message="100% wrong %(path)s", code="c")
    assert problems_to_validation_error([problem]).message_dict == {
        "definition": ["/nodes/0/config/x: 100% wrong %(path)s"]
    }


@pytest.mark.django_db
def test_workflow_create_saves_an_invalid_definition_as_a_draft_without_a_version(organization):
    definition = _definition(edges=[])
    draft = workflow_create(organization=organization, name="Draft", definition=definition)
    assert draft.definition == definition
    assert draft.latest_version is None
    with pytest.raises(DefinitionInvalid) as excinfo:
        workflow_create(organization=organization, name="Broken", definition={"nodes": {}, "edges": []})
    assert [p.path for p in excinfo.value.problems] == ["/nodes"]
    assert not Workflow.objects.filter(name="Broken").exists()


@pytest.mark.django_db
def test_workflow_update_records_a_version_for_a_valid_new_definition_only(organization):
    workflow = workflow_create(organization=organization, name="W", definition=_definition())
    workflow_update(workflow=workflow, definition={"nodes": [], "edges": []})
    assert (workflow.versions.count(), workflow.revision) == (1, 2)
    assert Workflow.objects.get(pk=workflow.pk).definition == {"nodes": [], "edges": []}
    # Back to what the latest version holds: valid, and nothing new to record.
    workflow_update(workflow=workflow, definition=_definition())
    assert (workflow.versions.count(), workflow.revision) == (1, 3)
    workflow_update(workflow=workflow, name="Renamed", definition=_definition(edges=[]))
    assert Workflow.objects.get(pk=workflow.pk).name == "Renamed"
    assert workflow.versions.count() == 1


@pytest.mark.django_db
def test_activation_needs_a_valid_working_definition(organization):
    workflow = workflow_create(organization=organization, name="W", definition=_definition(edges=[]))
    with pytest.raises(DefinitionInvalid) as excinfo:
        workflow_activate(workflow=workflow)
    assert [p.code for p in excinfo.value.problems] == [graph.UNREACHABLE_NODE, graph.UNREACHABLE_NODE]
    assert Workflow.objects.get(pk=workflow.pk).status == "draft"


@pytest.mark.django_db
def test_the_demo_workflow_is_valid():
    """`make run` bootstraps the demo through workflow_create, which validates it."""
    assert workflow_definition_problems(DEMO_DEFINITION) == []
    _, workflow, _ = demo_bootstrap()
    assert workflow.definition == DEMO_DEFINITION


@pytest.mark.django_db
def test_expressions_reading_missing_or_later_nodes_are_problems_at_their_field():
    definition = _definition()
    definition["nodes"][2]["config"] = {"text": "{{ nodes.nope.output.status }}", "times": "{{ nodes['route'].x }}"}
    definition["nodes"][1]["config"]["cases"] = ["a", "b", "{{ nodes.say.output }}"]

    problems = workflow_definition_problems(definition)

    assert [(p.path, p.code, p.message) for p in problems] == [
        ("/nodes/1/config/cases/2", graph.NODE_NOT_UPSTREAM, graph.MSG_NOT_UPSTREAM.format(id="say", node="route")),
        ("/nodes/2/config/text", graph.UNKNOWN_NODE_REFERENCE, graph.MSG_UNKNOWN_REFERENCE.format(id="nope")),
    ]
    definition["nodes"][2]["config"]["text"] = "{{ nodes.start.output.name }} {{ nodes[trigger.which] }}"
    definition["nodes"][1]["config"]["cases"] = ["a", "b"]
    assert workflow_definition_problems(definition) == []
