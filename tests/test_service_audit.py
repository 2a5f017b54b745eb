"""Every mutating service writes its own audit row: called from outside a request (a task, a command, a consumer),
with the actor passed, the row is there, naming the actor (a user, or an API key's creator with its prefix)."""

import pytest

from apps.executions import alerts
from apps.executions import services as execution_services
from apps.executions.engine.runtime import SUSPEND_APPROVAL
from apps.executions.models import CircuitBreaker, NodeExecution, WebhookDelivery, WorkflowExecution
from apps.executions.triggers import webhook_delivery_replay
from apps.integrations import services as integration_services
from apps.nodes.datastore import datarecord_delete, datarecord_put
from apps.orgs import services as org_services
from apps.orgs import variables as org_variables
from apps.orgs.models import AuditLog
from apps.workflows import services as workflow_services
from apps.workflows.models import FormSubmission
from apps.workflows.triggers import form_submission_delete, trigger_set_secret
from tests.orgs.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.workflows.factories import SIMPLE_DEFINITION, WEBHOOK_DEFINITION, CredentialFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def _organization_create(org, actor):
    return org_services.organization_create(name="New", slug="new-org", actor=actor), "organization.create"


def _organization_update(org, actor):
    return org_services.organization_update(organization=org, name="Renamed", actor=actor), "organization.update"


def _membership_set(org, actor):
    org_services.membership_set(organization=org, user=UserFactory(), role="viewer", actor=actor)
    return org, "membership.create"


def _membership_update(org, actor):
    membership = MembershipFactory(organization=org, role="viewer")
    org_services.membership_update(membership=membership, role="member", actor=actor)
    return org, "membership.update"


def _membership_delete(org, actor):
    org_services.membership_delete(membership=MembershipFactory(organization=org, role="viewer"), actor=actor)
    return org, "membership.delete"


def _api_key_create(org, actor):
    org_services.api_key_create(organization=org, name="k", actor=actor)
    return org, "api_key.create"


def _api_key_update(org, actor):
    api_key, _ = org_services.api_key_create(organization=org, name="k")
    org_services.api_key_update(api_key=api_key, name="k2", scopes=["read"], expires_at=None, actor=actor)
    return org, "api_key.update"


def _api_key_revoke(org, actor):
    api_key, _ = org_services.api_key_create(organization=org, name="k")
    org_services.api_key_revoke(api_key=api_key, actor=actor)
    return org, "api_key.revoke"


def _retention_policy_set(org, actor):
    from apps.orgs.retention import retention_policy_set

    retention_policy_set(organization=org, audit_log_days=30, actor=actor)
    return org, "retention_policy.update"


def _workflow_create(org, actor):
    workflow_services.workflow_create(organization=org, name="w", definition=SIMPLE_DEFINITION, actor=actor)
    return org, "workflow.create"


def _workflow_update(org, actor):
    workflow_services.workflow_update(workflow=WorkflowFactory(organization=org), description="d", actor=actor)
    return org, "workflow.update"


def _workflow_delete(org, actor):
    workflow_services.workflow_delete(workflow=WorkflowFactory(organization=org), actor=actor)
    return org, "workflow.delete"


def _workflow_activate(org, actor):
    workflow_services.workflow_activate(workflow=WorkflowFactory(organization=org), actor=actor)
    return org, "workflow.activate"


def _workflow_deactivate(org, actor):
    workflow_services.workflow_deactivate(workflow=WorkflowFactory(organization=org), actor=actor)
    return org, "workflow.deactivate"


def _workflow_version_restore(org, actor):
    workflow = WorkflowFactory(organization=org)
    version = workflow.versions.get(number=1)
    workflow_services.workflow_version_restore(workflow=workflow, version=version, actor=actor)
    return org, "workflow.restore"


def _workflow_import(org, actor):
    document = workflow_services.workflow_export(workflow=WorkflowFactory(organization=org))
    workflow_services.workflow_import(organization=org, document=document, actor=actor)
    return org, "workflow.import"


def _workflow_duplicate(org, actor):
    workflow_services.workflow_duplicate(workflow=WorkflowFactory(organization=org), actor=actor)
    return org, "workflow.duplicate"


def _workflow_share_set(org, actor):
    workflow = WorkflowFactory(organization=org)
    workflow_services.workflow_share_set(workflow=workflow, user=UserFactory(), permissions=["view"], actor=actor)
    return org, "workflow.share"


