"""The n8n translator on hand-written n8n JSON: every mapped node type and expression form, n8n's item model
(the translated definitions are run in memory through the real node classes), and the report."""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.nodes.base import NodeError
from apps.nodes.http import ALLOW_PRIVATE_SETTING
from apps.workflows.n8n import CHANGED, REFUSED, TRANSLATED, Scope, Untranslatable, js_to_jinja, translate_workflow
from apps.workflows.n8n import translate as t
from apps.workflows.validation import node_specs, workflow_definition_problems

from .runner import run_definition, webhook_data

ITEMS = [{"name": "ada", "qty": 3, "price": 50, "tags": ["a", "b"]}, {"name": "bob", "qty": 1, "price": 5, "tags": []}]


def n8n_node(name, type_, parameters=None, version=1, **extra):
    return {
        "name": name,
        "type": f"n8n-nodes-base.{type_}",
        "typeVersion": version,
        "position": [0, 0],
        "parameters": parameters or {},
        **extra,
    }


def chain(*nodes, connections=None):
    """A workflow whose nodes follow each other on main output 0 (plus any extra connections)."""
    pairs = itertools.pairwise(nodes)
    links = {a["name"]: {"main": [[{"node": b["name"], "type": "main", "index": 0}]]} for a, b in pairs}
    links.update(connections or {})
    return {"id": "wf1", "name": "Test", "versionId": "v1", "nodes": list(nodes), "connections": links}


def manual():
    return n8n_node("Start", "manualTrigger")


def items_through(*nodes, items=ITEMS, settings=None, **kwargs):
    """Translate Start -> nodes..., run it with `items` as the run input, return (translation, outputs)."""
    translation = translate_workflow(chain(manual(), *nodes, **kwargs))
    assert not translation.refused, translation.reasons
    problems = workflow_definition_problems(translation.definition, node_types=node_specs(disabled=set()))
    assert problems == [], problems
    return translation, run_definition(translation.definition, items, settings=settings)


def entry(translation, name):
    return next(e for e in translation.report if e["node"] == name)


# --- triggers -----------------------------------------------------------------------------------------------


def test_webhook_trigger_becomes_a_webhook_node_and_one_item():
    hook = n8n_node("Hook", "webhook", {"httpMethod": "POST", "path": "x", "responseMode": "responseNode"}, 2)
    echo = n8n_node("Echo", "respondToWebhook", {"respondWith": "firstIncomingItem"}, 1.1)
    translation = translate_workflow(chain(hook, echo))
    nodes = {n["id"]: n for n in translation.definition["nodes"]}
    assert nodes["hook__trigger"]["config"] == {
        "methods": ["POST"],
        "response_mode": "response_node",
        "response_timeout_seconds": 300,
    }
    out = run_definition(translation.definition, webhook_data({"a": 1}))
    assert out["hook"]["main"] == [webhook_data({"a": 1})]
    assert out["echo__respond"]["main"]["body"] == webhook_data({"a": 1})
    assert out["echo"]["main"] == [webhook_data({"a": 1})]  # the items go on after the answer, as in n8n
    assert entry(translation, "Hook")["outcome"] == CHANGED  # its path is not kept


@pytest.mark.parametrize(
    ("parameters", "type_", "cron"),
    [
        ({"rule": {"interval": [{"field": "minutes", "minutesInterval": 15}]}}, "scheduleTrigger", "*/15 * * * *"),
        (
            {"rule": {"interval": [{"field": "hours", "hoursInterval": 2, "triggerAtMinute": 5}]}},
            "scheduleTrigger",
            "5 */2 * * *",
        ),
        ({"rule": {"interval": [{"field": "days", "triggerAtHour": 9}]}}, "scheduleTrigger", "0 9 * * *"),
        (
            {"rule": {"interval": [{"field": "cronExpression", "expression": "0 9 * * 1-5"}]}},
            "scheduleTrigger",
            "0 9 * * 1-5",
        ),
        ({"triggerTimes": {"item": [{"hour": 6, "minute": 30}]}}, "cron", "30 6 * * *"),
    ],
)
def test_schedule_and_cron_triggers_become_a_cron(parameters, type_, cron):
    translation = translate_workflow(chain(n8n_node("Tick", type_, parameters)))
    assert translation.definition["nodes"][0]["type"] == "schedule"
    assert translation.definition["nodes"][0]["config"] == {"cron": cron}


def test_form_trigger_becomes_a_form_with_its_fields():
    params = {
        "formTitle": "Contact",
        "formFields": {
            "values": [
                {"fieldLabel": "email", "fieldType": "email", "requiredField": True},
                {"fieldLabel": "age", "fieldType": "number"},
            ]
        },
    }
    translation = translate_workflow(chain(n8n_node("Form", "formTrigger", params, 2)))
    config = translation.definition["nodes"][0]["config"]
    assert config["title"] == "Contact"
    assert config["fields"]["properties"]["email"]["format"] == "email"
    assert config["fields"]["required"] == ["email"]


def test_manual_trigger_passes_the_run_input_as_items():
    _translation, out = items_through(n8n_node("Noop", "noOp"))
    assert out["noop"]["main"] == ITEMS


# --- Edit Fields (Set), every type version --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "parameters", "expected_first"),
    [
        (
            3.4,
            {
                "assignments": {
                    "assignments": [
                        {"name": "total", "value": "={{ $json.qty * $json.price }}", "type": "number"},
                        {"name": "who", "value": "=Hi {{ $json.name.toUpperCase() }}", "type": "string"},
                    ]
                }
            },
            {"total": 150, "who": "Hi ADA"},
        ),
        (
            3.4,
            {
                "assignments": {
                    "assignments": [{"name": "total", "value": "={{ $json.qty * $json.price }}", "type": "number"}]
                },
                "includeOtherFields": True,
            },
            {**ITEMS[0], "total": 150},
        ),
        (
            3.2,
            {"fields": {"values": [{"name": "n", "type": "numberValue", "numberValue": "7"}]}, "include": "none"},
            {"n": 7},
        ),
        (
            2,
            {"values": {"string": [{"name": "label", "value": "={{ $json.name }}!"}]}, "keepOnlySet": True},
            {"label": "ada!"},
        ),
        (1, {"values": {"number": [{"name": "double", "value": "={{ $json.qty * 2 }}"}]}}, {**ITEMS[0], "double": 6}),
        (
            3.4,
            {"assignments": {"assignments": [{"name": "a.b", "value": "={{ $json.qty }}", "type": "number"}]}},
            {"a": {"b": 3}},
        ),
        (3.4, {"mode": "raw", "jsonOutput": '={{ { "n": $json.name, "i": $itemIndex } }}'}, {"n": "ada", "i": 0}),
    ],
)
def test_edit_fields_runs_once_per_item(version, parameters, expected_first):
    translation, out = items_through(n8n_node("Set", "set", parameters, version))
    result = out["set"]["main"]
    assert len(result) == 2
    assert result[0] == expected_first
    assert entry(translation, "Set")["outcome"] in (TRANSLATED, CHANGED)


