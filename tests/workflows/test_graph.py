"""Graph parsing and validation: pure, no database."""

import copy
import graphlib
import json

import pytest

from apps.workflows import graph
from apps.workflows.graph import Edge, NodeSpec, Problem, parse_definition, validate_definition


def _require_message(config: dict) -> list[tuple[str, str]]:
    if not isinstance(config.get("message"), str):
        return [("/message", "'message' is a required string.")]
    return []


def _switch_ports(config: dict) -> tuple[str, ...]:
    return (*config["cases"], "default")


def _switch_errors(config: dict) -> list[tuple[str, str]]:
    return [] if isinstance(config.get("cases"), list) else [("/cases", "'cases' must be a list.")]


NODE_TYPES = {
    "manual": NodeSpec(type_name="manual", category="triggers", inputs=()),
    "log": NodeSpec(type_name="log", category="actions", config_errors=_require_message),
    "set": NodeSpec(type_name="set", category="transforms"),
    "if_else": NodeSpec(type_name="if_else", category="conditions", outputs=("true", "false")),
    "switch": NodeSpec(
        type_name="switch", category="conditions", output_ports=_switch_ports, config_errors=_switch_errors
    ),
    "merge": NodeSpec(type_name="merge", category="transforms", inputs=("a", "b")),
    "legacy": NodeSpec(type_name="legacy", category="actions", enabled=False),
}


def _expression_errors(value, pointer: str) -> list[tuple[str, str]]:
    """A stand-in for the Jinja2 syntax check: a string with '{{' but no '}}' is malformed."""
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _expression_errors(item, f"{pointer}/{key}")]
    if isinstance(value, str) and "{{" in value and "}}" not in value:
        return [(pointer, "unclosed expression")]
    return []


def _validate(definition) -> list[Problem]:
    return validate_definition(definition, node_types=NODE_TYPES, expression_errors=_expression_errors)


def _codes(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in problems]


VALID = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "check", "type": "if_else", "config": {}},
        {"id": "big", "type": "log", "config": {"message": "big {{ trigger.amount }}"}},
        {"id": "small", "type": "log", "config": {"message": "small"}, "on_error": "route"},
        {"id": "oops", "type": "set"},
        {"id": "route", "type": "switch", "config": {"cases": ["x", "y"]}},
        {"id": "join", "type": "merge", "retry": {"max_attempts": 3}, "timeout_seconds": 2.5},
    ],
    "edges": [
        {"source": "start", "target": "check"},
        {"source": "check", "source_port": "true", "target": "big"},
        {"source": "check", "source_port": "false", "target": "small"},
        {"source": "small", "source_port": "error", "target": "oops"},
        {"source": "big", "target": "route"},
        {"source": "route", "source_port": "y", "target": "join", "target_port": "a"},
        {"source": "route", "source_port": "default", "target": "join", "target_port": "b"},
    ],
}


def test_valid_definition_has_no_problems():
    """A definition using ports, the error port, a config-dependent port and node settings is valid."""
    assert _validate(VALID) == []