def _alert_rule(org):
    return alerts.alert_rule_create(
        organization=org, name="r", kind="production_failure", channel="email", target="a@example.com"
    )


def _alert_rule_create(org, actor):
    alerts.alert_rule_create(
        organization=org, name="r", kind="stuck_run", channel="email", target="a@example.com", actor=actor
    )
    return org, "alert_rule.create"


def _alert_rule_update(org, actor):
    alerts.alert_rule_update(rule=_alert_rule(org), digest_minutes=10, actor=actor)
    return org, "alert_rule.update"


def _alert_rule_delete(org, actor):
    alerts.alert_rule_delete(rule=_alert_rule(org), actor=actor)
    return org, "alert_rule.delete"


def _alert_rule_test(org, actor):
    alerts.alert_rule_test(rule=_alert_rule(org), actor=actor)
    return org, "alert_rule.test"


def _credential_create(org, actor):
    workflow_services.credential_create(organization=org, name="c", kind="k", data={"t": "x"}, actor=actor)
    return org, "credential.create"


def _credential_update(org, actor):
    workflow_services.credential_update(credential=CredentialFactory(organization=org), name="c2", actor=actor)
    return org, "credential.update"


def _credential_delete(org, actor):
    workflow_services.credential_delete(credential=CredentialFactory(organization=org), actor=actor)
    return org, "credential.delete"


def _schedule_trigger(org):
    workflow = WorkflowFactory(organization=org)
    return workflow_services.trigger_create(workflow=workflow, kind="schedule", config={"cron": "0 9 * * *"})


def _trigger_create(org, actor):
    workflow = WorkflowFactory(organization=org)
    workflow_services.trigger_create(workflow=workflow, kind="schedule", config={"cron": "0 9 * * *"}, actor=actor)
    return org, "trigger.create"


def _trigger_update(org, actor):
    workflow_services.trigger_update(trigger=_schedule_trigger(org), name="renamed", actor=actor)
    return org, "trigger.update"


def _trigger_delete(org, actor):
    workflow_services.trigger_delete(trigger=_schedule_trigger(org), actor=actor)
    return org, "trigger.delete"


def _trigger_rotate_secret(org, actor):
    workflow_services.trigger_rotate_secret(trigger=_schedule_trigger(org), actor=actor)
    return org, "trigger.rotate_secret"


def _trigger_set_secret(org, actor):
    workflow = WorkflowFactory(organization=org, definition=WEBHOOK_DEFINITION)
    trigger = workflow_services.trigger_create(workflow=workflow, kind="webhook")
    trigger_set_secret(trigger=trigger, secret="a-secret-the-sender-gave-us", actor=actor)
    return org, "trigger.set_secret"


def _trigger_publish(org, actor):
    workflow = WorkflowFactory(organization=org, definition=WEBHOOK_DEFINITION)
    workflow_services.trigger_publish(workflow=workflow, actor=actor)
    return org, "trigger.create"


def _running(org):
    """An execution started (no worker runs it: the test's transaction never commits)."""
    return execution_services.execution_start(workflow=WorkflowFactory(organization=org))


def _stopped_at_log(org, status: str, node_status: str, state: dict | None = None):
    execution = _running(org)
    WorkflowExecution.objects.filter(pk=execution.pk).update(status=status)
    NodeExecution.objects.filter(execution=execution, node_id="log").update(status=node_status, state=state or {})
    return WorkflowExecution.objects.get(pk=execution.pk)


def _form_submission_delete(org, actor):
    workflow = WorkflowFactory(organization=org)
    trigger = workflow_services.trigger_create(workflow=workflow, kind="schedule", config={"cron": "0 9 * * *"})
    submission = FormSubmission.objects.create(organization=org, trigger=trigger, data={"email": "a@example.com"})
    form_submission_delete(submission=submission, actor=actor)
    return org, "form_submission.delete"


def _datarecord_put(org, actor):
    datarecord_put(organization_id=org.pk, collection="orders", key="k", value={"n": 1}, actor=actor)
    return org, "datarecord.create"


def _datarecord_delete(org, actor):
    record, _ = datarecord_put(organization_id=org.pk, collection="orders", key="k", value={"n": 1})
    datarecord_delete(record=record, actor=actor)
    return org, "datarecord.delete"