# --- IF, Filter, Switch: per item ---------------------------------------------------------------------------------

IF_V2 = {
    "conditions": {
        "options": {"caseSensitive": True},
        "combinator": "and",
        "conditions": [
            {"leftValue": "={{ $json.price }}", "rightValue": 10, "operator": {"type": "number", "operation": "gt"}}
        ],
    }
}


def test_if_routes_each_item_to_its_branch():
    yes, no = n8n_node("Yes", "noOp"), n8n_node("No", "noOp")
    iff = n8n_node("If", "if", IF_V2, 2.2)
    _translation, out = items_through(
        iff,
        yes,
        no,
        connections={
            "If": {
                "main": [[{"node": "Yes", "type": "main", "index": 0}], [{"node": "No", "type": "main", "index": 0}]]
            },
            "Yes": {"main": []},
        },
    )
    assert [i["name"] for i in out["yes"]["main"]] == ["ada"]
    assert [i["name"] for i in out["no"]["main"]] == ["bob"]


def test_an_if_branch_without_items_does_not_run():
    yes, no = n8n_node("Yes", "noOp"), n8n_node("No", "noOp")
    iff = n8n_node("If", "if", IF_V2, 2.2)
    _, out = items_through(
        iff,
        yes,
        no,
        items=[ITEMS[0]],
        connections={
            "If": {
                "main": [[{"node": "Yes", "type": "main", "index": 0}], [{"node": "No", "type": "main", "index": 0}]]
            },
            "Yes": {"main": []},
        },
    )
    assert "no" not in out and out["yes"]["main"] == [ITEMS[0]]


def test_if_version_1_conditions():
    params = {"conditions": {"string": [{"value1": "={{ $json.name }}", "operation": "startsWith", "value2": "a"}]}}
    _, out = items_through(n8n_node("If", "if", params, 1), n8n_node("Yes", "noOp"))
    assert out["yes"]["main"] == [ITEMS[0]]


@pytest.mark.parametrize(
    ("operator", "right", "kept"),
    [
        ({"type": "string", "operation": "equals"}, "bob", ["bob"]),
        ({"type": "string", "operation": "notEquals"}, "bob", ["ada"]),
        ({"type": "string", "operation": "contains"}, "d", ["ada"]),
        ({"type": "string", "operation": "endsWith"}, "b", ["bob"]),
        ({"type": "string", "operation": "notEmpty"}, "", ["ada", "bob"]),
        ({"type": "string", "operation": "exists"}, "", ["ada", "bob"]),
    ],
)
def test_filter_keeps_matching_items(operator, right, kept):
    params = {
        "conditions": {"conditions": [{"leftValue": "={{ $json.name }}", "rightValue": right, "operator": operator}]}
    }
    _, out = items_through(n8n_node("Filter", "filter", params, 2), n8n_node("After", "noOp"))
    assert [i["name"] for i in out["after"]["main"]] == kept


def test_filter_case_insensitive_and_array_conditions():
    params = {
        "conditions": {
            "options": {"caseSensitive": False},
            "combinator": "or",
            "conditions": [
                {
                    "leftValue": "={{ $json.name }}",
                    "rightValue": "ADA",
                    "operator": {"type": "string", "operation": "equals"},
                },
                {
                    "leftValue": "={{ $json.tags }}",
                    "rightValue": 0,
                    "operator": {"type": "array", "operation": "lengthGt"},
                },
            ],
        }
    }
    _, out = items_through(n8n_node("Filter", "filter", params, 2), n8n_node("After", "noOp"))
    assert [i["name"] for i in out["after"]["main"]] == ["ada"]


def _rule(value):
    return {
        "conditions": {
            "conditions": [
                {
                    "leftValue": "={{ $json.name }}",
                    "rightValue": value,
                    "operator": {"type": "string", "operation": "equals"},
                }
            ]
        }
    }


def test_switch_rules_send_each_item_to_the_first_matching_output_and_the_fallback():
    params = {"rules": {"values": [_rule("ada"), _rule("zed")]}, "options": {"fallbackOutput": "extra"}}
    outs = [n8n_node(f"Out{i}", "noOp") for i in range(3)]
    items = [*ITEMS, {"name": "ada", "qty": 9, "price": 1}]
    _translation, out = items_through(
        n8n_node("Switch", "switch", params, 3),
        *outs,
        items=items,
        connections={
            "Switch": {"main": [[{"node": f"Out{i}", "type": "main", "index": 0}] for i in range(3)]},
            **{f"Out{i}": {"main": []} for i in range(3)},
        },
    )
    assert [i["qty"] for i in out["out0"]["main"]] == [3, 9]
    assert "out1" not in out  # no item matched: the output does not run
    assert [i["name"] for i in out["out2"]["main"]] == ["bob"]


def _rule_gt(field, value):
    return {
        "conditions": {
            "conditions": [
                {
                    "leftValue": f"={{{{ $json.{field} }}}}",
                    "rightValue": value,
                    "operator": {"type": "number", "operation": "gt"},
                }
            ]
        }
    }


def test_switch_all_matching_outputs_sends_an_item_to_every_output_it_matches():
    params = {
        "rules": {"values": [_rule_gt("qty", 2), _rule_gt("price", 10), _rule("nobody")]},
        "options": {"allMatchingOutputs": True, "fallbackOutput": "extra"},
    }
    outs = [n8n_node(f"Out{i}", "noOp") for i in range(4)]
    items = [*ITEMS, {"name": "cy", "qty": 1, "price": 1}]
    translation, out = items_through(
        n8n_node("Switch", "switch", params, 3),
        *outs,
        items=items,
        connections={
            "Switch": {"main": [[{"node": f"Out{i}", "type": "main", "index": 0}] for i in range(4)]},
            **{f"Out{i}": {"main": []} for i in range(4)},
        },
    )
    assert [i["name"] for i in out["out0"]["main"]] == ["ada"]
    assert [i["name"] for i in out["out1"]["main"]] == ["ada"]  # ada matched both rules: on both outputs
    assert "out2" not in out
    assert [i["name"] for i in out["out3"]["main"]] == ["bob", "cy"]  # no rule matched
    assert entry(translation, "Switch")["outcome"] == TRANSLATED
    joined = {**params, "options": {"allMatchingOutputs": True, "fallbackOutput": 0}}
    refused = translate_workflow(chain(manual(), n8n_node("Switch", "switch", joined, 3)))
    assert entry(refused, "Switch")["outcome"] == REFUSED