def test_every_problem_is_reported_at_once():
    """One definition with one of each problem gets all of them, each at its JSON pointer."""
    definition = {
        "nodes": [
            {"id": "start", "type": "manual", "config": {}},
            {"id": "a", "type": "log", "config": {}},  # config misses "message"
            {"id": "b", "type": "teleport"},  # unknown type
            {"id": "c", "type": "legacy"},  # disabled type
            {"id": "a", "type": "set"},  # duplicate id
            {"id": "d", "type": "log", "config": {"message": "{{ broken"}},  # bad expression
            {"id": "island", "type": "set"},  # unreachable
            {"id": "x", "type": "set"},
            {"id": "y", "type": "set"},
        ],
        "edges": [
            {"source": "start", "target": "a"},
            {"source": "a", "target": "ghost"},  # missing node
            {"source": "start", "source_port": "nope", "target": "d"},  # missing output port
            {"source": "start", "target": "d", "target_port": "side"},  # missing input port
            {"source": "start", "target": "a"},  # duplicate edge
            {"source": "start", "target": "c"},
            {"source": "x", "target": "y"},  # x -> y -> x: a cycle off the trigger's reach
            {"source": "y", "target": "x"},
        ],
    }
    problems = _validate(definition)
    assert set(_codes(problems)) == {
        ("/nodes/1/config/message", graph.INVALID_CONFIG),
        ("/nodes/2/type", graph.UNKNOWN_NODE_TYPE),
        ("/nodes/3/type", graph.DISABLED_NODE_TYPE),
        ("/nodes/4/id", graph.DUPLICATE_NODE_ID),
        ("/nodes/5/config/message", graph.BAD_EXPRESSION),
        ("/edges/1/target", graph.EDGE_MISSING_NODE),
        ("/edges/2/source_port", graph.EDGE_MISSING_PORT),
        ("/edges/3/target_port", graph.EDGE_MISSING_PORT),
        ("/edges/4", graph.DUPLICATE_EDGE),
        ("/edges/6", graph.CYCLE),
        ("/nodes/6", graph.UNREACHABLE_NODE),
        ("/nodes/7", graph.UNREACHABLE_NODE),
        ("/nodes/8", graph.UNREACHABLE_NODE),
    }
    assert len(problems) == 13
    messages = {p.path: p.message for p in problems}
    assert messages["/nodes/2/type"] == graph.MSG_UNKNOWN_NODE_TYPE.format(type="teleport")
    assert messages["/nodes/3/type"] == graph.MSG_DISABLED_NODE_TYPE.format(type="legacy")
    assert messages["/nodes/4/id"] == graph.MSG_DUPLICATE_NODE_ID.format(id="a")
    assert messages["/edges/1/target"] == graph.MSG_EDGE_MISSING_NODE.format(id="ghost")
    assert messages["/edges/6"] == graph.MSG_CYCLE.format(path="x -> y -> x")
    assert messages["/nodes/1/config/message"] == "'message' is a required string."
    assert messages["/nodes/5/config/message"] == "unclosed expression"


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ([], [("", graph.NOT_OBJECT)]),
        ("nodes", [("", graph.NOT_OBJECT)]),
        ({}, [("/nodes", graph.NOT_LIST), ("/edges", graph.NOT_LIST)]),
        ({"nodes": {}, "edges": []}, [("/nodes", graph.NOT_LIST)]),
        ({"nodes": [{"id": "s", "type": "manual"}], "edges": None}, [("/edges", graph.NOT_LIST)]),
        ({"nodes": ["s"], "edges": []}, [("/nodes/0", graph.NOT_OBJECT), ("/nodes", graph.NO_TRIGGER)]),
    ],
)
def test_malformed_top_level(definition, expected):
    """Something that is not a definition object with two lists says exactly that."""
    assert _codes(_validate(definition)) == expected


def test_malformed_nodes_and_edges():
    """Missing ids and types, a non-object config, bad settings and malformed edges each get a problem."""
    definition = {
        "nodes": [
            {"id": "start", "type": "manual"},
            {"type": "set"},
            {"id": "", "type": "set"},
            {"id": "n", "type": 3},
            {"id": "m", "type": "set", "config": [1]},
            {"id": "s", "type": "set", "on_error": "explode", "timeout_seconds": 0, "retry": {"max_attempts": 0}},
            {"id": "t", "type": "set", "timeout_seconds": True, "retry": "twice"},
        ],
        "edges": [
            "start->m",
            {"target": "m"},
            {"source": "start", "target": 7},
            {"source": "start", "target": "s", "source_port": ""},
            {"source": "start", "target": "t"},
        ],
    }
    assert _codes(_validate(definition)) == [
        ("/nodes/1/id", graph.INVALID_NODE_ID),
        ("/nodes/2/id", graph.INVALID_NODE_ID),
        ("/nodes/3/type", graph.INVALID_NODE_TYPE),
        ("/nodes/4/config", graph.NOT_OBJECT),
        ("/nodes/5/on_error", graph.INVALID_NODE_SETTING),
        ("/nodes/5/timeout_seconds", graph.INVALID_NODE_SETTING),
        ("/nodes/5/retry", graph.INVALID_NODE_SETTING),
        ("/nodes/6/timeout_seconds", graph.INVALID_NODE_SETTING),
        ("/nodes/6/retry", graph.INVALID_NODE_SETTING),
        ("/edges/0", graph.NOT_OBJECT),
        ("/edges/1/source", graph.INVALID_EDGE),
        ("/edges/2/target", graph.INVALID_EDGE),
        ("/edges/3/source_port", graph.INVALID_EDGE),
        ("/nodes/4", graph.UNREACHABLE_NODE),
    ]


def test_no_trigger():
    """Without a trigger node there is one problem at /nodes (not one per unreachable node)."""
    definition = {"nodes": [{"id": "a", "type": "set"}, {"id": "b", "type": "set"}], "edges": []}
    assert _validate(definition) == [Problem("/nodes", graph.MSG_NO_TRIGGER, graph.NO_TRIGGER)]


def test_unknown_type_does_not_make_its_successors_unreachable():
    """A misspelt trigger is reported once, not again through every node behind it."""
    definition = {
        "nodes": [{"id": "start", "type": "manul"}, {"id": "a", "type": "set"}],
        "edges": [{"source": "start", "target": "a"}],
    }
    assert _codes(_validate(definition)) == [("/nodes/0/type", graph.UNKNOWN_NODE_TYPE)]


