"""Alert rules: one digest per burst through email (a local SMTP server), Slack and a signed webhook (a local HTTP
server); the failure rate and stuck run rules; the private-address rule; production runs only; one organization."""

import hashlib
import hmac
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.executions import alerts
from apps.executions.alert_models import AlertMessage, AlertRule
from apps.executions.alerts import alerts_pass
from tests.executions.factories import WorkflowExecutionFactory
from tests.nodes.fakeserver import FakeHTTPServer, FakeSMTPServer
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def workflow(organization):
    return WorkflowFactory(organization=organization, name="Orders")


@pytest.fixture
def smtp(settings):
    with FakeSMTPServer() as server:
        settings.EMAIL_BACKEND = SMTP_BACKEND
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield server


@pytest.fixture
def web(settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True  # the test's server listens on loopback
    with FakeHTTPServer() as server:
        server.reply("POST", "/hook", status=200, body="ok")
        yield server


def rule(organization, now, **fields):
    values = {"name": "Failures", "kind": "production_failure", "channel": "email", "target": "ops@example.com"}
    created = alerts.alert_rule_create(organization=organization, **{**values, **fields})
    AlertRule.objects.filter(pk=created.pk).update(checked_until=now - timedelta(hours=1))
    created.refresh_from_db()
    return created


def failed(workflow, finished_at, **fields):
    values = {
        "status": "failed",
        "started_at": finished_at - timedelta(seconds=5),
        "finished_at": finished_at,
        "error": {"node_id": "charge", "message": "card declined"},
    }
    return WorkflowExecutionFactory(workflow=workflow, **{**values, **fields})


def burst(workflow, now, count=5):
    return [failed(workflow, now - timedelta(seconds=60 - i)) for i in range(count)]


def test_a_burst_of_failures_sends_one_digest_email(organization, workflow, now, smtp):
    rule(organization, now, target="ops@example.com, oncall@example.com")
    burst(workflow, now)
    failed(workflow, now - timedelta(seconds=30), test_run=True)  # a test run is not a production run
    failed(workflow, now - timedelta(seconds=30), parent=WorkflowExecutionFactory(workflow=workflow))  # a child

    assert alerts_pass(now=now) == 1
    assert alerts_pass(now=now + timedelta(seconds=30)) == 0, "nothing new, and inside the digest window"

    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert sorted(mail.recipients) == ["oncall@example.com", "ops@example.com"]
    assert mail.message["Subject"] == f"[ConcertMaster] 5 production runs failed in {organization.name}"
    body = mail.message.get_payload()
    assert body.count("Orders at node charge: card declined") == 5


def test_failures_inside_the_digest_window_wait_for_the_next_message(organization, workflow, now, smtp):
    rule(organization, now, digest_minutes=5)
    burst(workflow, now)
    assert alerts_pass(now=now) == 1
    late = failed(workflow, now + timedelta(minutes=1))

    assert alerts_pass(now=now + timedelta(minutes=2)) == 0
    assert alerts_pass(now=now + timedelta(minutes=6)) == 1

    assert len(smtp.messages) == 2
    assert "1 production run failed" in smtp.messages[1].message["Subject"]
    assert str(late.pk) in smtp.messages[1].message.get_payload()


def test_a_burst_sends_one_slack_message(organization, workflow, now, web):
    rule(organization, now, channel="slack", target=f"{web.url}/hook")
    burst(workflow, now)

    assert alerts_pass(now=now) == 1

    assert len(web.requests) == 1
    text = web.requests[0].json()["text"]
    assert text.startswith(f"*[ConcertMaster] 5 production runs failed in {organization.name}*")
    assert text.count("card declined") == 5


def test_a_burst_sends_one_signed_webhook(organization, workflow, now, web):
    rule(organization, now, channel="webhook", target=f"{web.url}/hook", signing_secret="s3cret")
    runs = burst(workflow, now)

    assert alerts_pass(now=now) == 1

    [request] = web.requests
    timestamp, signature = (part.split("=", 1)[1] for part in request.headers["x-concertmaster-signature"].split(","))
    expected = hmac.new(b"s3cret", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    payload = request.json()
    assert payload["count"] == 5 and payload["rule"]["kind"] == "production_failure"
    assert [run["execution_id"] for run in payload["runs"]] == [str(run.pk) for run in runs]
    assert request.headers["x-concertmaster-delivery"] == payload["message_id"]


def test_a_loopback_url_is_refused_without_the_setting_and_tried_again_later(organization, workflow, now, settings):
    settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = False
    with FakeHTTPServer() as server:
        server.reply("POST", "/hook", status=200)
        created = rule(organization, now, channel="slack", target=f"{server.url}/hook", digest_minutes=5)
        burst(workflow, now)

        assert alerts_pass(now=now) == 0
        assert server.requests == []
        created.refresh_from_db()
        assert "Refusing to connect" in created.last_error
        assert created.checked_until < now - timedelta(minutes=30), "the failures are kept for the next try"

        settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP = True
        assert alerts_pass(now=now + timedelta(minutes=5)) == 1
        assert "5 production runs failed" in server.requests[0].json()["text"]


def test_the_failure_rate_rule_speaks_once_the_threshold_is_reached(organization, workflow, now, smtp):
    rule(organization, now, kind="failure_rate", threshold_percent=40, min_runs=10, window_minutes=60)
    for i in range(7):
        WorkflowExecutionFactory(workflow=workflow, status="succeeded", finished_at=now - timedelta(minutes=i + 1))
    burst(workflow, now, count=3)
    failed(workflow, now - timedelta(hours=2))  # outside the window
    assert alerts_pass(now=now) == 0, "3 of 10 is 30 %"

    burst(workflow, now, count=2)
    assert alerts_pass(now=now) == 1, "5 of 12 is 41.7 %"

    subject = " ".join(str(smtp.messages[0].message["Subject"]).split())  # a long header arrives folded
    assert subject == f"[ConcertMaster] 41.7% of the runs of {organization.name} failed in the last 60 min"
    assert "5 of 12 finished runs failed (threshold 40%)." in smtp.messages[0].message.get_payload()


def test_the_failure_rate_rule_needs_enough_runs(organization, workflow, now, smtp):
    rule(organization, now, kind="failure_rate", threshold_percent=10, min_runs=5)
    burst(workflow, now, count=4)
    assert alerts_pass(now=now) == 0
    assert smtp.messages == []


def test_a_stuck_run_is_told_once(organization, workflow, now, smtp):
    created = rule(organization, now, kind="stuck_run", window_minutes=15, digest_minutes=1)
    AlertRule.objects.filter(pk=created.pk).update(checked_until=now - timedelta(minutes=10))
    stuck = WorkflowExecutionFactory(workflow=workflow, status="running", started_at=now - timedelta(minutes=20))
    WorkflowExecutionFactory(workflow=workflow, status="running", started_at=now - timedelta(minutes=5))

    assert alerts_pass(now=now) == 1
    assert alerts_pass(now=now + timedelta(minutes=2)) == 0, "told already"
    assert alerts_pass(now=now + timedelta(minutes=11)) == 1, "the younger one has now run 16 minutes"

    first = smtp.messages[0].message
    assert first["Subject"] == f"[ConcertMaster] 1 run has been running over 15 min in {organization.name}"
    assert str(stuck.pk) in first.get_payload()


def test_a_rule_sees_its_own_organization_and_workflow_only(organization, workflow, now, smtp):
    other_workflow = WorkflowFactory(organization=organization)
    rule(organization, now, workflow=workflow)
    burst(WorkflowFactory(), now)  # another organization
    burst(other_workflow, now, count=2)
    assert alerts_pass(now=now) == 0

    failed(workflow, now + timedelta(seconds=20))
    assert alerts_pass(now=now + timedelta(minutes=1)) == 1
    assert "1 production run failed in the workflow 'Orders'" in smtp.messages[0].message["Subject"]


def test_an_inactive_rule_says_nothing(organization, workflow, now, smtp):
    rule(organization, now, is_active=False)
    burst(workflow, now)
    assert alerts_pass(now=now) == 0
    assert not AlertMessage.objects.exists()