def test_switch_expression_mode_routes_by_output_index():
    params = {"mode": "expression", "numberOutputs": 2, "output": "={{ $json.price > 10 ? 0 : 1 }}"}
    outs = [n8n_node(f"Out{i}", "noOp") for i in range(2)]
    _, out = items_through(
        n8n_node("Switch", "switch", params, 3),
        *outs,
        connections={
            "Switch": {"main": [[{"node": f"Out{i}", "type": "main", "index": 0}] for i in range(2)]},
            **{f"Out{i}": {"main": []} for i in range(2)},
        },
    )
    assert [i["name"] for i in out["out0"]["main"]] == ["ada"]
    assert [i["name"] for i in out["out1"]["main"]] == ["bob"]


# --- Merge -------------------------------------------------------------------------------------------------------


def _merge_run(parameters, left, right):
    a = n8n_node("A", "set", {"mode": "raw", "jsonOutput": "={{ $json }}"}, 3.4)
    b = n8n_node("B", "noOp")
    merge = n8n_node("Merge", "merge", parameters, 3)
    workflow = chain(manual(), a)
    workflow["nodes"] += [b, merge]
    workflow["connections"] = {
        "Start": {"main": [[{"node": "A", "type": "main", "index": 0}, {"node": "B", "type": "main", "index": 0}]]},
        "A": {"main": [[{"node": "Merge", "type": "main", "index": 0}]]},
        "B": {"main": [[{"node": "Merge", "type": "main", "index": 1}]]},
    }
    translation = translate_workflow(workflow)
    nodes = translation.definition["nodes"]
    # Feed each input its own list: A gets `left`, B gets `right`.
    for node in nodes:
        if node["id"] == "a":
            node["config"] = {"items": left, "expression": "item"}
        if node["id"] == "b":
            node["config"] = {"expression": str(right).replace("'", '"')}
            node["type"] = "jmespath"
            node["config"] = {"expression": "`" + json.dumps(right) + "`"}
    return translation, run_definition(translation.definition, [{}])


def test_merge_append_combine_by_key_position_and_choose_branch():
    left, right = [{"id": 1, "a": "x"}, {"id": 2, "a": "y"}], [{"id": 2, "b": "z"}]
    _, out = _merge_run({"mode": "append"}, left, right)
    assert out["merge"]["main"] == left + right
    _, out = _merge_run({"mode": "combine", "fieldsToMatchString": "id", "joinMode": "keepMatches"}, left, right)
    assert out["merge"]["main"] == [{"id": 2, "a": "y", "b": "z"}]
    _, out = _merge_run({"mode": "combine", "combineBy": "combineByPosition"}, left, right)
    assert out["merge"]["main"] == [{"id": 2, "a": "x", "b": "z"}, {"id": 2, "a": "y"}]
    _, out = _merge_run({"mode": "chooseBranch", "output": "input2"}, left, right)
    assert out["merge"]["main"] == right


def test_merge_keep_non_matches_and_matches_of_one_input():
    left = [{"id": 1, "a": "x"}, {"id": 2, "a": "y"}, {"a": "no id"}]
    right = [{"key": 2, "b": "z"}, {"key": 3, "b": "w"}, {"key": 2, "b": "again"}]
    by = {"mode": "combine", "advanced": True, "mergeByFields": {"values": [{"field1": "id", "field2": "key"}]}}
    _, out = _merge_run({**by, "joinMode": "keepNonMatches", "outputDataFrom": "input1"}, left, right)
    assert out["merge"]["main"] == [{"id": 1, "a": "x"}, {"a": "no id"}]
    _, out = _merge_run({**by, "joinMode": "keepNonMatches", "outputDataFrom": "input2"}, left, right)
    assert out["merge"]["main"] == [{"key": 3, "b": "w"}]
    _, out = _merge_run({**by, "joinMode": "keepNonMatches"}, left, right)  # both: appended, marked
    assert out["merge"]["main"] == [
        {"id": 1, "a": "x", "_source": "input1"},
        {"a": "no id", "_source": "input1"},
        {"key": 3, "b": "w", "_source": "input2"},
    ]
    _, out = _merge_run({**by, "joinMode": "keepMatches", "outputDataFrom": "input1"}, left, right)
    assert out["merge"]["main"] == [{"id": 2, "a": "y"}]
    _, out = _merge_run({**by, "joinMode": "keepMatches", "outputDataFrom": "input2"}, left, right)
    assert out["merge"]["main"] == [{"key": 2, "b": "z"}, {"key": 2, "b": "again"}]


def test_merge_on_differently_named_fields_is_refused_with_a_reason():
    translation, _ = _merge_run(
        {"mode": "combine", "mergeByFields": {"values": [{"field1": "a", "field2": "b"}]}}, [], []
    )
    assert entry(translation, "Merge")["outcome"] == REFUSED
    assert "differently named" in entry(translation, "Merge")["reason"]
    several = {"mode": "combine", "fieldsToMatchString": "a, b", "joinMode": "keepNonMatches"}
    translation, _ = _merge_run(several, [], [])
    assert "several fields" in entry(translation, "Merge")["reason"]


# --- list nodes ----------------------------------------------------------------------------------------------------


def test_split_out_aggregate_sort_limit_remove_duplicates():
    _, out = items_through(n8n_node("Split", "splitOut", {"fieldToSplitOut": "tags"}))
    assert out["split"]["main"] == ["a", "b"]
    _, out = items_through(
        n8n_node("Agg", "aggregate", {"fieldsToAggregate": {"fieldToAggregate": [{"fieldToAggregate": "name"}]}})
    )
    assert out["agg"]["main"] == [{"name": ["ada", "bob"]}]
    _, out = items_through(n8n_node("Agg", "aggregate", {"aggregate": "aggregateAllItemData"}))
    assert out["agg"]["main"] == [{"data": ITEMS}]
    _, out = items_through(
        n8n_node("Sort", "sort", {"sortFieldsUi": {"sortField": [{"fieldName": "price", "order": "ascending"}]}})
    )
    assert [i["name"] for i in out["sort"]["main"]] == ["bob", "ada"]
    _, out = items_through(n8n_node("Limit", "limit", {"maxItems": 1, "keep": "lastItems"}))
    assert out["limit"]["main"] == [ITEMS[1]]
    dupes = [{"k": 1, "v": "a"}, {"k": 1, "v": "b"}, {"k": 1, "v": "a"}]
    _, out = items_through(n8n_node("Dedupe", "removeDuplicates", {}), items=dupes)
    assert out["dedupe"]["main"] == dupes[:2]
    _, out = items_through(
        n8n_node("Dedupe", "removeDuplicates", {"compare": "selectedFields", "fieldsToCompare": "k"}), items=dupes
    )
    assert out["dedupe"]["main"] == dupes[:1]


