"""Trigger nodes: what they output for the trigger data the engine hands them, and bad configs."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin import triggers
from apps.nodes.registry import registry
from apps.nodes.validation import validate_config


def run(type_name: str, config: dict, trigger_data=None):
    assert validate_config(type_name, config) == []
    ctx = NodeContext(
        node_id="start", execution_id="e", organization_id="o", config=config, inputs={"main": trigger_data}
    )
    return registry.get(type_name)().run(ctx).outputs


def paths(type_name: str, config: dict) -> list[str]:
    return [error.path for error in validate_config(type_name, config)]


def test_triggers_have_no_input_port():
    for name in ("manual", "webhook", "schedule", "form"):
        assert registry.get(name).inputs == ()


# --- manual ---


def test_manual_outputs_the_run_input_with_defaults_filled_in():
    outputs = run("manual", {"defaults": {"amount": 42, "name": "world"}}, {"name": "Ada"})
    assert outputs == {"main": {"amount": 42, "name": "Ada"}}
    assert run("manual", {}) == {"main": {}}


def test_manual_refuses_input_that_does_not_match_its_schema():
    schema = {"type": "object", "properties": {"amount": {"type": "number"}}, "required": ["amount"]}
    assert run("manual", {"input_schema": schema}, {"amount": 5}) == {"main": {"amount": 5}}
    with pytest.raises(NodeError) as caught:
        run("manual", {"input_schema": schema}, {"amount": "five"})
    assert caught.value.retryable is False
    assert caught.value.data["errors"] == [{"path": "/amount", "message": "'five' is not of type 'number'"}]
    assert caught.value.message.startswith("The trigger input does not match the input schema: /amount:")


def test_manual_defaults_need_an_object_input():
    with pytest.raises(NodeError, match="must be an object to apply defaults"):
        run("manual", {"defaults": {"a": 1}}, [1, 2])


def test_manual_bad_configs():
    assert paths("manual", {"defaults": "x"}) == ["/defaults"]
    assert paths("manual", {"input_schema": {"type": "bogus"}}) == ["/input_schema/type"]
    assert paths("manual", {"other": 1}) == [""]


# --- webhook ---


def test_webhook_outputs_the_request_with_lower_case_headers():
    request = {"method": "post", "headers": {"X-Signature": "abc"}, "query": {"a": "1"}, "body": {"amount": 7}}
    assert run("webhook", {"methods": ["POST"]}, request) == {
        "main": {"method": "POST", "headers": {"x-signature": "abc"}, "query": {"a": "1"}, "body": {"amount": 7}}
    }


def test_webhook_treats_anything_else_as_the_body():
    assert run("webhook", {}, "raw text")["main"] == {"method": "POST", "headers": {}, "query": {}, "body": "raw text"}


def test_webhook_refuses_a_method_it_does_not_accept():
    with pytest.raises(NodeError, match=r"This webhook accepts GET, PUT, not POST\."):
        run("webhook", {"methods": ["GET", "PUT"]}, {"method": "POST"})


def test_webhook_bad_configs():
    assert paths("webhook", {"methods": []}) == ["/methods"]
    assert paths("webhook", {"methods": ["POST", "POST"]}) == ["/methods"]
    assert paths("webhook", {"methods": ["TRACE"]}) == ["/methods/0"]
    assert paths("webhook", {"response_mode": "later", "require_signature": "yes"}) == [
        "/require_signature",
        "/response_mode",
    ]


# --- schedule ---


def test_schedule_outputs_the_tick_and_the_next_run_in_its_time_zone():
    config = {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "payload": {"report": "daily"}}
    # Friday 2026-03-27 08:00 UTC = 09:00 in Paris; the next weekday 9:00 is Monday, after the DST change.
    outputs = run("schedule", config, {"fired_at": "2026-03-27T08:00:00+00:00"})
    assert outputs["main"] == {
        "report": "daily",
        "cron": "0 9 * * 1-5",
        "timezone": "Europe/Paris",
        "fired_at": "2026-03-27T09:00:00+01:00",
        "next_run": "2026-03-30T09:00:00+02:00",
    }


def test_schedule_previews_its_next_runs():
    after = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    runs = triggers.ScheduleTrigger.next_runs({"cron": "*/20 * * * *", "timezone": "UTC"}, after=after, count=3)
    assert [run.minute for run in runs] == [20, 40, 0]
    tokyo = triggers.ScheduleTrigger.next_runs({"cron": "0 0 * * *", "timezone": "Asia/Tokyo"}, after=after)
    assert tokyo == [datetime(2026, 1, 2, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo"))]


def test_schedule_without_a_tick_time_uses_now():
    outputs = run("schedule", {"cron": "* * * * *"}, None)
    fired_at = datetime.fromisoformat(outputs["main"]["fired_at"])
    assert abs((datetime.now(UTC) - fired_at).total_seconds()) < 5


def test_schedule_refuses_a_tick_time_that_is_not_a_date():
    with pytest.raises(NodeError, match="is not an ISO 8601 date-time"):
        run("schedule", {"cron": "* * * * *"}, {"fired_at": "soon"})


def test_schedule_bad_configs():
    assert validate_config("schedule", {"cron": "61 * * * *"})[0].message == "Invalid cron expression '61 * * * *'."
    assert paths("schedule", {"cron": "* * * * *", "timezone": "Mars/Olympus"}) == ["/timezone"]
    assert paths("schedule", {"cron": "nope", "timezone": "Nowhere"}) == ["/timezone", "/cron"]
    assert paths("schedule", {}) == [""]
    assert paths("schedule", {"cron": "{{ vars.cron }}"}) == []


# --- form ---

FIELDS = {
    "type": "object",
    "properties": {
        "email": {"type": "string", "format": "email", "title": "Email"},
        "plan": {"enum": ["free", "pro"]},
        "seats": {"type": "integer", "minimum": 1},
    },
    "required": ["email", "plan"],
}


def test_form_outputs_a_valid_submission():
    submission = {"email": "ada@example.com", "plan": "pro", "seats": 3}
    assert run("form", {"title": "Sign up", "fields": FIELDS}, submission) == {"main": submission}


def test_form_refuses_an_invalid_submission_listing_every_problem_for_the_public():
    config = {"title": "Sign up", "fields": FIELDS}
    assert [
        (e.path, e.message) for e in triggers.FormTrigger.submission_errors(config, {"email": "x", "seats": 0})
    ] == [
        ("/email", triggers.FIELD_FORMATS["email"]),
        ("/plan", triggers.FIELD_REQUIRED),
        ("/seats", triggers.FIELD_TOO_SMALL.format(limit=1)),
    ]
    with pytest.raises(NodeError) as caught:
        run("form", config, {"email": "x", "seats": 0})
    assert len(caught.value.data["errors"]) == 3
    assert caught.value.retryable is False


def test_form_field_order_is_made_explicit_and_kept():
    """prepare_config records the author's order; a later save keeps it, appends new fields, drops removed ones."""
    fields = {"type": "object", "properties": {"zeta": {}, "b": {}, "alpha": {}}}
    prepared = triggers.FormTrigger.prepare_config({"title": "t", "fields": fields})
    assert prepared["field_order"] == ["zeta", "b", "alpha"]
    stored = {**prepared, "fields": {"type": "object", "properties": {"b": {}, "new": {}, "zeta": {}}}}
    assert triggers.FormTrigger.prepare_config(stored)["field_order"] == ["zeta", "b", "new"]
    assert [name for name, _, _ in triggers.FormTrigger.ordered_fields(stored)] == ["zeta", "b", "new"]
    assert paths("form", {"title": "t", "fields": fields, "field_order": ["nope"]}) == ["/field_order/0"]


def test_form_bad_configs():
    assert paths("form", {"fields": FIELDS}) == [""]
    assert paths("form", {"title": "t", "fields": {"type": "array"}}) == ["/fields/type"]
    assert paths("form", {"title": "t", "fields": {"type": "object", "properties": {"a": {"type": 1}}}}) == [
        "/fields/properties/a/type"
    ]
    assert paths("form", {"title": "", "fields": FIELDS, "submit_label": ""}) == ["/submit_label", "/title"]