def test_reachability_follows_edges_only_from_triggers():
    """A node fed only by an unreachable node is unreachable too."""
    definition = {
        "nodes": [{"id": "s", "type": "manual"}, {"id": "a", "type": "set"}, {"id": "b", "type": "set"}],
        "edges": [{"source": "a", "target": "b"}],
    }
    assert _codes(_validate(definition)) == [("/nodes/1", graph.UNREACHABLE_NODE), ("/nodes/2", graph.UNREACHABLE_NODE)]


def test_every_cycle_is_named():
    """Two separate cycles, and a self-loop, are each reported with the nodes on them."""
    definition = {
        "nodes": [{"id": "s", "type": "manual"}] + [{"id": n, "type": "set"} for n in "abcde"],
        "edges": [
            {"source": "s", "target": "a"},
            {"source": "a", "target": "b"},
            {"source": "b", "target": "c"},
            {"source": "c", "target": "a"},
            {"source": "s", "target": "d"},
            {"source": "d", "target": "e"},
            {"source": "e", "target": "d"},
            {"source": "e", "target": "e"},
        ],
    }
    problems = _validate(definition)
    assert all(p.code == graph.CYCLE for p in problems)
    cycles = {
        frozenset(p.message.removeprefix("These nodes form a cycle: ").rstrip(".").split(" -> ")) for p in problems
    }
    assert cycles == {frozenset("abc"), frozenset("de"), frozenset("e")}
    assert len(problems) == 3


def test_config_dependent_ports():
    """A switch's ports follow its cases; a config its schema rejects skips the port check, not the config check."""
    base = copy.deepcopy(VALID)
    base["edges"][5]["source_port"] = "z"
    assert _codes(_validate(base)) == [("/edges/5/source_port", graph.EDGE_MISSING_PORT)]
    message = _validate(base)[0].message
    assert message == graph.MSG_EDGE_MISSING_OUTPUT.format(
        id="route", type="switch", port="z", ports="default, error, x, y"
    )
    base["nodes"][5]["config"] = {"cases": 5}
    assert _codes(_validate(base)) == [("/nodes/5/config/cases", graph.INVALID_CONFIG)]


def test_port_function_failing_on_a_valid_config_is_a_bug_not_a_problem():
    """If a type cannot name its ports for a config it accepts, the error surfaces instead of hiding."""

    def broken(config):
        raise KeyError("cases")

    types = {**NODE_TYPES, "switch": NodeSpec(type_name="switch", category="conditions", output_ports=broken)}
    with pytest.raises(KeyError):
        validate_definition(VALID, node_types=types)


def test_edge_into_a_trigger_is_a_missing_port():
    """A trigger takes no input, so an edge into it names a port it does not have."""
    definition = copy.deepcopy(VALID)
    definition["nodes"].append({"id": "again", "type": "manual"})
    definition["edges"].append({"source": "big", "target": "again"})
    assert _codes(_validate(definition)) == [("/edges/7/target_port", graph.EDGE_MISSING_PORT)]
    assert _validate(definition)[0].message == graph.MSG_EDGE_MISSING_INPUT.format(
        id="again", type="manual", port="main", ports="none"
    )


def test_without_an_expression_checker_expressions_are_not_checked():
    definition = copy.deepcopy(VALID)
    definition["nodes"][2]["config"]["message"] = "{{ broken"
    assert validate_definition(definition, node_types=NODE_TYPES) == []
    assert _codes(_validate(definition)) == [("/nodes/2/config/message", graph.BAD_EXPRESSION)]


def test_problems_are_json_serialisable():
    problems = _validate({"nodes": [{"id": "a", "type": "nope"}], "edges": [{"source": "a", "target": "b"}]})
    assert json.loads(json.dumps([p.__dict__ for p in problems])) == [
        {"path": "/nodes/0/type", "message": "Unknown node type 'nope'.", "code": graph.UNKNOWN_NODE_TYPE},
        {"path": "/edges/0/target", "message": "No node has the id 'b'.", "code": graph.EDGE_MISSING_NODE},
    ]


def test_parse_definition_builds_the_maps():
    parsed = parse_definition(VALID)
    assert list(parsed.nodes) == ["start", "check", "big", "small", "oops", "route", "join"]
    assert parsed.trigger_ids == ("start",)
    assert parsed.outbound["check"] == (
        Edge("check", "big", "true", "main"),
        Edge("check", "small", "false", "main"),
    )
    assert parsed.inbound["join"] == (Edge("route", "join", "y", "a"), Edge("route", "join", "default", "b"))
    assert parsed.inbound["start"] == ()
    assert parsed.outbound["join"] == ()
    assert parsed.nodes["join"]["retry"] == {"max_attempts": 3}
    order = parsed.order()
    assert order.index("start") < order.index("check") < order.index("big") < order.index("route")
    assert order.index("small") < order.index("oops")