def _execution_start(org, actor):
    execution_services.execution_start(workflow=WorkflowFactory(organization=org), actor=actor)
    return org, "workflow.execute"


def _execution_pause(org, actor):
    execution_services.execution_pause(execution=_running(org), actor=actor)
    return org, "execution.pause"


def _execution_resume(org, actor):
    execution = _running(org)
    execution_services.execution_pause(execution=execution)
    execution_services.execution_resume(execution=execution, actor=actor)
    return org, "execution.resume"


def _execution_cancel(org, actor):
    execution_services.execution_cancel(execution=_running(org), actor=actor)
    return org, "execution.cancel"


def _execution_retry_failed(org, actor):
    execution_services.execution_retry_failed(execution=_stopped_at_log(org, "failed", "failed"), actor=actor)
    return org, "execution.retry"


def _waiting_for_approval(org):
    return _stopped_at_log(org, "running", "waiting", {"suspend": {"kind": SUSPEND_APPROVAL, "data": {}}})


def _execution_approve(org, actor):
    execution_services.execution_approve(execution=_waiting_for_approval(org), node_id="log", actor=actor)
    return org, "execution.approve"


def _execution_reject(org, actor):
    execution_services.execution_reject(execution=_waiting_for_approval(org), node_id="log", actor=actor)
    return org, "execution.reject"


def _execution_rerun(org, actor):
    execution = _stopped_at_log(org, "failed", "failed")
    execution_services.execution_rerun(execution=execution, start_from="trigger", actor=actor)
    return org, "execution.rerun"


def _node_requeue(org, actor):
    execution = _stopped_at_log(org, "running", "running")
    execution_services.node_requeue(node_execution=execution.node_executions.get(node_id="log"), actor=actor)
    return org, "execution.requeue_node"


def _workflow_start_held(org, actor):
    execution_services.workflow_start_held(workflow=WorkflowFactory(organization=org), actor=actor)
    return org, "workflow.start_held"


def _webhook_delivery_replay(org, actor):
    workflow = WorkflowFactory(organization=org, definition=WEBHOOK_DEFINITION)
    trigger = workflow_services.trigger_create(workflow=workflow, kind="webhook")
    delivery = WebhookDelivery.objects.create(
        organization=org,
        trigger=trigger,
        outcome="accepted",
        status_code=202,
        body="{}",
        content_type="application/json",
    )
    webhook_delivery_replay(delivery=delivery, actor=actor)
    return org, "webhook_delivery.replay"


def _circuit_breaker_reset(org, actor):
    row = CircuitBreaker.objects.create(organization=org, node_type="http_request", target="example.com", state="open")
    execution_services.circuit_breaker_reset(circuit_breaker=row, actor=actor)
    return org, "circuit_breaker.reset"


def _integration(org):
    return integration_services.integration_create(organization=org, service_url="https://n8n.example.com")


def _integration_create(org, actor):
    integration_services.integration_create(organization=org, service_url="https://n8n.example.com", actor=actor)
    return org, "integration.create"


def _integration_update(org, actor):
    integration_services.integration_update(integration=_integration(org), name="renamed", actor=actor)
    return org, "integration.update"


def _integration_allow_private(org, actor):
    integration_services.integration_update(integration=_integration(org), allow_private=True, actor=actor)
    return org, "integration.allow_private"


def _integration_choose_workflows(org, actor):
    integration_services.integration_choose_workflows(integration=_integration(org), workflow_ids=["7"], actor=actor)
    return org, "integration.update"


def _integration_delete(org, actor):
    integration_services.integration_delete(integration=_integration(org), actor=actor)
    return org, "integration.delete"


def _integration_test(org, actor):
    integration_services.integration_test(integration=_integration(org), actor=actor)  # no key: fails, no call
    return org, "integration.test"


def _integration_sync(org, actor):
    integration_services.sync_job_create(integration=_integration(org), workflow_ids=["7"], actor=actor)
    return org, "integration.sync"


def _integration_for_url(org, actor):
    integration_services.integration_for_url(
        organization=org, n8n_url="https://n8n.example.com", api_key="k", actor=actor
    )
    return org, "integration.create"


def _org_variable_create(org, actor):
    org_variables.org_variable_create(organization=org, name="REGION", value="eu", actor=actor)
    return org, "org_variable.create"


