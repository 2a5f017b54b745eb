"""Expressions: native values, text, syntax errors with pointers, and the sandbox's limits."""

import time

import pytest

from apps.nodes import expressions
from apps.nodes.expressions import ExpressionError, evaluate, expression_syntax_error, expression_syntax_errors, render

CONTEXT = {
    "trigger": {"name": "Ada", "amount": 120, "items": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 3}]},
    "nodes": {"fetch": {"output": {"status": 200, "body": {"ok": True, "tags": ["x", "y"]}}}},
    "vars": {"threshold": 100},
    "execution": {"id": "e-1"},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ trigger.amount }}", 120),
        ("{{ trigger.amount > vars.threshold }}", True),
        ("{{ nodes.fetch.output.body }}", {"ok": True, "tags": ["x", "y"]}),
        ("{{ nodes.fetch.output.body.tags | length }}", 2),
        ("{{ trigger.missing | default(42) }}", 42),
        ("{{ trigger['items'] | map(attribute='qty') | sum }}", 5),
        ("{{ none }}", None),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ {'a': trigger.name} }}", {"a": "Ada"}),
        ("{{ trigger.amount / 8 }}", 15.0),
    ],
)
def test_a_single_expression_renders_to_its_native_value(source, expected):
    assert render(source, CONTEXT) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Hello {{ trigger.name }}", "Hello Ada"),
        ("{{ trigger.amount }} EUR", "120 EUR"),
        (" {{ trigger.amount }}", " 120"),
        ("{{ trigger.name }}{{ trigger.amount }}", "Ada120"),
        ("{% for t in nodes.fetch.output.body.tags %}{{ t }};{% endfor %}", "x;y;"),
        ("no template here", "no template here"),
    ],
)
def test_a_mixed_string_renders_to_text(source, expected):
    assert render(source, CONTEXT) == expected


def test_every_string_of_nested_config_is_rendered_and_other_values_are_kept():
    config = {
        "url": "https://x.test/{{ execution.id }}",
        "body": {"n": "{{ trigger.amount }}", "keep": [1, True, None]},
    }
    assert render(config, CONTEXT) == {"url": "https://x.test/e-1", "body": {"n": 120, "keep": [1, True, None]}}


def test_an_undefined_value_fails_naming_the_expression_and_its_place():
    with pytest.raises(ExpressionError) as caught:
        render({"a": [{"b": "{{ trigger.nope.deeper }}"}]}, CONTEXT)
    error = caught.value
    assert error.pointer == "/a/0/b"
    assert error.expression == "{{ trigger.nope.deeper }}"
    assert str(error).startswith('Expression "{{ trigger.nope.deeper }}" at /a/0/b failed:')
    assert "nope" in error.reason


def test_a_runtime_error_is_an_expression_error():
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        render("{{ trigger.amount / 0 }}", CONTEXT)


def test_context_data_cannot_be_modified():
    with pytest.raises(ExpressionError, match="unsafe"):
        render("{{ trigger['items'].append(1) }}", CONTEXT)
    assert len(CONTEXT["trigger"]["items"]) == 2


def test_a_function_is_not_data():
    with pytest.raises(ExpressionError, match=r"returned a function, not JSON data"):
        render("{{ range }}", CONTEXT)


def test_syntax_errors_come_with_their_json_pointer():
    config = {"ok": "{{ trigger.name }}", "bad": "{{ trigger.name ", "list": ["x", "{{ x | no_such_filter }}"]}
    config["we/ird~key"] = "{% if %}"
    errors = dict(expression_syntax_errors(config, "/nodes/2/config"))
    assert set(errors) == {"/nodes/2/config/bad", "/nodes/2/config/list/1", "/nodes/2/config/we~1ird~0key"}
    assert errors["/nodes/2/config/list/1"] == "Invalid expression syntax: No filter named 'no_such_filter'."
    assert all(message.startswith("Invalid expression syntax:") for message in errors.values())


def test_valid_configs_have_no_syntax_errors():
    assert expression_syntax_errors({"a": "{{ x }} and {{ y | upper }}", "b": 3, "c": ["plain"]}) == []


def test_bare_expressions_evaluate_with_the_given_names():
    assert evaluate("item.qty * 2", {"item": {"qty": 4}}) == 8
    assert expression_syntax_error("item.qty *") is not None
    assert expression_syntax_error("item.qty * 2") is None
    with pytest.raises(ExpressionError, match=r'Expression "item\.nope" failed'):
        evaluate("item.nope", {"item": {}})


# --- the sandbox: each escape or bomb fails quickly with a clear message ---


