"""Expressions are bounded in work (operations, a deadline), in size (join, sum, `~`), in nesting, and never
print an internal object's name or heap address."""

import re
import time

import pytest

from apps.nodes import expressions
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.expressions import (
    NESTED_TOO_DEEPLY,
    PAST_DEADLINE,
    RESULT_TOO_LARGE,
    TOO_EXPENSIVE,
    ExpressionError,
    evaluate,
    expression_budget,
    expression_syntax_error,
    expression_syntax_errors,
    render,
)
from apps.nodes.registry import registry

NESTED_LOOPS = "{% for a in text %}{% for b in text %}{% endfor %}{% endfor %}done"
ADDRESS = re.compile(r"0x[0-9a-f]{4,}|_range")


def fails_with(source: str, context: dict | None = None) -> str:
    with pytest.raises(ExpressionError) as caught:
        render(source, context or {})
    return caught.value.reason


# --- operations and time ---


def test_nested_loops_over_a_long_string_stop_at_the_operation_budget_quickly():
    started = time.monotonic()
    reason = fails_with(NESTED_LOOPS, {"text": "x" * 16_000})
    assert reason == TOO_EXPENSIVE.format(limit=expressions.MAX_OPERATIONS)
    assert time.monotonic() - started < 10


def test_a_smaller_budget_counts_loop_steps_calls_and_lookups():
    with expression_budget(operations=1_000):
        assert render("{% for i in range(300) %}{{ i }}{% endfor %}", {}).startswith("0123")
    with expression_budget(operations=1_000), pytest.raises(ExpressionError, match="too expensive"):
        render("{% for i in range(600) %}{{ 'a'.upper() }}{% endfor %}", {})  # a step and a call each
    with expression_budget(operations=1_000), pytest.raises(ExpressionError, match="too expensive"):
        render("{% for i in range(600) %}{{ d.a.b }}{% endfor %}", {"d": {"a": {"b": 1}}})


def test_filters_that_call_filters_per_item_are_counted():
    with expression_budget(operations=1_000), pytest.raises(ExpressionError, match="too expensive"):
        render("{{ items | map('upper') | select('string') | list | length }}", {"items": ["a"] * 2_000})


def test_per_item_evaluations_share_one_budget():
    with expression_budget(operations=100):
        for _ in range(20):
            assert evaluate("item.a > 1", {"item": {"a": 2}}) is True
        with pytest.raises(ExpressionError, match="too expensive"):
            for _ in range(200):
                evaluate("item.a > 1", {"item": {"a": 2}})


def test_a_render_outside_a_budget_block_gets_a_budget_of_its_own():
    for _ in range(3):  # each render starts afresh
        assert render("{% for i in range(900) %}{% endfor %}ok", {}) == "ok"


def test_a_render_past_its_deadline_stops():
    started = time.monotonic()
    deadline = time.monotonic() + 0.2
    with expression_budget(operations=10**9, deadline=deadline), pytest.raises(ExpressionError) as caught:
        render(NESTED_LOOPS, {"text": "x" * 5_000})
    assert caught.value.reason == PAST_DEADLINE
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("type_name", ["map", "filter", "sort"])
def test_map_filter_and_sort_spend_one_budget_per_node_run(type_name):
    config = {
        "map": {"expression": "item * 2", "items": list(range(500))},
        "filter": {"condition": "item > 2", "items": list(range(500))},
        "sort": {"by": [{"expression": "item"}, {"expression": "-item"}], "items": list(range(300))},
    }[type_name]
    ctx = NodeContext(node_id="n", execution_id="e", organization_id="o", config=config, inputs={})
    with expression_budget(operations=400), pytest.raises(NodeError, match="too expensive"):
        registry.get(type_name)().run(ctx)
    registry.get(type_name)().run(ctx)  # the default budget is ample


# --- sizes ---


