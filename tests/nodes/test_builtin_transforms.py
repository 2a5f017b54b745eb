"""Transform nodes: real behaviour on data (configs rendered as the engine renders them) and bad configs."""

import json

import pytest

from apps.nodes.base import NodeContext, NodeError
from apps.nodes.expressions import render
from apps.nodes.registry import registry
from apps.nodes.validation import validate_config

ORDERS = [
    {"id": 1, "customer": "ada", "status": "paid", "total": 120.0},
    {"id": 2, "customer": "bob", "status": "open", "total": 30.0},
    {"id": 3, "customer": "ada", "status": "paid", "total": 45.5},
    {"id": 4, "customer": "cy", "status": "paid", "total": None},
]
CONTEXT = {"trigger": {"orders": ORDERS, "name": "Ada"}, "nodes": {}, "vars": {"min": 40}, "execution": {"id": "e"}}


def run(type_name: str, config: dict, main=None, **ports):
    """Validate, render and run one node as the engine does; return its outputs by port."""
    assert validate_config(type_name, config) == []
    rendered = render(config, CONTEXT)
    inputs = {"main": main, **ports} if main is not None or not ports else ports
    ctx = NodeContext(node_id="n", execution_id="e", organization_id="o", config=rendered, inputs=inputs)
    return registry.get(type_name)().run(ctx).outputs


def main(type_name: str, config: dict, main=None, **ports):
    return run(type_name, config, main, **ports)["main"]


def paths(type_name: str, config: dict) -> list[str]:
    return [error.path for error in validate_config(type_name, config)]


def fails(type_name: str, config: dict, main=None, match: str = "", **ports) -> NodeError:
    with pytest.raises(NodeError, match=match) as caught:
        run(type_name, config, main, **ports)
    assert caught.value.retryable is False
    return caught.value


# --- set ---


def test_set_builds_an_object_with_native_values_and_text():
    config = {"values": {"greeting": "Hello {{ trigger.name }}", "count": "{{ trigger.orders | length }}", "n": 1}}
    assert main("set", config) == {"greeting": "Hello Ada", "count": 4, "n": 1}


def test_set_keeps_the_input_when_asked():
    assert main("set", {"values": {"b": 2, "a": 9}, "keep_input": True}, {"a": 1}) == {"a": 9, "b": 2}
    fails("set", {"values": {}, "keep_input": True}, [1], match="The input must be an object")


def test_set_bad_configs():
    assert paths("set", {}) == [""]
    assert paths("set", {"values": [1], "keep_input": "no"}) == ["/keep_input", "/values"]


# --- map ---


def test_map_evaluates_the_expression_per_item():
    config = {"expression": "{'who': item.customer | upper, 'n': index}", "items": "{{ trigger.orders[:2] }}"}
    assert main("map", config) == [{"who": "ADA", "n": 0}, {"who": "BOB", "n": 1}]
    assert main("map", {"expression": "item * 2"}, [1, 2, 3]) == [2, 4, 6]


def test_map_reports_the_failing_item():
    error = fails("map", {"expression": "item.total * 2"}, [{"total": 1}, {}], match="Item 1:")
    assert "item.total * 2" in error.message


def test_map_needs_a_list():
    fails("map", {"expression": "item"}, {"a": 1}, match=r"The input must be a list \(got dict\)")


def test_map_bad_configs():
    assert paths("map", {"expression": "item.("}) == ["/expression"]
    assert paths("map", {"expression": ""}) == ["/expression"]
    assert paths("map", {"expression": "item", "items": 3}) == ["/items"]


# --- filter ---


def test_filter_keeps_matching_items_and_rejects_the_rest_in_order():
    outputs = run("filter", {"condition": "item.status == 'paid' and (item.total or 0) > {{ vars.min }}"}, ORDERS)
    assert [order["id"] for order in outputs["main"]] == [1, 3]
    assert [order["id"] for order in outputs["rejected"]] == [2, 4]


def test_filter_with_skip_empty_takes_no_port_whose_list_is_empty():
    """A branch without items is not taken (n8n does not run a node without items); without skip_empty it is."""
    assert run("filter", {"condition": "item.id > 0", "skip_empty": True}, ORDERS) == {"main": ORDERS}
    assert run("filter", {"condition": "item.id > 99", "skip_empty": True}, ORDERS) == {"rejected": ORDERS}
    assert run("filter", {"condition": "true", "skip_empty": True}, []) == {}
    assert run("filter", {"condition": "item.id > 0"}, ORDERS) == {"main": ORDERS, "rejected": []}


def test_filter_bad_configs():
    assert paths("filter", {"condition": "item =="}) == ["/condition"]
    assert paths("filter", {}) == [""]


# --- sort ---


