"""`/api/v1/alert-rules/`: owners and admins manage their organization's rules; bad input is a 400 naming the field;
another organization's rule is a 404; the test action sends through the rule's channel (a local SMTP server)."""

import pytest

from apps.executions import alerts
from apps.executions.alert_models import AlertRule
from apps.orgs.models import AuditLog
from tests.nodes.fakeserver import FakeSMTPServer
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/alert-rules/"
EMAIL_RULE = {"name": "Failures", "kind": "production_failure", "channel": "email", "target": "ops@example.com"}


@pytest.fixture
def login(api_client, organization, member_factory):
    def as_role(role):
        user = member_factory(organization, role)
        api_client.force_authenticate(user)
        return user

    return as_role


def _errors(response):
    return {error["path"]: error["message"] for error in response.json()["errors"]}


def test_an_admin_creates_a_rule_and_it_is_audited(login, api_client, organization):
    login("admin")
    workflow = WorkflowFactory(organization=organization)
    body = {**EMAIL_RULE, "workflow": str(workflow.pk), "digest_minutes": 10}

    response = api_client.post(URL, body, format="json")

    assert response.status_code == 201, response.json()
    rule = AlertRule.objects.get()
    assert (rule.organization, rule.workflow, rule.digest_minutes) == (organization, workflow, 10)
    assert AuditLog.objects.filter(action="alert_rule.create", target_id=str(rule.pk)).exists()


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({**EMAIL_RULE, "target": "not an address"}, "/target", alerts.TARGET_EMAIL_INVALID),
        ({**EMAIL_RULE, "channel": "slack", "target": "ftp://x"}, "/target", alerts.TARGET_URL_INVALID),
        (
            {**EMAIL_RULE, "channel": "webhook", "target": "https://hooks.example.com/x"},
            "/signing_secret",
            alerts.SECRET_REQUIRED,
        ),
        ({**EMAIL_RULE, "kind": "failure_rate"}, "/threshold_percent", alerts.THRESHOLD_REQUIRED),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(login, api_client, body, path, message):
    login("owner")
    response = api_client.post(URL, body, format="json")
    assert response.status_code == 400
    assert _errors(response)[path] == message
    assert not AlertRule.objects.exists()


def test_a_workflow_of_another_organization_is_a_400(login, api_client):
    login("owner")
    response = api_client.post(URL, {**EMAIL_RULE, "workflow": str(WorkflowFactory().pk)}, format="json")
    assert response.status_code == 400
    assert _errors(response) == {"/workflow": alerts.WORKFLOW_OTHER_ORGANIZATION}


def test_members_neither_see_nor_create_rules(login, api_client, organization):
    alerts.alert_rule_create(organization=organization, **EMAIL_RULE)
    login("member")
    assert api_client.get(URL).json()["results"] == []
    assert api_client.post(URL, EMAIL_RULE, format="json").status_code == 403


def test_another_organizations_rule_is_a_404(login, api_client, other_organization):
    theirs = alerts.alert_rule_create(organization=other_organization, **EMAIL_RULE)
    login("owner")
    assert api_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert api_client.patch(f"{URL}{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert api_client.post(f"{URL}{theirs.pk}/test/").status_code == 404
    assert api_client.get(URL).json()["results"] == []


def test_an_update_changes_the_given_fields_and_never_shows_the_secret(login, api_client, organization):
    login("admin")
    body = {**EMAIL_RULE, "channel": "webhook", "target": "https://hooks.example.com/x", "signing_secret": "k"}
    rule_id = api_client.post(URL, body, format="json").json()["id"]

    response = api_client.patch(f"{URL}{rule_id}/", {"is_active": False}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["is_active"] is False and "signing_secret" not in response.json()
    assert AlertRule.objects.get().signing_secret == "k"


def test_the_test_action_sends_through_the_channel(login, api_client, organization, settings):
    login("admin")
    rule = alerts.alert_rule_create(organization=organization, **EMAIL_RULE)
    with FakeSMTPServer() as smtp:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

        response = api_client.post(f"{URL}{rule.pk}/test/")

    assert response.status_code == 200, response.json()
    assert response.json()["delivered"] is True and response.json()["test"] is True
    assert smtp.messages[0].recipients == ["ops@example.com"]
    assert "Test of the alert rule 'Failures'" in smtp.messages[0].message["Subject"]
    assert AuditLog.objects.filter(action="alert_rule.test").exists()