@pytest.mark.parametrize(
    "source",
    [
        "{{ (['x' * 1000] * 2000) | join }}",
        "{{ range(2000) | join('x' * 1000) }}",
        "{{ ([range(1000) | list] * 1500) | sum(start=[]) }}",
        "{{ ('x' * 600000) ~ ('x' * 600000) }}",
        "{% set s = 'x' * 600000 %}{{ s ~ s }}",
    ],
)
def test_join_sum_and_concatenation_are_capped(source):
    assert fails_with(source) == RESULT_TOO_LARGE


def test_summing_many_lists_is_linear():
    assert render("{{ ([[1]] * 500000) | sum(start=[]) | length }}", {}) == 500_000
    assert render("{{ [[1, 2], [3]] | sum(start=[]) }}", {}) == [1, 2, 3]
    assert render("{{ [1, 2.5] | sum }}", {}) == 3.5


def test_reasonable_joins_sums_and_concatenations_still_work():
    source = "{{ ['a', 'b'] | join(', ') }}|{{ 'a' ~ 1 ~ none }}|{{ [{'n': 2}, {'n': 3}] | sum(attribute='n') }}"
    assert render(source, {}) == "a, b|a1None|5"
    assert render("{{ x ~ '!' }}", {"x": "hi"}) == "hi!"


# --- no internals in text ---


@pytest.mark.parametrize(
    "source",
    [
        "{{ '%s' | format(range) }}",
        "{{ '%s' % range }}",
        "{{ '%s %s' % (range, dict) }}",
        "{{ '{}'.format(range) }}",
        "x {{ range }}",
        "{{ 'a' ~ range }}",
        "{{ range | string }}",
        "{{ [range] | join }}",
        "{{ range | pprint }}",
        "x {{ 'a'.upper }}",
        "{{ '%s' % ['a'.upper] }}",
        "{{ range | upper }}",
        "{{ 'a'.upper | trim }}",
        "{{ range | e }}",
        "{{ [range] | map('string') | join }}",
        "{{ range | truncate(200) }}",
    ],
)
def test_internal_objects_render_without_their_name_or_address(source):
    text = render(source, {})
    assert not ADDRESS.search(text), text


def test_formatting_plain_data_is_unchanged():
    source = "{{ '%s-%d-%s' | format('a', 3, [1, 'b']) }}|{{ '%s' % {'k': none} }}"
    assert render(source, {}) == "a-3-[1, 'b']|{'k': None}"


# --- nesting ---


@pytest.mark.parametrize("depth", [70, 300, 1000])
def test_an_expression_nested_too_deeply_is_a_syntax_error(depth):
    bare = "(" * depth + "1" + ")" * depth
    expected = expressions.INVALID_SYNTAX.format(reason=NESTED_TOO_DEEPLY)
    assert expression_syntax_error(bare) == expected
    assert expression_syntax_errors({"a": ["{{ " + bare + " }}"]}, "/config") == [("/config/a/0", expected)]
    assert fails_with("{{ " + bare + " }}") == NESTED_TOO_DEEPLY
    if depth >= 300:  # lists and `not` take fewer stack frames a level
        assert expression_syntax_errors("{{ " + "[" * depth + "]" * depth + " }}") == [("", expected)]
        assert expression_syntax_errors("{{ " + "not " * depth + "x }}") == [("", expected)]


def test_moderate_nesting_is_fine():
    assert render("{{ " + "(" * 20 + "1" + ")" * 20 + " }}", {}) == 1


def test_a_syntax_tree_deeper_than_the_limit_is_refused_before_it_is_compiled():
    """Python's compiler takes seconds on a few hundred nested operators: such trees never reach it."""
    expected = expressions.INVALID_SYNTAX.format(reason=NESTED_TOO_DEEPLY)
    near = expressions.MAX_SYNTAX_DEPTH - 5
    assert expression_syntax_error("not " * near + "x") is None
    assert expression_syntax_error("not " * (expressions.MAX_SYNTAX_DEPTH + 1) + "x") == expected
    assert expression_syntax_error("-" * 200 + "1") == expected