def _fails_fast(source: str, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as caught:
        render(source, CONTEXT)
    assert message in str(caught.value)
    assert time.perf_counter() - started < 1.0


def test_reaching_python_internals_through_attributes_is_refused():
    _fails_fast("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' of 'str' object is unsafe")
    _fails_fast("{{ trigger.__class__ }}", "unsafe")


def test_reaching_globals_through_a_helper_function_is_refused():
    _fails_fast("{{ cycler.__init__.__globals__ }}", "unsafe")
    _fails_fast("{{ range.__globals__ }}", "unsafe")
    _fails_fast("{{ dict.__init__.__globals__ }}", "unsafe")


def test_a_huge_range_is_refused():
    _fails_fast("{{ range(10 ** 8) | list | length }}", expressions.RANGE_TOO_LARGE)
    assert render("{{ range(expressions_max) | list | length }}", {"expressions_max": expressions.MAX_RANGE}) == (
        expressions.MAX_RANGE
    )


def test_nested_ranges_share_one_budget():
    loops = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"
    _fails_fast(loops, expressions.RANGE_BUDGET_EXHAUSTED)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a' * 1000000000 }}",
        "{{ 1000000000 * 'ab' }}",
        "{{ [1, 2] * 1000000000 }}",
        "{{ ('x' * 1000) * 1000000 }}",
        "{{ 'a'.center(1000000000) }}",
        "{{ 'a'.ljust(1000000000) }}",
        "{{ 'a'.zfill(1000000000) }}",
        "{{ 'a' | center(1000000000) }}",
        "{{ 'x\ny' | indent(1000000000) }}",
        "{{ '%999999999s' % 'a' }}",
        "{{ '%*s' % (999999999, 'a') }}",
        "{{ '%999999999s' | format('a') }}",
        "{{ '{:999999999}'.format(1) }}",
        "{{ ('a' * 1000) | replace('', 'b' * 1000) }}",
        "{{ ('a' * 1000).replace('a', 'b' * 10000) }}",
        "{{ '\t' * 1000 }}{{ ('\t' * 1000).expandtabs(100000) }}",
    ],
)
def test_string_and_list_bombs_are_refused_before_allocating(source):
    _fails_fast(source, expressions.RESULT_TOO_LARGE)


def test_nested_format_specs_are_refused():
    _fails_fast("{{ '{:{}}'.format(1, 999999999) }}", expressions.NESTED_FORMAT_SPEC)


def test_huge_powers_are_refused():
    _fails_fast("{{ 9 ** (9 ** 9) }}", expressions.POWER_TOO_LARGE)
    assert render("{{ 2 ** 10 }}", CONTEXT) == 1024


def test_rendered_text_is_capped():
    _fails_fast("{% for i in range(10000) %}{{ 'x' * 200 }}{% endfor %}", expressions.RESULT_TOO_LARGE)


def test_reasonable_uses_of_the_guarded_operations_still_work():
    assert render("{{ 'ab' * 3 }}|{{ '%05.1f' % 3.14159 }}|{{ 'x' | center(5) }}|{{ '{:>4}'.format(7) }}", {}) == (
        "ababab|003.1|  x  |   7"
    )


# --- node references ---


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ nodes.fetch.output.status }}", {"fetch"}),
        ("{{ nodes['fetch'].output }} and {{ nodes[\"other-node\"].output }}", {"fetch", "other-node"}),
        ("{% if nodes.a.output %}{{ nodes.b.output | length }}{% endif %}", {"a", "b"}),
        ("{{ trigger.nodes.x }} {{ vars.nodes }}", set()),  # `nodes` of other data, not the context's
        ("plain text", set()),
        ("{{ broken", set()),  # a syntax error is reported by the syntax check, not here
        ("{% set nodes = {'x': 1} %}{{ nodes.x }}", set()),  # a local variable named nodes
    ],
)
def test_node_references_are_read_from_the_template_syntax_tree(source, expected):
    assert expressions.node_references(source) == ([("", frozenset(expected))] if expected else [])


@pytest.mark.parametrize("source", ["{{ nodes[trigger.which].output }}", "{{ nodes | length }}", "{{ nodes.items() }}"])
def test_a_dynamic_read_of_nodes_has_unknown_references(source):
    assert expressions.node_references(source) == [("", None)]


def test_node_references_carry_the_json_pointer_of_their_string():
    config = {"url": "https://x/{{ nodes.a.output.id }}", "headers": [{"v": "{{ nodes.b.output }}"}], "n": 1}
    assert expressions.node_references(config, "/nodes/2/config") == [
        ("/nodes/2/config/url", frozenset({"a"})),
        ("/nodes/2/config/headers/0/v", frozenset({"b"})),
    ]
    assert expressions.config_node_references(config) == frozenset({"a", "b"})
    assert expressions.config_node_references({"x": "{{ nodes[k] }}", "y": "{{ nodes.a }}"}) is None