def test_sort_by_several_keys_with_nulls_last():
    config = {"by": [{"expression": "item.customer"}, {"expression": "item.total", "descending": True}]}
    assert [order["id"] for order in main("sort", config, ORDERS)] == [1, 3, 2, 4]
    by_total = main("sort", {"by": [{"expression": "item.total"}]}, ORDERS)
    assert [order["id"] for order in by_total] == [2, 3, 1, 4]
    nulls_first = main("sort", {"by": [{"expression": "item.total"}], "nulls": "first"}, ORDERS)
    assert [order["id"] for order in nulls_first] == [4, 2, 3, 1]


def test_sort_without_keys_sorts_the_items_and_is_stable():
    assert main("sort", {}, [3, 1, 2]) == [1, 2, 3]
    rows = [{"k": 1, "n": "a"}, {"k": 0, "n": "b"}, {"k": 1, "n": "c"}]
    assert [row["n"] for row in main("sort", {"by": [{"expression": "item.k"}]}, rows)] == ["b", "a", "c"]


def test_sort_refuses_values_that_cannot_be_compared():
    fails("sort", {}, [1, "a"], match="Cannot sort these values")


def test_sort_bad_configs():
    assert paths("sort", {"by": []}) == ["/by"]
    assert paths("sort", {"by": [{"expression": "a b c"}]}) == ["/by/0/expression"]
    assert paths("sort", {"by": [{"key": "x"}], "nulls": "middle"}) == ["/by/0", "/by/0", "/nulls"]


# --- limit ---


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"count": 2}, [1, 2]),
        ({"count": 2, "offset": 3}, [4, 5]),
        ({"count": 2, "from": "end"}, [4, 5]),
        ({"count": 2, "offset": 1, "from": "end"}, [3, 4]),
        ({"count": 10, "offset": 4, "from": "end"}, [1]),
        ({"count": 0}, []),
        ({"count": 3, "offset": 9}, []),
    ],
)
def test_limit_slices_from_the_start_or_the_end(config, expected):
    assert main("limit", config, [1, 2, 3, 4, 5]) == expected


def test_limit_bad_configs():
    assert paths("limit", {"count": -1, "offset": 1.5}) == ["/count", "/offset"]
    assert paths("limit", {"count": 1, "from": "middle"}) == ["/from"]
    assert paths("limit", {"count": "{{ vars.min }}"}) == []


# --- aggregate ---


def test_aggregate_without_groups():
    config = {
        "operations": [
            {"op": "count", "as": "orders"},
            {"op": "count", "value": "item.total", "as": "priced"},
            {"op": "sum", "value": "item.total", "as": "revenue"},
            {"op": "avg", "value": "item.total", "as": "average"},
            {"op": "min", "value": "item.total", "as": "smallest"},
            {"op": "max", "value": "item.customer", "as": "last_customer"},
        ],
        "items": "{{ trigger.orders }}",
    }
    assert main("aggregate", config) == {
        "orders": 4,
        "priced": 3,
        "revenue": 195.5,
        "average": 195.5 / 3,
        "smallest": 30.0,
        "last_customer": "cy",
    }


def test_aggregate_by_group_in_first_seen_order():
    config = {"group_by": "item.customer", "operations": [{"op": "sum", "value": "item.total or 0", "as": "total"}]}
    assert main("aggregate", config, ORDERS) == [
        {"group": "ada", "total": 165.5},
        {"group": "bob", "total": 30.0},
        {"group": "cy", "total": 0},
    ]


def test_aggregate_of_nothing():
    config = {"operations": [{"op": "avg", "value": "item", "as": "a"}, {"op": "max", "value": "item", "as": "m"}]}
    assert main("aggregate", config, []) == {"a": None, "m": None}


def test_aggregate_refuses_to_sum_text():
    fails(
        "aggregate",
        {"operations": [{"op": "sum", "value": "item.customer", "as": "s"}]},
        ORDERS,
        match="sum needs numbers",
    )


def test_aggregate_bad_configs():
    assert paths("aggregate", {"operations": []}) == ["/operations"]
    assert paths("aggregate", {"operations": [{"op": "sum", "as": "s"}]}) == ["/operations/0"]
    assert paths("aggregate", {"operations": [{"op": "median", "value": "item", "as": "m"}]}) == ["/operations/0/op"]
    twice = {"operations": [{"op": "count", "as": "n"}, {"op": "count", "as": "n"}]}
    assert validate_config("aggregate", twice)[0].message == 'Output name "n" is used twice.'
    assert paths("aggregate", {"group_by": "item.", "operations": [{"op": "count", "as": "group"}]}) == [
        "/group_by",
        "/operations/0/as",
    ]


# --- merge ---

LEFT = [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]
RIGHT = [{"id": 2, "plan": "pro"}, {"id": 3, "plan": "free"}]


