"""Retention: each kind of row is deleted past its period (an organization's own, else the global setting), in
batches, and never another organization's row that its own period still keeps."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.executions import retention
from apps.executions.engine import recovery
from apps.executions.file_models import ExecutionFile
from apps.executions.models import ExecutionLog, WebhookDelivery
from apps.nodes.files import file_storage, file_store
from apps.nodes.models import DataRecord
from apps.orgs.models import AuditLog, RetentionPolicy
from apps.orgs.retention import retention_policy_set
from apps.workflows.models import FormSubmission
from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import OrganizationFactory
from tests.workflows.factories import TriggerFactory

pytestmark = pytest.mark.django_db

GLOBAL_DAYS = 10


def _audit(org):
    return AuditLog.objects.create(organization=org, action="test.action")


def _webhook(org):
    trigger = TriggerFactory(workflow__organization=org, kind="webhook")
    return WebhookDelivery.objects.create(organization=org, trigger=trigger, outcome="accepted", status_code=202)


def _form(org):
    trigger = TriggerFactory(workflow__organization=org, kind="form")
    return FormSubmission.objects.create(organization=org, trigger=trigger, data={"a": 1})


def _log(org):
    execution = WorkflowExecutionFactory(workflow__organization=org)
    return ExecutionLog.objects.create(organization=org, execution=execution, message="hello", at=timezone.now())


def _datastore(org):
    return DataRecord.objects.create(organization=org, collection="c", key=uuid.uuid4().hex, data={"n": 1})


def _file(org):
    execution = WorkflowExecutionFactory(workflow__organization=org)
    file_store(organization_id=org.pk, execution_id=execution.pk, name="a.txt", content=b"bytes")
    return ExecutionFile.objects.filter(execution=execution).get()


#: kind -> (make one row, the field that dates it, the global setting)
MAKERS = {
    "audit_log": (_audit, "at"),
    "webhook_deliveries": (_webhook, "created_at"),
    "form_submissions": (_form, "created_at"),
    "execution_logs": (_log, "at"),
    "datastore": (_datastore, "updated_at"),
    "files": (_file, "created_at"),
}


@pytest.fixture
def periods(settings, local_files):
    for kind in retention.KINDS.values():
        setattr(settings, kind.setting, GLOBAL_DAYS)
    settings.CONCERTMASTER_RETENTION_BATCH_SIZE = 1000


def _row_aged(kind, org, days):
    make, field = MAKERS[kind]
    row = make(org)
    type(row).objects.filter(pk=row.pk).update(**{field: timezone.now() - timedelta(days=days)})
    return row


def _exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


def test_every_kind_has_a_test():
    assert set(MAKERS) == set(retention.KINDS)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_rows_past_the_global_period_are_deleted(kind, periods):
    org = OrganizationFactory()
    old = _row_aged(kind, org, GLOBAL_DAYS + 1)
    recent = _row_aged(kind, org, GLOBAL_DAYS - 1)
    assert retention.prune_kind(retention.KINDS[kind]) == 1
    assert not _exists(old)
    assert _exists(recent)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_an_organization_period_wins_and_other_organizations_are_untouched(kind, periods):
    """A longer period keeps what the global one would delete; a shorter one deletes what it would keep; the
    organization without a policy follows the global period."""
    keeps_longer, keeps_shorter, plain = OrganizationFactory(), OrganizationFactory(), OrganizationFactory()
    field = retention.KINDS[kind].policy_field
    retention_policy_set(organization=keeps_longer, **{field: 100})
    retention_policy_set(organization=keeps_shorter, **{field: 2})
    longer_kept = _row_aged(kind, keeps_longer, GLOBAL_DAYS + 1)
    shorter_gone = _row_aged(kind, keeps_shorter, 3)
    plain_kept = _row_aged(kind, plain, GLOBAL_DAYS - 1)
    plain_gone = _row_aged(kind, plain, GLOBAL_DAYS + 1)

    assert retention.prune_kind(retention.KINDS[kind]) == 2
    assert _exists(longer_kept) and _exists(plain_kept)
    assert not _exists(shorter_gone) and not _exists(plain_gone)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_zero_keeps_forever(kind, periods, settings):
    kept_by_policy, kept_globally = OrganizationFactory(), OrganizationFactory()
    retention_policy_set(organization=kept_by_policy, **{retention.KINDS[kind].policy_field: 0})
    by_policy = _row_aged(kind, kept_by_policy, 1000)
    assert retention.prune_kind(retention.KINDS[kind]) == 0  # the global period (10 days) does not apply
    setattr(settings, retention.KINDS[kind].setting, 0)
    globally = _row_aged(kind, kept_globally, 1000)
    assert retention.prune_kind(retention.KINDS[kind]) == 0
    assert _exists(by_policy) and _exists(globally)


def test_rows_are_deleted_in_batches_each_in_its_own_statement(periods):
    """Five old rows with a batch of two: three DELETE statements of at most two rows each."""
    org = OrganizationFactory()
    rows = [_row_aged("audit_log", org, GLOBAL_DAYS + 1) for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        assert retention.prune_kind(retention.KINDS["audit_log"], batch=2) == 5
    deletes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("DELETE")]
    assert len(deletes) == 3
    assert not any(_exists(row) for row in rows)


def test_a_pruned_file_takes_its_bytes(periods, django_capture_on_commit_callbacks):
    org = OrganizationFactory()
    row = _row_aged("files", org, GLOBAL_DAYS + 1)
    assert file_storage().exists(row.storage_key)
    with django_capture_on_commit_callbacks(execute=True):
        retention.prune_kind(retention.KINDS["files"])
    assert not file_storage().exists(row.storage_key)


def test_prune_all_reports_each_kind(periods):
    org = OrganizationFactory()
    _row_aged("audit_log", org, GLOBAL_DAYS + 1)
    _row_aged("datastore", org, GLOBAL_DAYS + 1)
    counts = retention.prune_all()
    assert set(counts) == set(retention.KINDS)
    assert counts["audit_log"] == 1 and counts["datastore"] == 1 and counts["form_submissions"] == 0


def test_the_engine_prune_keeps_webhook_deliveries_an_organization_keeps_longer(periods, settings):
    """The engine's hourly prune deletes webhook deliveries through the same per-organization periods."""
    org = OrganizationFactory()
    retention_policy_set(organization=org, webhook_delivery_days=100)
    kept = _row_aged("webhook_deliveries", org, GLOBAL_DAYS + 1)
    recovery.prune()
    assert _exists(kept)


def test_retention_days_reads_the_override_else_the_global_setting(periods):
    org = OrganizationFactory()
    assert retention.retention_days(kind="audit_log", organization_id=org.pk) == GLOBAL_DAYS
    retention_policy_set(organization=org, audit_log_days=3)
    assert retention.retention_days(kind="audit_log", organization_id=org.pk) == 3
    retention_policy_set(organization=org, form_submission_days=5)
    assert RetentionPolicy.objects.get(organization=org).audit_log_days == 3  # the others stay


def test_an_unknown_retention_field_is_refused_with_nothing_written():
    org = OrganizationFactory()
    with pytest.raises(TypeError, match="audit_days"):
        retention_policy_set(organization=org, audit_days=3)
    assert not RetentionPolicy.objects.filter(organization=org).exists()