def test_date_time_current_date_and_a_refused_operation():
    translation, out = items_through(n8n_node("Now", "dateTime", {"operation": "getCurrentDate"}, 2))
    assert out["now"]["main"][1] == {"currentDate": "2026-01-02T03:04:05+00:00"}  # n8n 2: no input fields
    kept = n8n_node("Now", "dateTime", {"operation": "getCurrentDate", "options": {"includeInputFields": True}}, 2)
    assert items_through(kept)[1]["now"]["main"][1] == {**ITEMS[1], "currentDate": "2026-01-02T03:04:05+00:00"}
    for params, reason in [
        ({"operation": "formatDate", "format": "custom", "customFormat": "yyyy 'w'W"}, "token 'W'"),
        ({"operation": "getTimeBetweenDates", "units": ["month"]}, "calendar units"),
        ({"operation": "roundDate", "mode": "roundDown", "toNearest": "week"}, "week"),
        ({"operation": "formatDate", "options": {"fromFormat": "yyyyMMdd"}}, "fromFormat"),
    ]:
        translation = translate_workflow(chain(manual(), n8n_node("Fmt", "dateTime", params, 2)))
        assert entry(translation, "Fmt")["outcome"] == REFUSED and reason in entry(translation, "Fmt")["reason"]
    v1 = translate_workflow(chain(manual(), n8n_node("Old", "dateTime", {"action": "format"}, 1)))
    assert "version 1" in entry(v1, "Old")["reason"]


DATES = [
    {"d": "2024-01-31T10:20:30Z", "e": "2024-02-03T00:00:30Z"},
    {"d": "2024-03-15T00:00:00Z", "e": "2024-03-15T06:30:00Z"},
    {"d": 1700000000000, "e": 1700000090000},  # epoch milliseconds, as n8n reads them
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"operation": "addToDate", "magnitude": "={{ $json.d }}", "timeUnit": "months", "duration": 1},
            [
                {"newDate": "2024-02-29T10:20:30.000Z"},
                {"newDate": "2024-04-15T00:00:00.000Z"},
                {"newDate": "2023-12-14T22:13:20.000Z"},
            ],
        ),
        (
            {
                "operation": "subtractFromDate",
                "magnitude": "={{ $json.d }}",
                "timeUnit": "minutes",
                "duration": "={{ $itemIndex * 30 + 90 }}",
                "outputFieldName": "earlier",
            },
            [
                {"earlier": "2024-01-31T08:50:30.000Z"},
                {"earlier": "2024-03-14T22:00:00.000Z"},
                {"earlier": "2023-11-14T19:43:20.000Z"},
            ],
        ),
        (
            {"operation": "formatDate", "date": "={{ $json.d }}", "format": "MMMM dd yyyy"},
            [
                {"formattedDate": "January 31 2024"},
                {"formattedDate": "March 15 2024"},
                {"formattedDate": "November 14 2023"},
            ],
        ),
        (
            {
                "operation": "formatDate",
                "date": "={{ $json.d }}",
                "format": "custom",
                "customFormat": "d/M/yy HH:mm 'h'",
            },
            [
                {"formattedDate": "31/1/24 10:20 h"},
                {"formattedDate": "15/3/24 00:00 h"},
                {"formattedDate": "14/11/23 22:13 h"},
            ],
        ),
        (
            {"operation": "formatDate", "date": "={{ $json.d }}", "format": "X"},
            [{"formattedDate": 1706696430}, {"formattedDate": 1710460800}, {"formattedDate": 1700000000}],
        ),
        (
            {"operation": "roundDate", "date": "={{ $json.d }}", "mode": "roundDown", "toNearest": "day"},
            [
                {"roundedDate": "2024-01-31T00:00:00.000Z"},
                {"roundedDate": "2024-03-15T00:00:00.000Z"},
                {"roundedDate": "2023-11-14T00:00:00.000Z"},
            ],
        ),
        (
            {"operation": "roundDate", "date": "={{ $json.d }}", "mode": "roundUp", "to": "month"},
            [
                {"roundedDate": "2024-02-01T00:00:00.000Z"},
                {"roundedDate": "2024-04-01T00:00:00.000Z"},
                {"roundedDate": "2023-12-01T00:00:00.000Z"},
            ],
        ),
        (
            {"operation": "extractDate", "date": "={{ $json.d }}", "part": "week"},
            [{"datePart": 5}, {"datePart": 11}, {"datePart": 46}],
        ),
        (
            {
                "operation": "getTimeBetweenDates",
                "startDate": "={{ $json.d }}",
                "endDate": "={{ $json.e }}",
                "units": ["day", "hour"],
            },
            [
                {"timeDifference": {"days": 2, "hours": 13.666666666666666}},
                {"timeDifference": {"days": 0, "hours": 6.5}},
                {"timeDifference": {"days": 0, "hours": 0.025}},
            ],
        ),
    ],
)
def test_date_time_operations_per_item(params, expected):
    translation, out = items_through(n8n_node("Date", "dateTime", params, 2), items=DATES)
    assert out["date"]["main"] == expected
    assert entry(translation, "Date")["outcome"] == CHANGED
    assert "read and written in UTC" in entry(translation, "Date")["changes"][0]


def test_date_time_keeps_the_input_fields_when_asked_and_uses_the_workflows_time_zone():
    params = {
        "operation": "roundDate",
        "date": "={{ $json.d }}",
        "toNearest": "hour",
        "options": {"includeInputFields": True},
    }
    workflow = chain(manual(), n8n_node("Date", "dateTime", params, 2))
    workflow["settings"] = {"timezone": "Europe/Paris"}
    translation = translate_workflow(workflow)
    out = run_definition(translation.definition, DATES[:1])
    assert out["date"]["main"] == [{**DATES[0], "roundedDate": "2024-01-31T11:00:00.000+01:00"}]