def test_merge_appends_and_combines():
    assert main("merge", {"mode": "append"}, a=[1, 2], b=[3]) == [1, 2, 3]
    assert main("merge", {"mode": "append"}, a=[1]) == [1]  # the other branch was not taken
    assert main("merge", {"mode": "combine"}, a={"x": 1, "y": 1}, b={"y": 2}) == {"x": 1, "y": 2}
    assert main("merge", {"mode": "wait"}, a=1, b={"z": 2}) == {"a": 1, "b": {"z": 2}}


@pytest.mark.parametrize(
    ("join", "expected"),
    [
        ("inner", [{"id": 2, "name": "bob", "plan": "pro"}]),
        ("left", [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob", "plan": "pro"}]),
        (
            "outer",
            [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob", "plan": "pro"}, {"id": 3, "plan": "free"}],
        ),
    ],
)
def test_merge_by_key_joins_the_two_lists(join, expected):
    assert main("merge", {"mode": "by_key", "key": "id", "join": join}, a=LEFT, b=RIGHT) == expected


def test_merge_by_a_nested_key():
    a, b = [{"user": {"id": 7}, "x": 1}], [{"user": {"id": 7}, "y": 2}]
    assert main("merge", {"mode": "by_key", "key": "user.id"}, a=a, b=b) == [{"user": {"id": 7}, "x": 1, "y": 2}]


def test_merge_refuses_what_it_cannot_merge():
    fails("merge", {"mode": "combine"}, a=[1], b={}, match=r"Input a must be an object \(got list\)")
    fails("merge", {"mode": "by_key", "key": "id"}, a=[1], b=[], match="Items of a must be an object")


def test_merge_bad_configs():
    assert registry.get("merge").inputs == ("a", "b")
    assert paths("merge", {"mode": "by_key"}) == [""]
    assert paths("merge", {"mode": "zip"}) == ["/mode"]
    assert paths("merge", {"mode": "append", "join": "cross"}) == ["/join"]


# --- template ---


def test_template_renders_text_with_loops():
    template = (
        "Orders of {{ trigger.name }}:\n{% for o in trigger.orders if o.status == 'paid' %}- #{{ o.id }}\n{% endfor %}"
    )
    assert main("template", {"template": template}) == "Orders of Ada:\n- #1\n- #3\n- #4\n"


def test_template_can_build_json():
    template = '{"ids": [{% for o in trigger.orders %}{{ o.id }}{{ "," if not loop.last }}{% endfor %}]}  '
    assert main("template", {"template": template, "output": "json", "strip": True}) == {"ids": [1, 2, 3, 4]}
    fails("template", {"template": "{not json", "output": "json"}, match="Invalid JSON at line 1, column 2")


def test_template_bad_configs():
    assert paths("template", {"template": "{% for x in %}"}) == ["/template"]
    assert paths("template", {"template": "x", "output": "xml"}) == ["/output"]


# --- json_parse / json_stringify ---


def test_json_parse_reads_text_or_the_input():
    assert main("json_parse", {"text": '{"a": [1, 2]}'}) == {"a": [1, 2]}
    assert main("json_parse", {}, "[true, null]") == [True, None]
    error = fails("json_parse", {}, '{"a": 1,\n "b": }', match="Invalid JSON at line 2, column 7")
    assert error.retryable is False
    fails("json_parse", {}, {"already": "data"}, match=r"The JSON must be text \(got dict\)")


def test_json_stringify_writes_compact_or_indented_json():
    assert main("json_stringify", {}, {"b": 1, "a": [1, 2]}) == '{"b":1,"a":[1,2]}'
    assert main("json_stringify", {"value": {"b": 1, "a": 2}, "indent": 2, "sort_keys": True}) == json.dumps(
        {"a": 2, "b": 1}, indent=2
    )


def test_json_bad_configs():
    assert paths("json_parse", {"text": 5}) == ["/text"]
    assert paths("json_stringify", {"indent": 9}) == ["/indent"]


# --- jmespath ---


def test_jmespath_selects_and_reshapes():
    config = {"expression": "[?status=='paid'].{id: id, who: customer}", "data": "{{ trigger.orders }}"}
    assert main("jmespath", config) == [{"id": 1, "who": "ada"}, {"id": 3, "who": "ada"}, {"id": 4, "who": "cy"}]
    assert main("jmespath", {"expression": "missing.key"}, {"a": 1}) is None


def test_jmespath_runtime_errors_fail_the_node():
    fails("jmespath", {"expression": "abs(name)"}, {"name": "x"}, match="The JMESPath query failed")


def test_jmespath_bad_configs():
    errors = validate_config("jmespath", {"expression": "[?status=="})
    assert [e.path for e in errors] == ["/expression"]
    assert errors[0].message.startswith("Invalid JMESPath expression:")
    assert paths("jmespath", {}) == [""]


# --- date_time ---


def test_date_time_parses_iso_and_epoch_into_the_time_zone():
    parsed = main("date_time", {"operation": "parse", "value": "2026-03-29T00:30:00Z", "timezone": "Europe/Paris"})
    assert parsed == {
        "iso": "2026-03-29T01:30:00+01:00",
        "timestamp": 1774744200.0,
        "date": "2026-03-29",
        "time": "01:30:00",
        "weekday": 7,
        "timezone": "Europe/Paris",
    }
    assert main("date_time", {"operation": "parse", "value": 0})["iso"] == "1970-01-01T00:00:00+00:00"


def test_date_time_reads_a_custom_format_in_the_time_zone():
    config = {
        "operation": "parse",
        "value": "31/01/2026 18:05",
        "input_format": "%d/%m/%Y %H:%M",
        "timezone": "America/New_York",
    }
    assert main("date_time", config)["iso"] == "2026-01-31T18:05:00-05:00"


def test_date_time_formats():
    config = {"operation": "format", "value": "2026-07-04T12:00:00+00:00", "format": "%A %d %B %Y, %H:%M"}
    assert main("date_time", config)["formatted"] == "Saturday 04 July 2026, 12:00"


def test_date_time_shifts_by_calendar_and_by_clock():
    config = {"operation": "shift", "value": "2026-01-31T09:00:00", "timezone": "Europe/Paris", "shift": {"months": 1}}
    assert main("date_time", config)["iso"] == "2026-02-28T09:00:00+01:00"
    # A day across the spring DST change keeps the wall clock; 24 hours do not.
    day = {"operation": "shift", "value": "2026-03-28T09:00:00", "timezone": "Europe/Paris", "shift": {"days": 1}}
    assert main("date_time", day)["iso"] == "2026-03-29T09:00:00+02:00"
    hours = {**day, "shift": {"hours": 24}}
    assert main("date_time", hours)["iso"] == "2026-03-29T10:00:00+02:00"


def test_date_time_now():
    result = main("date_time", {"operation": "now", "timezone": "Asia/Tokyo"})
    assert result["iso"].endswith("+09:00")


def test_date_time_refuses_what_is_not_a_date():
    fails("date_time", {"operation": "parse", "value": "next tuesday"}, match="Cannot read 'next tuesday' as a date")
    fails("date_time", {"operation": "parse", "value": "2026", "input_format": "%d/%m"}, match="Cannot read")


def test_date_time_bad_configs():
    assert paths("date_time", {"operation": "parse"}) == [""]
    assert paths("date_time", {"operation": "format", "value": "x"}) == [""]
    assert paths("date_time", {"operation": "shift", "value": "x", "shift": {"months": 1.5}}) == ["/shift/months"]
    assert paths("date_time", {"operation": "shift", "value": "x", "shift": {"fortnights": 1}}) == ["/shift"]
    assert paths("date_time", {"operation": "now", "timezone": "Mars/Base"}) == ["/timezone"]
    assert paths("date_time", {"operation": "rewind"}) == ["/operation"]


# --- split ---


def test_split_text_lists_and_objects():
    assert main("split", {"value": "a, b,, c", "separator": ",", "trim": True, "skip_empty": True}) == ["a", "b", "c"]
    assert main("split", {}, "l1\nl2") == ["l1", "l2"]
    assert main("split", {}, [1, 2, 3, 4, 5]) == [1, 2, 3, 4, 5]
    assert main("split", {}, {"x": 1, "y": 2}) == [{"key": "x", "value": 1}, {"key": "y", "value": 2}]


def test_split_into_batches():
    assert main("split", {"batch_size": 2, "value": "{{ trigger.orders | map(attribute='id') | list }}"}) == [
        [1, 2],
        [3, 4],
    ]
    assert main("split", {"batch_size": 2}, [1, 2, 3]) == [[1, 2], [3]]


def test_split_refuses_a_number():
    fails("split", {}, 42, match=r"The value to split must be a list \(got int\)")


def test_split_bad_configs():
    assert paths("split", {"batch_size": 0, "separator": ""}) == ["/batch_size", "/separator"]


def test_merge_without_a_mode_asks_for_the_mode_not_for_a_key():
    """The `if` (mode is by_key) must not match a config without `mode`: only `mode` is missing then."""
    errors = validate_config("merge", {})
    assert [(error.path, error.message) for error in errors] == [("", "'mode' is a required property")]
    assert [error.message for error in validate_config("merge", {"mode": "by_key"})] == ["'key' is a required property"]
    assert validate_config("merge", {"mode": "append"}) == []