def _org_variable_update(org, actor):
    variable = org_variables.org_variable_create(organization=org, name="REGION", value="eu")
    org_variables.org_variable_update(variable=variable, value="us", actor=actor)
    return org, "org_variable.update"


def _org_variable_delete(org, actor):
    variable = org_variables.org_variable_create(organization=org, name="REGION", value="eu")
    org_variables.org_variable_delete(variable=variable, actor=actor)
    return org, "org_variable.delete"


def _org_secret_create(org, actor):
    org_variables.org_secret_create(organization=org, name="KEY", value="s3cret", actor=actor)
    return org, "org_secret.create"


def _org_secret_update(org, actor):
    secret = org_variables.org_secret_create(organization=org, name="KEY", value="s3cret")
    org_variables.org_secret_update(secret=secret, value="other", actor=actor)
    return org, "org_secret.update"


def _org_secret_delete(org, actor):
    secret = org_variables.org_secret_create(organization=org, name="KEY", value="s3cret")
    org_variables.org_secret_delete(secret=secret, actor=actor)
    return org, "org_secret.delete"


SERVICES = [
    _organization_create,
    _organization_update,
    _membership_set,
    _membership_update,
    _membership_delete,
    _api_key_create,
    _api_key_update,
    _api_key_revoke,
    _retention_policy_set,
    _workflow_create,
    _workflow_update,
    _workflow_delete,
    _workflow_activate,
    _workflow_deactivate,
    _workflow_version_restore,
    _workflow_import,
    _workflow_duplicate,
    _workflow_share_set,
    _alert_rule_create,
    _alert_rule_update,
    _alert_rule_delete,
    _alert_rule_test,
    _credential_create,
    _credential_update,
    _credential_delete,
    _org_variable_create,
    _org_variable_update,
    _org_variable_delete,
    _org_secret_create,
    _org_secret_update,
    _org_secret_delete,
    _trigger_create,
    _trigger_update,
    _trigger_delete,
    _trigger_rotate_secret,
    _trigger_set_secret,
    _trigger_publish,
    _form_submission_delete,
    _datarecord_put,
    _datarecord_delete,
    _execution_start,
    _execution_pause,
    _execution_resume,
    _execution_cancel,
    _execution_retry_failed,
    _execution_approve,
    _execution_reject,
    _execution_rerun,
    _node_requeue,
    _workflow_start_held,
    _webhook_delivery_replay,
    _circuit_breaker_reset,
    _integration_create,
    _integration_update,
    _integration_allow_private,
    _integration_choose_workflows,
    _integration_delete,
    _integration_test,
    _integration_sync,
    _integration_for_url,
]


@pytest.fixture
def org():
    return OrganizationFactory()


@pytest.fixture
def person(org):
    return MembershipFactory(organization=org, role="owner").user


@pytest.mark.parametrize("call", SERVICES, ids=lambda call: call.__name__.lstrip("_"))
def test_service_called_with_a_user_writes_its_audit_row(call, org, person):
    """A user's write outside any request is audited with that user as the actor."""
    organization, action = call(org, person)
    row = AuditLog.objects.get(organization=organization, action=action)
    assert row.actor == person
    assert "via" not in row.data


@pytest.mark.parametrize("call", SERVICES, ids=lambda call: call.__name__.lstrip("_"))
def test_service_called_with_an_api_key_names_the_key(call, org, person):
    """An API key's write is audited with its creator as the actor and the key's prefix in the data."""
    api_key, _ = org_services.api_key_create(organization=org, name="robot", created_by=person)
    organization, action = call(org, api_key)
    row = AuditLog.objects.get(organization=organization, action=action)
    assert (row.actor, row.data["api_key"]) == (person, api_key.prefix)


@pytest.mark.parametrize("call", SERVICES, ids=lambda call: call.__name__.lstrip("_"))
def test_service_called_without_an_actor_writes_no_row(call, org):
    """The platform acting on its own (or a service inside another) leaves the row to the outer call."""
    call(org, None)
    assert not AuditLog.objects.exists()


def test_a_row_says_which_interface_it_came_through(org, person):
    """Inside `audit_via`, rows carry `via` (the admin wraps its views in it)."""
    with org_services.audit_via("command"):
        org_services.organization_update(organization=org, name="Renamed", actor=person)
    assert AuditLog.objects.get(action="organization.update").data == {"fields": ["name"], "via": "command"}