def test_wait_nodes():
    translation = translate_workflow(
        chain(
            manual(),
            n8n_node("W1", "wait", {"resume": "timeInterval", "amount": 2, "unit": "minutes"}, 1.1),
            n8n_node("W2", "wait", {"resume": "specificTime", "dateTime": "2030-01-01T00:00:00Z"}, 1.1),
            n8n_node("W3", "wait", {"resume": "webhook"}, 1.1),
        )
    )
    nodes = {n["id"]: n for n in translation.definition["nodes"]}
    assert nodes["w1"]["config"] == {"seconds": 120.0}
    assert nodes["w2"]["config"] == {"until": "2030-01-01T00:00:00Z"}
    assert nodes["w3__approval"]["type"] == "wait_for_approval"
    assert entry(translation, "W3")["outcome"] == CHANGED


# --- nodes that act once -----------------------------------------------------------------------------------------


def test_http_request_maps_method_url_query_headers_body_and_credentials():
    params = {
        "method": "POST",
        "url": "=https://api.example.com/users/{{ $json.name }}",
        "authentication": "genericCredentialType",
        "genericAuthType": "httpHeaderAuth",
        "sendQuery": True,
        "queryParameters": {"parameters": [{"name": "q", "value": "={{ $json.qty }}"}]},
        "sendHeaders": True,
        "headerParameters": {"parameters": [{"name": "X-A", "value": "b"}]},
        "sendBody": True,
        "contentType": "json",
        "specifyBody": "json",
        "jsonBody": '{"x": 1}',
        "options": {"timeout": 5000},
    }
    node = n8n_node("Call", "httpRequest", params, 4.2, credentials={"httpHeaderAuth": {"id": "1", "name": "Acme"}})
    translation = translate_workflow(chain(manual(), node))
    nodes = {n["id"]: n for n in translation.definition["nodes"]}
    assert nodes["call__in"]["type"] == "map"
    assert nodes["call__in"]["config"]["expression"] == (
        '{ "url": ("https://api.example.com/users/" ~ (item.name | string)), "query": { "q": item.qty }, '
        '"headers": { "X-A": "b" }, "json": { "x": 1 } }'
    )
    assert nodes["call__request"] == {
        **nodes["call__request"],
        "type": "per_item",
        "config": {
            "node_type": "http_request",
            "config": {"method": "POST", "timeout_seconds": 5.0},
            "items": "{{ nodes.call__in.output }}",
            "credential": "Acme",
        },
    }
    assert nodes["call"]["config"] == {"expression": "[].body[]"}
    assert translation.credentials == [{"node": "Call", "n8n_type": "httpHeaderAuth", "name": "Acme"}]
    assert any("once per input item" in c for c in entry(translation, "Call")["changes"])


