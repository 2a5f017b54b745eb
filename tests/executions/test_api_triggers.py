"""Webhook, form and schedule triggers: signatures, idempotency, size limits, per-field errors, beat.

A form's fields and a webhook's settings are the start node's config; the trigger record publishes it.
"""

import copy
import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.executions import triggers, views
from apps.executions.models import WebhookDelivery, WorkflowExecution
from apps.nodes.builtin import triggers as trigger_nodes
from apps.workflows.models import FormSubmission, Trigger
from apps.workflows.services import trigger_create, trigger_update, workflow_activate, workflow_update
from apps.workflows.triggers import (
    KIND_DOES_NOT_FIT,
    PUBLISH_NEEDS_VALID_DEFINITION,
    STATE_DETAIL,
    WEBHOOK_CONFIG_BELONGS_TO_NODE,
)
from concertmaster.celery import app as celery_app
from tests.workflows.factories import FORM_DEFINITION, WEBHOOK_DEFINITION, WorkflowFactory

pytestmark = pytest.mark.django_db
NINE_IN_PARIS = {"cron": "0 9 * * *", "timezone": "Europe/Paris"}
SECRET_BODY = json.dumps({"amount": 120}).encode()


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()


@pytest.fixture
def workflow(organization):
    workflow = WorkflowFactory(organization=organization)
    workflow_activate(workflow=workflow)
    return workflow


def _active(organization, definition: dict):
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(definition))
    workflow_activate(workflow=workflow)
    return workflow


def _webhook_definition(**config) -> dict:
    definition = copy.deepcopy(WEBHOOK_DEFINITION)
    definition["nodes"][0]["config"] = config
    return definition


@pytest.fixture
def hook_workflow(organization):
    return _active(organization, WEBHOOK_DEFINITION)


@pytest.fixture
def hook(hook_workflow):
    return trigger_create(workflow=hook_workflow, kind="webhook")


def _post(client, hook, body=SECRET_BODY, *, signature=None, **headers):
    if signature is None:
        signature = triggers.sign(secret=hook.signing_secret, body=body)
    if signature:
        headers["HTTP_X_CONCERTMASTER_SIGNATURE"] = signature
    return client.post(f"/hooks/{hook.webhook_token}", data=body, content_type="application/json", **headers)


# --- webhook -----------------------------------------------------------------------------------------------


def test_valid_signature_starts_an_execution(client, hook):
    response = _post(client, hook)
    assert response.status_code == 202
    execution = WorkflowExecution.objects.get(pk=response.json()["execution_id"])
    assert execution.trigger_kind == "webhook"
    assert execution.trigger_data["body"] == {"amount": 120}
    assert "X-Concertmaster-Signature" not in execution.trigger_data["headers"]


def test_missing_signature_is_401(client, hook):
    response = _post(client, hook, signature="")
    assert response.status_code == 401
    assert response.json()["detail"] == triggers.SIGNATURE_MISSING
    assert not WorkflowExecution.objects.exists()


def test_wrong_signature_is_401(client, hook):
    signature = triggers.sign(secret="whsec_not_the_secret", body=SECRET_BODY)
    response = _post(client, hook, signature=signature)
    assert response.status_code == 401
    assert response.json()["detail"] == triggers.SIGNATURE_MISMATCH


def test_signature_over_another_body_is_401(client, hook):
    signature = triggers.sign(secret=hook.signing_secret, body=b'{"amount": 1}')
    assert _post(client, hook, signature=signature).status_code == 401


def test_malformed_signature_is_401(client, hook):
    response = _post(client, hook, signature="sha256=abc")
    assert response.status_code == 401
    assert response.json()["detail"] == triggers.SIGNATURE_MALFORMED


@pytest.mark.parametrize("skew", [-301, 330])
def test_stale_signature_is_401(client, hook, skew):
    signature = triggers.sign(secret=hook.signing_secret, body=SECRET_BODY, timestamp=int(time.time()) + skew)
    response = _post(client, hook, signature=signature)
    assert response.status_code == 401
    assert response.json()["detail"] == triggers.SIGNATURE_STALE.format(tolerance=300)


def test_replayed_signed_request_starts_nothing_new(client, hook):
    signature = triggers.sign(secret=hook.signing_secret, body=SECRET_BODY)
    first = _post(client, hook, signature=signature)
    replay = _post(client, hook, signature=signature)
    assert first.status_code == 202
    assert replay.status_code == 200
    assert replay.json() == {**first.json(), "replayed": True}
    assert WorkflowExecution.objects.count() == 1


