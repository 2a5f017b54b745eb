"""Webhook, form and schedule triggers: signatures, idempotency, size limits, per-field errors, beat."""

import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from apps.executions import triggers
from apps.executions.models import WebhookDelivery, WorkflowExecution
from apps.workflows.models import FormSubmission
from apps.workflows.services import trigger_create, workflow_activate
from concertmaster.celery import app as celery_app
from tests.workflows.factories import WorkflowFactory

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


@pytest.fixture
def hook(workflow):
    return trigger_create(workflow=workflow, kind="webhook")


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


@pytest.mark.parametrize("skew", [-301, 301])
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


def test_idempotency_key_returns_the_same_execution_for_24_hours(client, hook):
    first = _post(client, hook, HTTP_IDEMPOTENCY_KEY="order-42")
    again = _post(client, hook, HTTP_IDEMPOTENCY_KEY="order-42")
    other = _post(client, hook, HTTP_IDEMPOTENCY_KEY="order-43")
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert other.json()["execution_id"] != first.json()["execution_id"]
    assert WorkflowExecution.objects.count() == 2
    with time_machine.travel(datetime.now(tz=ZoneInfo("UTC")) + timedelta(hours=25)):
        later = _post(client, hook, HTTP_IDEMPOTENCY_KEY="order-42")
    assert later.status_code == 202
    assert later.json()["execution_id"] != first.json()["execution_id"]
    assert WebhookDelivery.objects.filter(idempotency_key="order-42").count() == 1


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


def test_unknown_token_and_inactive_workflow(client, hook, workflow):
    assert client.post("/hooks/nope", data=b"{}", content_type="application/json").status_code == 404
    from apps.workflows.services import workflow_deactivate

    workflow_deactivate(workflow=workflow)
    response = _post(client, hook)
    assert response.status_code == 409
    assert response.json()["detail"] == triggers.WORKFLOW_INACTIVE


def test_unsigned_webhook_accepts_plain_calls(client, workflow):
    hook = trigger_create(workflow=workflow, kind="webhook", signed=False)
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
        codes = [_post(client, hook, HTTP_IDEMPOTENCY_KEY=str(n)).status_code for n in range(3)]
    assert codes == [202, 202, 429]


def test_signature_verify_accepts_any_of_several_v1():
    body = b"{}"
    good = triggers.sign(secret="s", body=body)
    header = f"{good},v1={'0' * 64}"
    assert triggers.signature_verify(secret="s", header=header, body=body) == good.split("v1=")[1]


# --- form --------------------------------------------------------------------------------------------------

FORM_SCHEMA = {
    "title": "Contact us",
    "type": "object",
    "required": ["email", "age"],
    "properties": {
        "email": {"type": "string", "format": "email", "title": "Email"},
        "age": {"type": "integer", "minimum": 18},
        "topic": {"type": "string", "enum": ["sales", "support"]},
        "subscribe": {"type": "boolean"},
    },
}


@pytest.fixture
def form(workflow):
    return trigger_create(workflow=workflow, kind="form", config={"schema": FORM_SCHEMA})


def test_form_api_valid_submission_starts_an_execution(api_client, form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    response = api_client.post(url, {"email": "a@example.com", "age": 30}, format="json")
    assert response.status_code == 201
    submission = FormSubmission.objects.get()
    assert str(submission.execution_id) == response.json()["execution_id"]
    assert WorkflowExecution.objects.get().trigger_data["form"] == {"email": "a@example.com", "age": 30}


def test_form_api_invalid_submission_has_per_field_errors_and_starts_nothing(api_client, form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    response = api_client.post(url, {"email": "not-an-email", "topic": "other"}, format="json")
    assert response.status_code == 400
    paths = {error["path"] for error in response.json()["errors"]}
    assert paths == {"/email", "/age", "/topic"}
    assert FormSubmission.objects.get().errors
    assert not WorkflowExecution.objects.exists()


def test_form_api_refuses_non_objects(api_client, form):
    url = f"/api/v1/forms/{form.webhook_token}/submissions/"
    assert api_client.post(url, [1], format="json").status_code == 400
    assert api_client.post("/api/v1/forms/unknown/submissions/", {}, format="json").status_code == 404


def test_form_page_renders_accessibly(client, form):
    response = client.get(f"/forms/{form.webhook_token}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Contact us</h1>" in html
    assert '<label for="id_email">' in html
    assert 'type="email"' in html and 'type="number"' in html and "<select" in html and 'type="checkbox"' in html
    assert 'aria-required="true"' in html


def test_form_page_post_shows_per_field_errors(client, form):
    response = client.post(f"/forms/{form.webhook_token}", {"email": "a@example.com", "age": "12"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="err_age"' in html and 'aria-invalid="true"' in html
    assert 'value="a@example.com"' in html
    assert not WorkflowExecution.objects.exists()


def test_form_page_post_valid(client, form):
    response = client.post(f"/forms/{form.webhook_token}", {"email": "a@example.com", "age": "40", "subscribe": "on"})
    assert response.status_code == 200
    assert 'role="status"' in response.content.decode()
    assert WorkflowExecution.objects.get().trigger_data["form"] == {
        "email": "a@example.com",
        "age": 40,
        "subscribe": True,
    }


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