class Recorder(BaseHTTPRequestHandler):
    """Answers each request with what it got and records it."""

    seen: list = []

    def log_message(self, *args):
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        got = {
            "method": self.command,
            "path": self.path,
            "key": self.headers.get("Idempotency-Key"),
            "body": json.loads(self.rfile.read(length)) if length else None,
        }
        self.seen.append(got)
        data = json.dumps(got if not self.path.startswith("/list") else [got, got]).encode()
        self.send_response(500 if "fail" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


@pytest.fixture
def recorder():
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Recorder.seen
    server.shutdown()
    server.server_close()


THREE = [{"name": "ada", "qty": 3}, {"name": "bob", "qty": 1}, {"name": "cy", "qty": 7}]
LOCAL = {ALLOW_PRIVATE_SETTING: True}


def test_http_request_runs_once_per_item_and_its_answers_become_the_items(recorder):
    base, seen = recorder
    params = {
        "method": "POST",
        "url": f"={base}/users/{{{{ $json.name }}}}",
        "sendQuery": True,
        "queryParameters": {"parameters": [{"name": "q", "value": "={{ $json.qty * 2 }}"}]},
        "sendBody": True,
        "contentType": "json",
        "specifyBody": "json",
        "jsonBody": '={{ { "who": $json.name, "i": $itemIndex } }}',
    }
    _, out = items_through(n8n_node("Call", "httpRequest", params, 4.2), items=THREE, settings=LOCAL)
    assert [(r["path"], r["body"]) for r in seen] == [
        ("/users/ada?q=6", {"who": "ada", "i": 0}),
        ("/users/bob?q=2", {"who": "bob", "i": 1}),
        ("/users/cy?q=14", {"who": "cy", "i": 2}),
    ]
    assert len({r["key"] for r in seen}) == 3  # each call its own idempotency key
    assert out["call"]["main"] == seen  # one item per answer, in order (n8n: the same)
    # A JSON list answer is one item per element, for every call, as in n8n.
    seen.clear()
    _, listed = items_through(
        n8n_node("Call", "httpRequest", {"url": f"={base}/list/{{{{ $json.name }}}}"}, 4.2), items=THREE, settings=LOCAL
    )
    assert len(listed["call"]["main"]) == 6 and [r["path"] for r in seen] == ["/list/ada", "/list/bob", "/list/cy"]


def test_slack_posts_once_per_item(recorder):
    base, seen = recorder
    slack = n8n_node("Slack", "slack", {"text": "=New: {{ $json.name }}"}, 2, credentials={"slackApi": {"name": "S"}})
    translation = translate_workflow(chain(manual(), slack))
    out = run_definition(translation.definition, THREE, settings=LOCAL, credentials={"S": {"webhook_url": base}})
    assert [r["body"] for r in seen] == [{"text": "New: ada"}, {"text": "New: bob"}, {"text": "New: cy"}]
    assert [o["status"] for o in out["slack"]["main"]] == [200, 200, 200]


def test_a_failing_item_fails_the_per_item_node_and_says_which(recorder):
    base, seen = recorder
    node = n8n_node("Call", "httpRequest", {"url": f"={base}/{{{{ $json.name }}}}"}, 4.2)
    translation = translate_workflow(chain(manual(), node))
    items = [{"name": "ok"}, {"name": "fail"}, {"name": "never"}]
    with pytest.raises(NodeError, match=r"^Item 1: GET http://127.0.0.1:\d+/fail answered HTTP 500") as error:
        run_definition(translation.definition, items, settings=LOCAL)
    assert error.value.retryable is True and error.value.data["index"] == 1
    assert [r["path"] for r in seen] == ["/ok", "/fail"]  # the calls stop at the first failure


def test_respond_to_webhook_modes():
    hook = n8n_node("Hook", "webhook", {"httpMethod": "POST", "path": "x", "responseMode": "responseNode"}, 2)
    for params, expected in [
        (
            {
                "respondWith": "json",
                "responseBody": '={{ { "n": $json.body.n + 1 } }}',
                "options": {"responseCode": 201},
            },
            (201, {"n": 2}),
        ),
        ({"respondWith": "allIncomingItems"}, (200, [webhook_data({"n": 1})])),
        ({"respondWith": "text", "responseBody": "=n is {{ $json.body.n }}"}, (200, "n is 1")),
    ]:
        translation = translate_workflow(chain(hook, n8n_node("Reply", "respondToWebhook", params, 1.1)))
        reply = run_definition(translation.definition, webhook_data({"n": 1}))["reply__respond"]["main"]
        assert (reply["status"], reply["body"]) == expected


def test_execute_workflow_by_id_among_the_synced_ones():
    call = n8n_node("Sub", "executeWorkflow", {"source": "database", "workflowId": {"__rl": True, "value": "42"}}, 1.1)
    mapped = translate_workflow(chain(manual(), call), workflow_ids={"42": "7b7e1f7c-1111-4444-8888-000000000001"})
    node = next(n for n in mapped.definition["nodes"] if n["id"] == "sub")
    assert node == {**node, "type": "sub_workflow", "config": {"workflow_id": "7b7e1f7c-1111-4444-8888-000000000001"}}
    missing = translate_workflow(chain(manual(), call))
    assert entry(missing, "Sub")["outcome"] == REFUSED and "not among the synced" in entry(missing, "Sub")["reason"]


def test_execute_workflow_trigger_takes_the_callers_items():
    translation = translate_workflow(chain(n8n_node("In", "executeWorkflowTrigger", {}, 1), n8n_node("N", "noOp")))
    assert run_definition(translation.definition, ITEMS)["n"]["main"] == ITEMS


def test_slack_github_and_email_nodes():
    slack = n8n_node("Slack", "slack", {"text": "=New: {{ $json.name }}"}, 2, credentials={"slackApi": {"name": "S"}})
    gh = n8n_node(
        "GH",
        "github",
        {
            "resource": "issue",
            "operation": "create",
            "owner": "acme",
            "repository": "app",
            "title": "={{ $json.name }}",
            "body": "x",
        },
        1,
        credentials={"githubApi": {"name": "G"}},
    )
    mail = n8n_node("Mail", "emailSend", {"toEmail": "a@example.com", "subject": "Hi", "text": "={{ $json.name }}"}, 2)
    translation = translate_workflow(chain(manual(), slack, gh, mail))
    nodes = {n["id"]: n for n in translation.definition["nodes"]}
    assert nodes["slack__in"]["config"] == {"expression": '{ "text": ("New: " ~ (item.name | string)) }'}
    assert nodes["slack"]["config"] == {
        "node_type": "slack_message",
        "config": {},
        "items": "{{ nodes.slack__in.output }}",
        "credential": "S",
    }
    assert nodes["gh__in"]["config"]["expression"] == (
        '{ "owner": "acme", "repo": "app", "title": item.name, "body": "x" }'
    )
    assert nodes["gh"]["config"]["node_type"] == "github_issue" and nodes["gh"]["config"]["credential"] == "G"
    assert nodes["mail"]["config"]["node_type"] == "email_send" and "credential" not in nodes["mail"]["config"]
    assert {c["n8n_type"] for c in translation.credentials} == {"slackApi", "githubApi"}
    # Each `__in` map computes one call per item (the per_item nodes are left out: no Slack, GitHub, SMTP here).
    holders = [n for n in translation.definition["nodes"] if n["id"].endswith("__in")]
    edges = [{"source": "start", "target": n["id"]} for n in holders]
    start = next(n for n in translation.definition["nodes"] if n["id"] == "start")
    out = run_definition({"nodes": [start, *holders], "edges": edges}, THREE)
    assert out["gh__in"]["main"][2] == {"owner": "acme", "repo": "app", "title": "cy", "body": "x"}
    assert out["mail__in"]["main"][1] == {"to": "a@example.com", "subject": "Hi", "body": "bob"}
    assert len(out["slack__in"]["main"]) == 3


# --- code, loops, notes, disabled, errors, refusals ---------------------------------------------------------------


def test_code_node_is_kept_with_its_code_or_mapped_to_an_installed_code_step():
    code = n8n_node("Code", "code", {"jsCode": "return $input.all();", "mode": "runOnceForEachItem"}, 2)
    kept = translate_workflow(chain(manual(), code))
    node = next(n for n in kept.definition["nodes"] if n["id"] == "code")
    assert node["config"] == {"code": "return $input.all();", "mode": "per_item"}
    assert node["n8n"]["not_runnable"] is True
    assert "will not run until rewritten" in entry(kept, "Code")["changes"][0]
    mapped = translate_workflow(chain(manual(), code), available_types={"code_js"})
    assert "not_runnable" not in next(n for n in mapped.definition["nodes"] if n["id"] == "code")["n8n"]
    assert "mapped to code_js" in entry(mapped, "Code")["changes"][0]


def test_loop_over_items_is_unrolled_without_a_cycle():
    loop = n8n_node("Loop", "splitInBatches", {"batchSize": 1}, 3)
    body, done = n8n_node("Body", "noOp"), n8n_node("Done", "noOp")
    translation, out = items_through(
        loop,
        body,
        done,
        connections={
            "Loop": {
                "main": [[{"node": "Done", "type": "main", "index": 0}], [{"node": "Body", "type": "main", "index": 0}]]
            },
            "Body": {"main": [[{"node": "Loop", "type": "main", "index": 0}]]},
        },
    )
    assert out["body"]["main"] == ITEMS and out["done"]["main"] == ITEMS
    assert entry(translation, "Loop")["outcome"] == CHANGED


def test_sticky_notes_disabled_nodes_retries_and_error_outputs():
    sticky = {
        "name": "Note",
        "type": "n8n-nodes-base.stickyNote",
        "parameters": {"content": "Read me"},
        "position": [5, 5],
    }
    off = n8n_node("Off", "set", {"values": {"string": [{"name": "x", "value": "y"}]}}, 2, disabled=True)
    flaky = n8n_node(
        "Flaky",
        "httpRequest",
        {"url": "https://example.com"},
        4.2,
        retryOnFail=True,
        maxTries=4,
        waitBetweenTries=2000,
        onError="continueErrorOutput",
    )
    handler = n8n_node("Handler", "noOp")
    workflow = chain(
        manual(), off, flaky, connections={"Flaky": {"main": [[], [{"node": "Handler", "type": "main", "index": 0}]]}}
    )
    workflow["nodes"] += [sticky, handler]
    translation = translate_workflow(workflow)
    assert translation.definition["annotations"] == [{"text": "Read me", "position": [5, 5], "name": "Note"}]
    assert (
        run_definition(
            {
                **translation.definition,
                "nodes": [n for n in translation.definition["nodes"] if n["id"] in ("start__trigger", "start", "off")],
            },
            ITEMS,
        )["off"]["main"]
        == ITEMS
    )
    request = next(n for n in translation.definition["nodes"] if n["id"] == "flaky__request")
    assert request["retry"] == {"max_attempts": 4, "backoff_seconds": 2.0, "backoff_factor": 1, "jitter": False}
    assert request["on_error"] == "route"
    assert {"source": "flaky__request", "target": "handler", "source_port": "error"} in translation.definition["edges"]
    assert entry(translation, "Off")["changes"] == [t.DISABLED]


def test_continue_regular_output_continues():
    node = n8n_node("Set", "set", {"values": {}}, 2, onError="continueRegularOutput")
    translation = translate_workflow(chain(manual(), node))
    assert next(n for n in translation.definition["nodes"] if n["id"] == "set")["on_error"] == "continue"


def test_ai_nodes_unknown_types_and_other_connection_types_are_refused_per_node():
    agent = {
        "name": "Agent",
        "type": "@n8n/n8n-nodes-langchain.agent",
        "typeVersion": 1,
        "parameters": {},
        "position": [0, 0],
    }
    model = {
        "name": "Model",
        "type": "@n8n/n8n-nodes-langchain.lmChatOpenAi",
        "typeVersion": 1,
        "parameters": {},
        "position": [0, 0],
    }
    odd = n8n_node("Odd", "somethingNew")
    workflow = chain(
        manual(),
        n8n_node("Keep", "noOp"),
        odd,
        connections={"Model": {"ai_languageModel": [[{"node": "Agent", "type": "ai_languageModel", "index": 0}]]}},
    )
    workflow["nodes"] += [agent, model]
    translation = translate_workflow(workflow)
    assert not translation.refused
    assert (
        entry(translation, "Agent")["outcome"] == REFUSED and "AI / LangChain" in entry(translation, "Agent")["reason"]
    )
    assert entry(translation, "Odd")["reason"] == t.UNKNOWN_TYPE.format(type="n8n-nodes-base.somethingNew")
    assert entry(translation, "Keep")["outcome"] == TRANSLATED
    assert translation.summary() == {TRANSLATED: 2, CHANGED: 0, REFUSED: 3}


def test_a_workflow_without_a_translatable_trigger_is_refused_with_the_reason():
    translation = translate_workflow(chain(n8n_node("Odd", "somethingNew"), n8n_node("N", "noOp")))
    assert translation.refused and translation.reasons == [t.NO_TRIGGER]
    assert translate_workflow({"nodes": "x"}).reasons == [t.NOT_N8N]


# --- expressions ------------------------------------------------------------------------------------------------


ITEM_SCOPE = Scope(per_item=True, node_refs={"Fetch": "nodes.fetch.output"}, workflow={"id": "9", "name": "WF"})
RUN_SCOPE = Scope(
    per_item=False,
    json_ref="nodes.up.output[0]",
    input_ref="nodes.up.output",
    node_refs={"Fetch": "nodes.fetch.output"},
    workflow={"id": "9", "name": "WF"},
)


@pytest.mark.parametrize(
    ("source", "per_item", "per_run"),
    [
        ("$json.a", "item.a", "nodes.up.output[0].a"),
        ("$json['a b']", 'item["a b"]', 'nodes.up.output[0]["a b"]'),
        ("$input.item.json.a", "item.a", "nodes.up.output[0].a"),
        ("$input.first().json.a", "input[0].a", "nodes.up.output[0].a"),
        ("$input.last().json.a", "input[-1].a", "nodes.up.output[-1].a"),
        ("$input.all().length", "(input | length)", "(nodes.up.output | length)"),
        ("$('Fetch').item.json.a", "({{ nodes.fetch.output | tojson }})[index].a", "nodes.fetch.output[0].a"),
        ('$node["Fetch"].json.a', "({{ nodes.fetch.output | tojson }})[index].a", "nodes.fetch.output[0].a"),
        ("$('Fetch').first().json.a", "({{ nodes.fetch.output | tojson }})[0].a", "nodes.fetch.output[0].a"),
        ("$execution.id", "{{ execution.id | tojson }}", "execution.id"),
        ("$workflow.name", '"WF"', '"WF"'),
        ("$workflow.id", '"9"', '"9"'),
        ("$now", "{{ execution.started_at | tojson }}", "execution.started_at"),
        ("$itemIndex", "index", "0"),
        ("$json.a.toUpperCase()", "(item.a | upper)", "(nodes.up.output[0].a | upper)"),
        ("$json.a.trim().toLowerCase()", "((item.a | trim) | lower)", "((nodes.up.output[0].a | trim) | lower)"),
        ("$json.a.length", "(item.a | length)", "(nodes.up.output[0].a | length)"),
        ("$json.a.includes('x')", '("x" in item.a)', '("x" in nodes.up.output[0].a)'),
        ("$json.a.split(',')", 'item.a.split(",")', 'nodes.up.output[0].a.split(",")'),
        (
            "$json.n.toFixed(2)",
            "(('%.' ~ 2 ~ 'f') | format(item.n))",
            "(('%.' ~ 2 ~ 'f') | format(nodes.up.output[0].n))",
        ),
        (
            "$json.a === 1 && $json.b !== 2",
            "((item.a == 1) and (item.b != 2))",
            "((nodes.up.output[0].a == 1) and (nodes.up.output[0].b != 2))",
        ),
        ("$json.a ? 'y' : 'n'", '("y" if item.a else "n")', '("y" if nodes.up.output[0].a else "n")'),
        (
            "$json.a ?? 'd'",
            '(item.a if item.a is defined and item.a is not none else "d")',
            '(nodes.up.output[0].a if nodes.up.output[0].a is defined and nodes.up.output[0].a is not none else "d")',
        ),
        ("'n=' + $json.n", '("n=" ~ item.n)', '("n=" ~ nodes.up.output[0].n)'),
        ("`${$json.a}-x`", '((item.a | string) ~ "-x")', '((nodes.up.output[0].a | string) ~ "-x")'),
        ("JSON.stringify($json)", "(item | tojson)", "(nodes.up.output[0] | tojson)"),
        ("Math.round($json.n)", "(item.n | round | int)", "(nodes.up.output[0].n | round | int)"),
        ("parseInt($json.n)", "(item.n | int)", "(nodes.up.output[0].n | int)"),
        ("$json.items", 'item["items"]', 'nodes.up.output[0]["items"]'),
        (
            "$input.all().map(i => i.json.a.b)",
            '(input | map(attribute="a.b") | list)',
            '(nodes.up.output | map(attribute="a.b") | list)',
        ),
        (
            "$input.all().filter(i => i.json.n >= 2).length",
            '((input | selectattr("n", "ge", 2) | list) | length)',
            '((nodes.up.output | selectattr("n", "ge", 2) | list) | length)',
        ),
        (
            "$('Fetch').all().filter((x) => !x.json.done).map(x => x.json.id)",
            '((({{ nodes.fetch.output | tojson }}) | rejectattr("done") | list) | map(attribute="id") | list)',
            '((nodes.fetch.output | rejectattr("done") | list) | map(attribute="id") | list)',
        ),
        (
            "$json.tags.map(t => t.toUpperCase())",
            '(item.tags | map("upper") | list)',
            '(nodes.up.output[0].tags | map("upper") | list)',
        ),
        ("$env.API_BASE", "{{ org.vars.API_BASE | tojson }}", "org.vars.API_BASE"),
        ("$env['API_BASE']", "{{ org.vars.API_BASE | tojson }}", "org.vars.API_BASE"),
        ("$now.toISODate()", "{{ execution.started_at | tojson }}[:10]", "execution.started_at[:10]"),
        (
            "$now.toFormat('dd/MM/yy')",
            '({{ execution.started_at | tojson }}[8:10] ~ "/" ~ {{ execution.started_at | tojson }}[5:7] ~ "/" ~ '
            "{{ execution.started_at | tojson }}[2:4])",
            '(execution.started_at[8:10] ~ "/" ~ execution.started_at[5:7] ~ "/" ~ execution.started_at[2:4])',
        ),
    ],
)
def test_expression_forms(source, per_item, per_run):
    assert js_to_jinja(source, Scope(**{**ITEM_SCOPE.__dict__, "changes": []})) == per_item
    assert js_to_jinja(source, Scope(**{**RUN_SCOPE.__dict__, "changes": []})) == per_run


@pytest.mark.parametrize(
    "source",
    [
        "$json.list.map(x => x.a * 2)",
        "$json.list.reduce((a, b) => a + b, 0)",
        "$input.all().map(i => i.a)",
        "$input.all().filter(i => i.json.tags.length > 0)",
        "$input.all().filter(i => i.json.a > $json.b)",
        "$env[$json.k]",
        "$now.plus({days: 1}).toFormat('yyyy-MM-dd')",
        "$now.minus({hours: 2})",
        "$now.toFormat('yyyy SSS')",
        "$now.toMillis()",
        "$json.a.toISOString()",
        "$('Missing').item.json",
        "$json.a = 1",
        "DateTime.now()",
    ],
)
def test_expressions_without_a_same_meaning_form_are_refused(source):
    with pytest.raises(Untranslatable):
        js_to_jinja(source, Scope(per_item=True))


def test_callbacks_env_and_luxon_forms_give_n8n_results_on_three_items():
    items = [
        {"name": "ada", "tags": ["x", "y"], "done": True},
        {"name": "bob", "tags": [], "done": False},
        {"name": "cy", "tags": ["z"], "done": False},
    ]
    assignments = [
        ("open", "={{ $input.all().filter(i => !i.json.done).map(i => i.json.name).join(',') }}", "string"),
        ("others", "={{ $input.all().filter(i => i.json.name !== 'bob').length }}", "number"),
        ("counts", "={{ $input.all().map(i => i.json.tags.length) }}", "array"),
        ("upper", "={{ $json.tags.map(t => t.toUpperCase()) }}", "array"),
        ("base", "={{ $env.API_BASE }}/{{ $json.name }}", "string"),
        ("day", "={{ $now.toFormat('yyyy-MM-dd') }}", "string"),
    ]
    params = {"assignments": {"assignments": [{"name": n, "value": v, "type": t} for n, v, t in assignments]}}
    translation = translate_workflow(chain(manual(), n8n_node("Set", "set", params, 3.4)))
    assert any("organization variable API_BASE (org.vars.API_BASE)" in c for c in entry(translation, "Set")["changes"])
    definition = translation.definition
    assert workflow_definition_problems(definition, node_types=node_specs(disabled=set())) == []
    # `org.vars` is the organization's variables in the engine's context; the in-memory runner has none, so the
    # definition's one read of it is checked as text and the value is spliced the way the engine renders it.
    set_node = next(n for n in definition["nodes"] if n["id"] == "set")
    assert "{{ org.vars.API_BASE | tojson }}" in set_node["config"]["expression"]
    set_node["config"]["expression"] = set_node["config"]["expression"].replace(
        "{{ org.vars.API_BASE | tojson }}", '"https://api.example.com"'
    )
    out = run_definition(definition, items)["set"]["main"]
    assert [o["open"] for o in out] == ["bob,cy"] * 3
    assert [o["others"] for o in out] == [2, 2, 2]
    assert [o["counts"] for o in out] == [[2, 0, 1]] * 3
    assert [o["upper"] for o in out] == [["X", "Y"], [], ["Z"]]
    assert [o["base"] for o in out] == [
        "https://api.example.com/ada",
        "https://api.example.com/bob",
        "https://api.example.com/cy",
    ]
    assert {o["day"] for o in out} == {"2026-01-02"}


def test_an_untranslatable_expression_refuses_its_node_and_keeps_the_text_in_the_report():
    node = n8n_node(
        "Set", "set", {"values": {"string": [{"name": "x", "value": "={{ $json.list.map(x => x.a * 2) }}"}]}}, 2
    )
    translation = translate_workflow(chain(manual(), node))
    assert entry(translation, "Set")["outcome"] == REFUSED
    assert "arrow functions" in entry(translation, "Set")["reason"]


def test_translated_expressions_give_n8n_results_per_item():
    params = {
        "assignments": {
            "assignments": [
                {
                    "name": "a",
                    "value": "={{ $json.name.length > 2 ? $json.name.toUpperCase() : 'short' }}",
                    "type": "string",
                },
                {"name": "b", "value": "={{ $input.all().length }}", "type": "number"},
                {"name": "c", "value": "={{ $itemIndex }}", "type": "number"},
                {"name": "d", "value": "=#{{ $json.qty }} of {{ $workflow.name }}", "type": "string"},
                {"name": "e", "value": "={{ $('Start').item.json.price }}", "type": "number"},
            ]
        }
    }
    _, out = items_through(n8n_node("Set", "set", params, 3.4))
    assert out["set"]["main"] == [
        {"a": "ADA", "b": 2, "c": 0, "d": "#3 of Test", "e": 50},
        {"a": "BOB", "b": 2, "c": 1, "d": "#1 of Test", "e": 5},
    ]