def test_idempotency_key_returns_the_same_execution_for_24_hours(client, organization):
    """An unsigned webhook deduplicates by Idempotency-Key alone (a signed one by its signature as well)."""
    hook = trigger_create(workflow=_active(organization, _webhook_definition()), kind="webhook")
    first = _post(client, hook, signature="", HTTP_IDEMPOTENCY_KEY="order-42")
    again = _post(client, hook, signature="", HTTP_IDEMPOTENCY_KEY="order-42")
    other = _post(client, hook, signature="", HTTP_IDEMPOTENCY_KEY="order-43")
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert other.json()["execution_id"] != first.json()["execution_id"]
    assert WorkflowExecution.objects.count() == 2
    with time_machine.travel(datetime.now(tz=ZoneInfo("UTC")) + timedelta(hours=25)):
        later = _post(client, hook, signature="", HTTP_IDEMPOTENCY_KEY="order-42")
    assert later.status_code == 202
    assert later.json()["execution_id"] != first.json()["execution_id"]
    assert WebhookDelivery.objects.filter(idempotency_key="order-42", idempotency_active=True).count() == 1


def test_idempotency_key_too_long_is_400(client, hook):
    assert _post(client, hook, HTTP_IDEMPOTENCY_KEY="k" * 201).status_code == 400


@override_settings(CONCERTMASTER_WEBHOOK_MAX_BODY_BYTES=64)
def test_oversized_webhook_body_is_413(client, hook):
    body = json.dumps({"blob": "x" * 100}).encode()
    response = _post(client, hook, body=body)
    assert response.status_code == 413
    assert not WorkflowExecution.objects.exists()


def test_malformed_json_is_400(client, hook):
    body = b"{nope"
    assert _post(client, hook, body=body).status_code == 400


def test_unknown_token_and_inactive_workflow(client, hook, hook_workflow):
    assert client.post("/hooks/nope", data=b"{}", content_type="application/json").status_code == 404
    from apps.workflows.services import workflow_deactivate

    workflow_deactivate(workflow=hook_workflow)
    response = _post(client, hook)
    assert response.status_code == 409
    assert response.json()["detail"] == triggers.WORKFLOW_INACTIVE


