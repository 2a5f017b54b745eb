"""Condition nodes: branching on rendered values, and the suspend/resume protocol of the waiting nodes."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from jsonschema import Draft202012Validator

from apps.nodes.base import NodeContext, NodeError, NodeResult, Suspend
from apps.nodes.builtin import conditions
from apps.nodes.builtin.conditions import (
    DelayNode,
    ForeachNode,
    IfElseNode,
    SubWorkflowNode,
    SwitchNode,
    WaitForApprovalNode,
)

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
WORKFLOW_ID = str(uuid.uuid4())


def make_ctx(config, *, input=None, resume=None):
    return NodeContext(
        node_id="n1", execution_id="e1", organization_id="o1", config=config, inputs={"main": input}, resume=resume
    )


def schema_errors(node_cls, config):
    validator = Draft202012Validator(node_cls.config_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [error.message for error in validator.iter_errors(config)]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


# --- if_else --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "port"),
    [
        (True, "true"),
        (False, "false"),
        (1, "true"),
        (0, "false"),
        (None, "false"),
        ([], "false"),
        ({"a": 1}, "true"),
        ("yes", "true"),
        ("False", "false"),
        (" no ", "false"),
        ("null", "false"),
        ("", "false"),
        ("0", "false"),
    ],
)
def test_if_else_emits_the_input_on_the_taken_port_only(condition, port):
    result = IfElseNode().run(make_ctx({"condition": condition}, input={"order": 7}))

    assert result == NodeResult(outputs={port: {"order": 7}})


def test_if_else_schema_requires_a_condition_and_nothing_else():
    assert any("'condition' is a required property" in e for e in schema_errors(IfElseNode, {}))
    assert any("Additional properties" in e for e in schema_errors(IfElseNode, {"condition": 1, "else": 2}))
    assert schema_errors(IfElseNode, {"condition": "{{ trigger.body.amount > 100 }}"}) == []


# --- switch ---------------------------------------------------------------------------------------

SWITCH = {
    "value": "gold",
    "cases": [
        {"port": "silver", "equals": "silver"},
        {"port": "gold", "equals": "gold"},
        {"port": "vip", "equals": "gold"},
    ],
}


def test_switch_routes_to_the_first_matching_case():
    result = SwitchNode().run(make_ctx(SWITCH, input={"customer": 1}))

    assert result.outputs == {"gold": {"customer": 1}}


def test_switch_falls_back_to_default():
    result = SwitchNode().run(make_ctx({**SWITCH, "value": "bronze"}, input="x"))

    assert result.outputs == {"default": "x"}


@pytest.mark.parametrize(
    ("value", "equals", "matches"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (1, True, False),
        (False, False, True),
        ("1", 1, False),
        ({"a": [1]}, {"a": [1]}, True),
    ],
)
def test_switch_compares_json_values(value, equals, matches):
    config = {"value": value, "cases": [{"port": "hit", "equals": equals}]}

    result = SwitchNode().run(make_ctx(config, input=0))

    assert list(result.outputs) == (["hit"] if matches else ["default"])


def test_switch_has_one_port_per_case_plus_default():
    assert SwitchNode.output_ports(SWITCH) == ("silver", "gold", "vip", "default")
    assert SwitchNode.output_ports({}) == ("default",)


def test_switch_check_config_reports_duplicate_and_expression_ports():
    config = {
        "value": 1,
        "cases": [{"port": "a", "equals": 1}, {"port": "a", "equals": 2}, {"port": "{{ vars.port }}", "equals": 3}],
    }

    assert SwitchNode.check_config(config) == [
        ("/cases/1/port", conditions.DUPLICATE_PORT.format(port="a")),
        ("/cases/2/port", conditions.PORT_IS_EXPRESSION),
    ]
    assert SwitchNode.check_config(SWITCH) == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"value": 1}, "'cases' is a required property"),
        ({"value": 1, "cases": []}, "should be non-empty"),
        ({"value": 1, "cases": [{"port": "default", "equals": 1}]}, "should not be valid under"),
        ({"value": 1, "cases": [{"port": "error", "equals": 1}]}, "should not be valid under"),
        ({"value": 1, "cases": [{"port": "Bad Port", "equals": 1}]}, "does not match"),
        ({"value": 1, "cases": [{"port": "a"}]}, "'equals' is a required property"),
        ({"value": 1, "cases": [{"port": "a", "equals": 1, "when": 2}]}, "Additional properties"),
    ],
)
def test_switch_schema_rejects_bad_config(config, message):
    errors = schema_errors(SwitchNode, config)

    assert any(message in error for error in errors), errors


# --- delay ----------------------------------------------------------------------------------------


def test_delay_suspends_until_now_plus_seconds(frozen):
    result = DelayNode().run(make_ctx({"seconds": 90}, input="payload"))

    assert isinstance(result, Suspend)
    assert result.kind == "delay"
    assert result.wake_at == NOW + timedelta(seconds=90)


def test_delay_until_a_date_time(frozen):
    result = DelayNode().run(make_ctx({"until": "2030-01-16T08:30:00+01:00"}))

    assert result.wake_at == datetime(2030, 1, 16, 7, 30, tzinfo=UTC)


def test_delay_until_without_offset_is_utc(frozen):
    assert DelayNode().run(make_ctx({"until": "2030-02-01T00:00:00"})).wake_at == datetime(2030, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize("config", [{"seconds": 0}, {"until": "2029-12-31T23:59:59Z"}])
def test_delay_in_the_past_passes_through_at_once(frozen, config):
    assert DelayNode().run(make_ctx(config, input=[1, 2])) == NodeResult(outputs={"main": [1, 2]})


def test_delay_passes_the_input_on_when_resumed(frozen):
    result = DelayNode().run(make_ctx({"seconds": 90}, input={"a": 1}, resume={}))

    assert result == NodeResult(outputs={"main": {"a": 1}})


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"until": "next tuesday"}, conditions.INVALID_UNTIL.format(value="next tuesday")),
        ({"seconds": conditions.MAX_DELAY_SECONDS + 1}, conditions.DELAY_TOO_LONG),
    ],
)
def test_delay_refuses_bad_rendered_values(config, message):
    with pytest.raises(NodeError) as exc_info:
        DelayNode().run(make_ctx(config))

    assert exc_info.value.message == message
    assert exc_info.value.retryable is False


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "is not valid under any of the given schemas"),
        ({"seconds": 5, "until": "2030-01-01T00:00:00Z"}, "is valid under each of"),
        ({"seconds": -1}, "less than the minimum"),
        ({"until": "tomorrow"}, "is not a 'date-time'"),
        ({"seconds": 5, "minutes": 1}, "Additional properties"),
    ],
)
def test_delay_schema_rejects_bad_config(config, message):
    errors = schema_errors(DelayNode, config)

    assert any(message in error for error in errors), errors


# --- wait_for_approval ----------------------------------------------------------------------------

APPROVAL = {"message": "Refund 500 EUR to order 7?", "approvers": ["ada@example.com"], "timeout_seconds": 3600}


def test_wait_for_approval_suspends_with_a_timeout(frozen):
    result = WaitForApprovalNode().run(make_ctx(APPROVAL, input={"order": 7}))

    assert result == Suspend(
        kind="approval",
        wake_at=NOW + timedelta(hours=1),
        data={"message": "Refund 500 EUR to order 7?", "approvers": ["ada@example.com"]},
    )


@pytest.mark.parametrize("decision", ["approved", "rejected", "timeout"])
def test_wait_for_approval_continues_on_the_decided_port(decision):
    resume = {"decision": decision, "by": "ada@example.com", "comment": "ok"}

    result = WaitForApprovalNode().run(make_ctx(APPROVAL, input={"order": 7}, resume=resume))

    assert result.outputs == {
        decision: {"decision": decision, "by": "ada@example.com", "comment": "ok", "input": {"order": 7}}
    }


def test_wait_for_approval_timeout_can_fail_the_node():
    config = {**APPROVAL, "on_timeout": "fail"}

    with pytest.raises(NodeError) as exc_info:
        WaitForApprovalNode().run(make_ctx(config, resume={"decision": "timeout"}))

    assert exc_info.value.message == conditions.APPROVAL_TIMED_OUT.format(seconds=3600)
    assert WaitForApprovalNode.output_ports(config) == ("approved", "rejected")
    assert WaitForApprovalNode.output_ports(APPROVAL) == ("approved", "rejected", "timeout")


def test_wait_for_approval_refuses_an_unknown_decision():
    with pytest.raises(NodeError) as exc_info:
        WaitForApprovalNode().run(make_ctx(APPROVAL, resume={"decision": "maybe"}))

    assert exc_info.value.message == conditions.UNKNOWN_DECISION.format(decision="maybe")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'message' is a required property"),
        ({"message": ""}, "should be non-empty"),
        ({"message": "ok?", "timeout_seconds": 5}, "less than the minimum"),
        ({"message": "ok?", "approvers": ["a", "a"]}, "has non-unique elements"),
        ({"message": "ok?", "on_timeout": "ignore"}, "is not one of"),
    ],
)
def test_wait_for_approval_schema_rejects_bad_config(config, message):
    errors = schema_errors(WaitForApprovalNode, config)

    assert any(message in error for error in errors), errors


# --- foreach --------------------------------------------------------------------------------------


def test_foreach_asks_for_one_child_per_item():
    config = {"workflow_id": WORKFLOW_ID, "concurrency": 3}

    result = ForeachNode().run(make_ctx(config, input=[{"id": 1}, {"id": 2}]))

    assert result == Suspend(
        kind="children",
        data={
            "children": [
                {"workflow_id": WORKFLOW_ID, "input": {"id": 1}},
                {"workflow_id": WORKFLOW_ID, "input": {"id": 2}},
            ],
            "concurrency": 3,
            "fail_fast": True,
        },
    )


def test_foreach_collects_results_in_item_order():
    config = {"workflow_id": WORKFLOW_ID, "items": ["a", "b", "c"]}
    resume = {"results": [{"status": "succeeded", "output": f"out-{item}", "error": None} for item in "abc"]}

    result = ForeachNode().run(make_ctx(config, resume=resume))

    assert result.outputs == {"main": {"results": ["out-a", "out-b", "out-c"], "errors": []}}


def test_foreach_without_fail_fast_reports_failures_beside_results():
    config = {"workflow_id": WORKFLOW_ID, "items": [1, 2, 3], "fail_fast": False}
    resume = {
        "results": [
            {"status": "succeeded", "output": 10, "error": None},
            {"status": "failed", "output": None, "error": "boom"},
            {"status": "succeeded", "output": 30, "error": None},
        ]
    }

    result = ForeachNode().run(make_ctx(config, resume=resume))

    assert result.outputs["main"] == {
        "results": [10, None, 30],
        "errors": [{"index": 1, "status": "failed", "error": "boom"}],
    }


def test_foreach_fail_fast_fails_on_the_first_failed_item():
    config = {"workflow_id": WORKFLOW_ID, "items": [1, 2, 3]}
    resume = {
        "results": [
            {"status": "succeeded", "output": 10, "error": None},
            {"status": "cancelled", "output": None, "error": "cancelled"},
            {"status": "failed", "output": None, "error": "boom"},
        ]
    }

    with pytest.raises(NodeError) as exc_info:
        ForeachNode().run(make_ctx(config, resume=resume))

    assert exc_info.value.message == conditions.ITEM_FAILED.format(index=1, error="cancelled")
    assert [error["index"] for error in exc_info.value.data["errors"]] == [1, 2]


def test_foreach_over_nothing_finishes_at_once():
    assert ForeachNode().run(make_ctx({"workflow_id": WORKFLOW_ID}, input=[])).outputs == {
        "main": {"results": [], "errors": []}
    }


@pytest.mark.parametrize(
    ("input", "resume", "message"),
    [
        ({"not": "a list"}, None, conditions.ITEMS_NOT_A_LIST.format(type="dict")),
        (None, None, conditions.ITEMS_NOT_A_LIST.format(type="NoneType")),
        ([1, 2], {"results": [{"status": "succeeded"}]}, conditions.RESULTS_MISMATCH.format(expected=2, got=1)),
        ([1], {}, conditions.RESULTS_MISMATCH.format(expected=1, got=0)),
    ],
)
def test_foreach_refuses_bad_items_and_bad_resumes(input, resume, message):
    with pytest.raises(NodeError) as exc_info:
        ForeachNode().run(make_ctx({"workflow_id": WORKFLOW_ID}, input=input, resume=resume))

    assert exc_info.value.message == message


def test_foreach_limits_items(monkeypatch):
    monkeypatch.setattr(ForeachNode, "MAX_ITEMS", 2)

    with pytest.raises(NodeError) as exc_info:
        ForeachNode().run(make_ctx({"workflow_id": WORKFLOW_ID, "items": [1, 2, 3]}))

    assert exc_info.value.message == conditions.TOO_MANY_ITEMS.format(limit=2, count=3)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "'workflow_id' is a required property"),
        ({"workflow_id": "not-a-uuid"}, "is not a 'uuid'"),
        ({"workflow_id": WORKFLOW_ID, "concurrency": 0}, "less than the minimum"),
        ({"workflow_id": WORKFLOW_ID, "concurrency": 51}, "greater than the maximum"),
        ({"workflow_id": WORKFLOW_ID, "items": "abc"}, "is not of type 'array'"),
        ({"workflow_id": WORKFLOW_ID, "parallel": True}, "Additional properties"),
    ],
)
def test_foreach_schema_rejects_bad_config(config, message):
    errors = schema_errors(ForeachNode, config)

    assert any(message in error for error in errors), errors


# --- sub_workflow ---------------------------------------------------------------------------------


def test_sub_workflow_asks_for_one_child_with_the_input():
    result = SubWorkflowNode().run(make_ctx({"workflow_id": WORKFLOW_ID}, input={"order": 7}))

    assert result == Suspend(
        kind="children", data={"children": [{"workflow_id": WORKFLOW_ID, "input": {"order": 7}}], "concurrency": 1}
    )


def test_sub_workflow_input_from_the_config():
    result = SubWorkflowNode().run(make_ctx({"workflow_id": WORKFLOW_ID, "input": {"x": 1}}, input="ignored"))

    assert result.data["children"][0]["input"] == {"x": 1}


def test_sub_workflow_outputs_the_child_output():
    resume = {"results": [{"status": "succeeded", "output": {"total": 42}, "error": None}]}

    result = SubWorkflowNode().run(make_ctx({"workflow_id": WORKFLOW_ID}, resume=resume))

    assert result.outputs == {"main": {"total": 42}}


def test_sub_workflow_fails_with_the_child_error():
    resume = {"results": [{"status": "failed", "output": None, "error": "node charge failed: card declined"}]}

    with pytest.raises(NodeError) as exc_info:
        SubWorkflowNode().run(make_ctx({"workflow_id": WORKFLOW_ID}, resume=resume))

    assert exc_info.value.message == conditions.SUB_WORKFLOW_FAILED.format(
        status="failed", error="node charge failed: card declined"
    )
    assert exc_info.value.retryable is False


def test_sub_workflow_schema_rejects_bad_config():
    assert any("'workflow_id' is a required property" in e for e in schema_errors(SubWorkflowNode, {}))
    assert any("is not a 'uuid'" in e for e in schema_errors(SubWorkflowNode, {"workflow_id": "12"}))
    assert any(
        "Additional properties" in e for e in schema_errors(SubWorkflowNode, {"workflow_id": WORKFLOW_ID, "x": 1})
    )