def test_parse_definition_trigger_types_and_read_only():
    definition = copy.deepcopy(VALID)
    definition["nodes"].append({"id": "hook", "type": "webhook"})
    definition["edges"].append({"source": "hook", "target": "check"})
    parsed = parse_definition(definition, trigger_types={"manual", "webhook"})
    assert parsed.trigger_ids == ("start", "hook")
    assert parse_definition(definition, trigger_types={"webhook"}).trigger_ids == ("hook",)
    with pytest.raises(TypeError):
        parsed.nodes["start"]["type"] = "set"
    with pytest.raises(TypeError):
        parsed.inbound["start"] = ()


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (None, graph.MSG_PARSE_MALFORMED.format(error=TypeError("'NoneType' object is not subscriptable"))),
        ({"edges": []}, graph.MSG_PARSE_MALFORMED.format(error=KeyError("nodes"))),
        ({"nodes": [{"type": "manual"}], "edges": []}, graph.MSG_PARSE_MALFORMED.format(error=KeyError("id"))),
        (
            {"nodes": [{"id": "a"}], "edges": [{"target": "a"}]},
            graph.MSG_PARSE_MALFORMED.format(error=KeyError("source")),
        ),
        (
            {"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]},
            graph.MSG_PARSE_MISSING_NODE.format(source="a", target="b"),
        ),
    ],
)
def test_parse_definition_refuses_broken_input(definition, message):
    with pytest.raises(ValueError) as excinfo:
        parse_definition(definition)
    assert str(excinfo.value) == message


def test_graph_order_raises_on_a_cycle():
    parsed = parse_definition(
        {"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]}
    )
    with pytest.raises(graphlib.CycleError):
        parsed.order()


def test_two_hundred_nodes_validate():
    """A long chain with branches validates; the definition is not modified."""
    nodes = [{"id": "start", "type": "manual"}] + [
        {"id": f"n{i}", "type": "log", "config": {"message": f"{{{{ nodes.n{i - 1}.output }}}}"}} for i in range(199)
    ]
    edges = [{"source": "start", "target": "n0"}] + [{"source": f"n{i - 1}", "target": f"n{i}"} for i in range(1, 199)]
    definition = {"nodes": nodes, "edges": edges}
    snapshot = copy.deepcopy(definition)
    assert _validate(definition) == []
    assert definition == snapshot


# --- node references in expressions ---


def _references(value, pointer: str) -> list[tuple[str, frozenset[str] | None]]:
    """A stand-in for the Jinja reader: `@id` names one node, `@*` any node."""
    if isinstance(value, dict):
        return [r for key, item in value.items() for r in _references(item, f"{pointer}/{key}")]
    if isinstance(value, str) and value.startswith("@"):
        return [(pointer, None if value == "@*" else frozenset(value[1:].split(",")))]
    return []


def _validate_references(definition) -> list[Problem]:
    return validate_definition(definition, node_types=NODE_TYPES, node_references=_references)


def _chain(*configs: dict) -> dict:
    """start -> a -> b -> c, plus `side` fed by start only (a parallel branch)."""
    nodes = [{"id": "start", "type": "manual"}]
    nodes += [{"id": node_id, "type": "set", "config": config} for node_id, config in zip("abc", configs, strict=False)]
    nodes.append({"id": "side", "type": "set", "config": {}})
    edges = [{"source": s, "target": t} for s, t in (("start", "a"), ("a", "b"), ("b", "c"), ("start", "side"))]
    return {"nodes": nodes, "edges": edges}


def test_a_reference_to_an_upstream_node_is_fine():
    assert _validate_references(_chain({}, {"x": "@a"}, {"x": "@a,b,start", "y": "@*"})) == []


def test_a_reference_to_a_missing_node_is_a_problem_at_the_config_field():
    problems = _validate_references(_chain({}, {"url": "@nope"}, {}))
    assert problems == [
        Problem(
            path="/nodes/2/config/url",
            message=graph.MSG_UNKNOWN_REFERENCE.format(id="nope"),
            code=graph.UNKNOWN_NODE_REFERENCE,
        )
    ]


def test_a_reference_to_a_node_that_is_not_upstream_is_a_problem():
    problems = _validate_references(_chain({"x": "@c"}, {"y": "@side"}, {"z": "@c"}))
    assert _codes(problems) == [
        ("/nodes/1/config/x", graph.NODE_NOT_UPSTREAM),
        ("/nodes/2/config/y", graph.NODE_NOT_UPSTREAM),
        ("/nodes/3/config/z", graph.NODE_NOT_UPSTREAM),  # a node reading itself
    ]
    assert problems[0].message == graph.MSG_NOT_UPSTREAM.format(id="c", node="a")