def test_unsigned_webhook_accepts_plain_calls(client, organization):
    """A webhook node without require_signature takes unsigned calls (its trigger still has a secret)."""
    hook = trigger_create(workflow=_active(organization, _webhook_definition()), kind="webhook")
    assert hook.signing_secret
    url = f"/hooks/{hook.webhook_token}?src=test"
    response = client.post(url, data="a=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202
    execution = WorkflowExecution.objects.get()
    assert execution.trigger_data["body"] == {"a": "1"}
    assert execution.trigger_data["query"] == {"src": "test"}


def test_webhook_rate_limit(client, hook):
    from django.conf import settings

    rest = dict(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"] = {**rest["DEFAULT_THROTTLE_RATES"], "webhook": "2/min"}
    with override_settings(REST_FRAMEWORK=rest):
        codes = [_post(client, hook, body=b'{"n": %d}' % n).status_code for n in range(3)]
    assert codes == [202, 202, 429]


def test_signature_verify_accepts_any_of_several_v1():
    body = b"{}"
    good = triggers.sign(secret="s", body=body)
    header = f"{good},v1={'0' * 64}"
    assert triggers.signature_verify(secret="s", header=header, body=body) == good.split("v1=")[1]


# --- form --------------------------------------------------------------------------------------------------


@pytest.fixture
def form_workflow(organization):
    return _active(organization, FORM_DEFINITION)


@pytest.fixture
def form(form_workflow):
    return trigger_create(workflow=form_workflow, kind="form")


def test_form_api_valid_submission_starts_an_execution_with_the_values_as_input(api_client, form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    response = api_client.post(url, {"email": "a@example.com", "age": 30}, format="json")
    assert response.status_code == 201
    submission = FormSubmission.objects.get()
    assert str(submission.execution_id) == response.json()["execution_id"]
    assert WorkflowExecution.objects.get().trigger_data == {"email": "a@example.com", "age": 30}


def test_form_api_invalid_submission_has_per_field_errors_and_starts_nothing(api_client, form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    response = api_client.post(url, {"email": "not-an-email", "topic": "other"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"path": "/age", "message": trigger_nodes.FIELD_REQUIRED},
        {"path": "/email", "message": trigger_nodes.FIELD_FORMATS["email"]},
        {"path": "/topic", "message": trigger_nodes.FIELD_NOT_CHOICE},
    ]
    assert FormSubmission.objects.get().errors
    assert not WorkflowExecution.objects.exists()


def test_form_api_refuses_non_objects(api_client, form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    assert api_client.post(url, [1], format="json").status_code == 400
    assert api_client.post("/api/v1/forms/unknown/submissions/", {}, format="json").status_code == 404


def test_form_page_renders_the_form_node_accessibly(client, form):
    response = client.get(f"/forms/{form.webhook_token}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Contact us</h1>" in html
    assert '<label for="id_email">' in html
    assert 'type="email"' in html and 'type="number"' in html and "<select" in html and 'type="checkbox"' in html
    assert 'aria-required="true"' in html


def test_form_page_post_shows_per_field_errors_for_the_public(client, form):
    response = client.post(f"/forms/{form.webhook_token}", {"email": "a@example.com", "age": "12"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="err_age"' in html and 'aria-invalid="true"' in html
    assert trigger_nodes.FIELD_TOO_SMALL.format(limit=18) in html
    assert "is less than the minimum" not in html
    assert 'value="a@example.com"' in html
    assert not WorkflowExecution.objects.exists()


def test_public_error_texts_name_what_to_fix(organization):
    """Each field's error reads as a person would write it, not as the validator's message."""
    fields = {
        "type": "object",
        "required": ["name", "email"],
        "properties": {
            "name": {"type": "string", "minLength": 2, "maxLength": 5},
            "email": {"type": "string", "format": "email"},
            "seats": {"type": "integer", "maximum": 9},
            "site": {"type": "string", "format": "uri"},
        },
    }
    config = {"title": "t", "fields": fields}
    errors = trigger_nodes.FormTrigger.submission_errors
    assert [e.as_dict() for e in errors(config, {})] == [
        {"path": "/email", "message": "This field is required."},
        {"path": "/name", "message": "This field is required."},
    ]
    bad = {"name": "A", "email": "nope", "seats": 1.5, "site": "x"}
    assert {e.path: e.message for e in errors(config, bad)} == {
        "/name": "Please enter at least 2 characters.",
        "/email": "Enter a valid email address.",
        "/seats": "Please enter a whole number.",
        "/site": trigger_nodes.FIELD_FORMATS["uri"],
    }
    assert {e.path: e.message for e in errors(config, {"name": "Abcdefg", "email": "a@b.co", "seats": 10})} == {
        "/name": "Please enter at most 5 characters.",
        "/seats": "Please enter a number of at most 9.",
    }


def test_form_page_post_valid(client, form):
    response = client.post(f"/forms/{form.webhook_token}", {"email": "a@example.com", "age": "40", "subscribe": "on"})
    assert response.status_code == 200
    assert 'role="status"' in response.content.decode()
    assert WorkflowExecution.objects.get().trigger_data == {"email": "a@example.com", "age": 40, "subscribe": True}


def test_form_page_of_a_draft_workflow_says_so_before_anyone_types(client, organization):
    """GET on the form of a workflow that is not active: a sentence, no inputs, a non-2xx status."""
    draft = WorkflowFactory(organization=organization, definition=copy.deepcopy(FORM_DEFINITION))
    form = trigger_create(workflow=draft, kind="form")
    response = client.get(f"/forms/{form.webhook_token}")
    html = response.content.decode()
    assert response.status_code == 403
    assert views.FORM_WORKFLOW_INACTIVE in html
    assert "<input" not in html and "<form" not in html
    assert client.post(f"/forms/{form.webhook_token}", {"email": "a@example.com", "age": "40"}).status_code == 403
    assert not FormSubmission.objects.exists()


def test_form_page_of_a_switched_off_trigger_says_it_is_closed(client, form):
    trigger_update(trigger=form, is_active=False)
    response = client.get(f"/forms/{form.webhook_token}")
    assert response.status_code == 403
    assert views.FORM_CLOSED in response.content.decode()
    assert "<input" not in response.content.decode()


def test_form_page_lists_fields_in_the_authors_order(client, organization):
    """The author's order survives storage: PostgreSQL's jsonb would list a, email, message, company_name."""
    order = ["message", "company_name", "email", "a"]
    fields = {"type": "object", "properties": {name: {"type": "string"} for name in order}}
    definition = copy.deepcopy(FORM_DEFINITION)
    definition["nodes"][0]["config"] = {"title": "Order", "fields": fields}
    form = trigger_create(workflow=_active(organization, definition), kind="form")
    html = client.get(f"/forms/{form.webhook_token}").content.decode()
    positions = [html.index(f'id="id_{name}"') for name in order]
    assert positions == sorted(positions)
    if connection.vendor == "postgresql":  # the stored object itself lost the order; field_order kept it
        stored = Trigger.objects.get(pk=form.pk).workflow.latest_version.definition["nodes"][0]["config"]
        assert list(stored["fields"]["properties"]) != order
        assert stored["field_order"] == order


def test_publishing_a_form_workflow_gives_it_a_form_url(api_client, organization, member_factory):
    """Publishing a form workflow creates its trigger (token, switch) from the start node; no config duplicated."""
    workflow = _active(organization, FORM_DEFINITION)
    api_client.force_authenticate(member_factory(organization, "admin"))
    response = api_client.post("/api/v1/triggers/publish/", {"workflow": str(workflow.pk)}, format="json")
    assert response.status_code == 200, response.json()
    (published,) = response.json()
    assert published["kind"] == "form" and published["config"] == {} and published["start_node"] == "start"
    assert published["state"] == "live"
    assert published["form_url"].endswith(f"/forms/{Trigger.objects.get().webhook_token}")
    again = api_client.post("/api/v1/triggers/publish/", {"workflow": str(workflow.pk)}, format="json")
    assert [t["id"] for t in again.json()] == [published["id"]]
    assert Trigger.objects.count() == 1


def test_publishing_needs_a_valid_definition(api_client, organization, member_factory):
    workflow = _active(organization, FORM_DEFINITION)
    broken = copy.deepcopy(FORM_DEFINITION)
    broken["nodes"][1]["type"] = "no_such_node"
    workflow_update(workflow=workflow, definition=broken)
    api_client.force_authenticate(member_factory(organization, "admin"))
    for url, body in [
        ("/api/v1/triggers/publish/", {"workflow": str(workflow.pk)}),
        ("/api/v1/triggers/", {"workflow": str(workflow.pk), "kind": "form"}),
    ]:
        response = api_client.post(url, body, format="json")
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert {"path": "/workflow", "message": PUBLISH_NEEDS_VALID_DEFINITION} in errors
        assert any(error["path"].startswith("/definition/nodes/1") for error in errors)
    assert not Trigger.objects.exists()


def test_trigger_state_says_why_it_starts_nothing(api_client, organization, member_factory):
    """state/state_detail: workflow_inactive on a draft, inactive when switched off, live otherwise."""
    api_client.force_authenticate(member_factory(organization, "member"))
    workflow = WorkflowFactory(organization=organization, definition=copy.deepcopy(FORM_DEFINITION))
    form = trigger_create(workflow=workflow, kind="form")

    def state():
        body = api_client.get(f"/api/v1/triggers/{form.pk}/").json()
        return body["state"], body["state_detail"]

    assert state() == ("workflow_inactive", STATE_DETAIL["workflow_inactive"].format(status="draft"))
    workflow_activate(workflow=workflow)
    assert state()[0] == "live"
    trigger_update(trigger=form, is_active=False)
    assert state()[0] == "inactive"
    assert "switched off" in state()[1]


# --- which triggers fit which start nodes --------------------------------------------------------------------


def test_a_schedule_on_a_form_workflow_is_refused(form_workflow):
    with pytest.raises(ValidationError) as caught:
        trigger_create(workflow=form_workflow, kind="schedule", config={"cron": "* * * * *"})
    message = KIND_DOES_NOT_FIT.format(kind="schedule", wanted="schedule or manual", found="form")
    assert caught.value.message_dict == {"kind": [message]}
    assert not Trigger.objects.exists()


def test_a_schedule_on_a_form_workflow_is_refused_by_the_api(api_client, form_workflow, member_factory):
    api_client.force_authenticate(member_factory(form_workflow.organization, "admin"))
    body = {"workflow": str(form_workflow.pk), "kind": "schedule", "config": {"cron": "* * * * *"}}
    response = api_client.post("/api/v1/triggers/", body, format="json")
    assert response.status_code == 400
    message = KIND_DOES_NOT_FIT.format(kind="schedule", wanted="schedule or manual", found="form")
    assert response.json()["errors"] == [{"path": "/kind", "message": message}]
    assert not PeriodicTask.objects.exists()


@pytest.mark.parametrize(("kind", "definition"), [("form", WEBHOOK_DEFINITION), ("webhook", FORM_DEFINITION)])
def test_form_and_webhook_triggers_need_their_start_node(organization, kind, definition):
    workflow = _active(organization, definition)
    with pytest.raises(ValidationError) as caught:
        trigger_create(workflow=workflow, kind=kind)
    assert list(caught.value.message_dict) == ["kind"]


def test_webhook_settings_come_from_the_start_node_only(hook_workflow):
    with pytest.raises(ValidationError) as caught:
        trigger_create(workflow=hook_workflow, kind="webhook", config={"response_mode": "wait"})
    expected = WEBHOOK_CONFIG_BELONGS_TO_NODE.format(keys="response_mode")
    assert caught.value.message_dict == {"config": [expected]}


# --- schedule ----------------------------------------------------------------------------------------------


def test_beat_due_check_starts_an_execution(workflow):
    """Beat's DatabaseScheduler finds the trigger's task due at its cron time; running it starts an execution."""
    trigger = trigger_create(
        workflow=workflow, kind="schedule", config={"cron": "0 9 * * *", "timezone": "Europe/Paris"}
    )
    task = PeriodicTask.objects.get(name=f"trigger:{trigger.pk}")
    task.last_run_at = datetime(2026, 3, 2, 7, 59, tzinfo=ZoneInfo("UTC"))  # 08:59 in Paris
    task.save()
    with time_machine.travel(datetime(2026, 3, 2, 8, 0, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        scheduler = DatabaseScheduler(app=celery_app, lazy=True)
        entry = scheduler.all_as_schedule()[task.name]
        due, _ = entry.is_due()
        assert due
        celery_app.loader.import_default_modules()  # what a worker does at start: autodiscover the tasks
        celery_app.tasks[entry.task](**entry.kwargs)
    execution = WorkflowExecution.objects.get()
    assert execution.trigger_kind == "schedule"
    assert execution.trigger_data["trigger_id"] == str(trigger.pk)


def test_beat_is_not_due_before_the_cron_time(workflow):
    trigger = trigger_create(
        workflow=workflow, kind="schedule", config={"cron": "0 9 * * *", "timezone": "Europe/Paris"}
    )
    task = PeriodicTask.objects.get(name=f"trigger:{trigger.pk}")
    task.last_run_at = datetime(2026, 3, 2, 7, 0, tzinfo=ZoneInfo("UTC"))
    task.save()
    with time_machine.travel(datetime(2026, 3, 2, 7, 30, tzinfo=ZoneInfo("UTC")), tick=False):
        entry = DatabaseScheduler(app=celery_app, lazy=True).all_as_schedule()[task.name]
        assert entry.is_due()[0] is False


def test_schedule_fire_skips_inactive_workflows(workflow):
    from apps.workflows.services import workflow_deactivate

    trigger = trigger_create(workflow=workflow, kind="schedule", config={"cron": "* * * * *"})
    workflow_deactivate(workflow=workflow)
    assert triggers.schedule_fire(trigger_id=str(trigger.pk)) is None
    assert not WorkflowExecution.objects.exists()


def test_schedule_fire_skips_a_workflow_that_no_longer_starts_with_a_node_it_fits(workflow):
    """A schedule created on a manual start, whose workflow then starts with a form node, starts nothing."""
    trigger = trigger_create(workflow=workflow, kind="schedule", config={"cron": "* * * * *"})
    workflow_update(workflow=workflow, definition=copy.deepcopy(FORM_DEFINITION))
    assert triggers.schedule_fire(trigger_id=str(trigger.pk)) is None
    assert not WorkflowExecution.objects.exists()


def test_a_webhook_whose_workflow_no_longer_starts_with_a_webhook_node_is_409(client, hook, hook_workflow):
    workflow_update(workflow=hook_workflow, definition=copy.deepcopy(FORM_DEFINITION))
    response = _post(client, hook)
    assert response.status_code == 409
    assert response.json()["detail"] == triggers.START_NODE_MISSING.format(kind="webhook")
    assert not WorkflowExecution.objects.exists()


def test_switching_a_trigger_on_needs_a_valid_definition(api_client, form, form_workflow, member_factory):
    trigger_update(trigger=form, is_active=False)
    broken = copy.deepcopy(FORM_DEFINITION)
    broken["edges"].append({"source": "log", "target": "nowhere"})
    workflow_update(workflow=form_workflow, definition=broken)
    api_client.force_authenticate(member_factory(form_workflow.organization, "admin"))
    response = api_client.patch(f"/api/v1/triggers/{form.pk}/", {"is_active": True}, format="json")
    assert response.status_code == 400
    assert {"path": "/workflow", "message": PUBLISH_NEEDS_VALID_DEFINITION} in response.json()["errors"]
    form.refresh_from_db()
    assert form.is_active is False
    assert api_client.patch(f"/api/v1/triggers/{form.pk}/", {"name": "renamed"}, format="json").status_code == 200
