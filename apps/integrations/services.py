"""Writes for integrations: connect an n8n instance, test it, sync its workflows (links, versions, conflicts),
switch the periodic sync. The translation itself is `apps.workflows.n8n` (pure)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from apps.core.params import UNSET, Unset, given
from apps.nodes.registry import registry
from apps.orgs.models import Organization
from apps.orgs.services import Actor, audit
from apps.workflows.models import Workflow
from apps.workflows.n8n import translate_workflow
from apps.workflows.services import workflow_create, workflow_update

from .choices import IntegrationStatus, JobStatus, Service, SyncOutcome
from .client import N8nClient, N8nError, normalise_url
from .models import Integration, SyncJob, WorkflowLink

logger = logging.getLogger(__name__)

PERIODIC_TASK = "concertmaster.integration_sync_periodic"
NO_API_KEY = "This integration has no API key: set one first."
CONFLICT = (
    "Edited in ConcertMaster since the last sync (revision {current}, synced at {synced}): not overwritten. "
    "Sync with force to replace it."
)
NOT_ON_INSTANCE = "n8n has no workflow {id}."
WORKFLOW_IDS_INVALID = "Must be a list of n8n workflow ids (strings)."


def _client(integration: Integration) -> N8nClient:
    api_key = (integration.credentials or {}).get("api_key")
    if not api_key:
        raise N8nError(NO_API_KEY)
    allow = integration.allow_private or settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP
    return N8nClient(base_url=integration.service_url, api_key=api_key, allow_private=allow)


def _clean_url(url: str) -> str:
    try:
        return normalise_url(url)
    except N8nError as error:
        raise ValidationError({"service_url": [str(error)]}) from None


def _workflow_ids(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str | int) and str(v) for v in value):
        raise ValidationError({"workflow_ids": [WORKFLOW_IDS_INVALID]})
    return [str(v) for v in value]


@transaction.atomic
def integration_create(
    *,
    organization: Organization,
    service_url: str,
    api_key: str = "",
    name: str = "",
    configuration: dict | None = None,
    allow_private: bool = False,
    periodic_sync: bool = False,
    sync_interval_minutes: int = 60,
    created_by: User | None = None,
    actor: Actor = None,
) -> Integration:
    url = _clean_url(service_url)
    integration = Integration(
        organization=organization,
        service=Service.N8N,
        name=name or f"n8n at {url}",
        service_url=url,
        credentials={"api_key": api_key} if api_key else {},
        configuration=configuration or {},
        allow_private=allow_private,
        periodic_sync=periodic_sync,
        sync_interval_minutes=sync_interval_minutes,
        created_by=created_by,
    )
    _workflow_ids(integration.configuration.get("workflow_ids"))
    integration.full_clean()
    integration.save()
    periodic_sync_apply(integration=integration)
    audit(actor=actor, organization=organization, action="integration.create", target=integration)
    if allow_private:
        _audit_allow_private(integration, actor)
    return integration


def _audit_allow_private(integration: Integration, actor: Actor) -> None:
    """Allowing (or no longer allowing) private addresses is its own row: it lets n8n calls reach the LAN."""
    audit(
        actor=actor,
        organization=integration.organization,
        action="integration.allow_private",
        target=integration,
        data={"allow_private": integration.allow_private},
    )


@transaction.atomic
def integration_update(
    *,
    integration: Integration,
    api_key: str | None = None,
    name: str | Unset = UNSET,
    service_url: str | Unset = UNSET,
    configuration: dict | Unset = UNSET,
    allow_private: bool | Unset = UNSET,
    periodic_sync: bool | Unset = UNSET,
    sync_interval_minutes: int | Unset = UNSET,
    actor: Actor = None,
) -> Integration:
    """Change what is given; a new `api_key` replaces the stored one (None keeps it)."""
    fields = given(
        name=name,
        service_url=service_url,
        configuration=configuration,
        allow_private=allow_private,
        periodic_sync=periodic_sync,
        sync_interval_minutes=sync_interval_minutes,
    )
    if "service_url" in fields:
        fields["service_url"] = _clean_url(fields["service_url"])
    was_private = integration.allow_private
    for field, value in fields.items():
        setattr(integration, field, value)
    if api_key is not None:
        integration.credentials = {**(integration.credentials or {}), "api_key": api_key}
    integration.name = integration.name or f"n8n at {integration.service_url}"
    _workflow_ids((integration.configuration or {}).get("workflow_ids"))
    integration.full_clean()
    integration.save()
    periodic_sync_apply(integration=integration)
    changed = sorted(fields) + (["api_key"] if api_key is not None else [])
    audit(
        actor=actor,
        organization=integration.organization,
        action="integration.update",
        target=integration,
        data={"fields": changed},
    )
    if integration.allow_private != was_private:
        _audit_allow_private(integration, actor)
    return integration


@transaction.atomic
def integration_choose_workflows(*, integration: Integration, workflow_ids: list, actor: Actor = None) -> Integration:
    """Keep these n8n workflows as the integration's configuration: the next sync (and the periodic one) takes
    them; an empty list means all of the instance's workflows."""
    ids = _workflow_ids(workflow_ids)
    configuration = {**(integration.configuration or {}), "workflow_ids": ids}
    return integration_update(integration=integration, configuration=configuration, actor=actor)


@transaction.atomic
def integration_delete(*, integration: Integration, actor: Actor = None) -> None:
    audit(
        actor=actor,
        organization=integration.organization,
        action="integration.delete",
        target=integration,
        data={"name": integration.name},
    )
    if integration.periodic_task_id:
        PeriodicTask.objects.filter(pk=integration.periodic_task_id).delete()
    integration.delete()


def periodic_sync_apply(*, integration: Integration) -> None:
    """Create, update or remove the integration's beat entry to match `periodic_sync`."""
    task = integration.periodic_task
    if not integration.periodic_sync:
        if task is not None:
            integration.periodic_task = None
            integration.save(update_fields=["periodic_task", "updated_at"])
            task.delete()
        return
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=integration.sync_interval_minutes, period=IntervalSchedule.MINUTES
    )
    values = {
        "interval": interval,
        "task": PERIODIC_TASK,
        "kwargs": json.dumps({"integration_id": str(integration.pk)}),
        "enabled": True,
    }
    if task is None:
        task = PeriodicTask.objects.create(name=f"integration-sync:{integration.pk}", **values)
        integration.periodic_task = task
        integration.save(update_fields=["periodic_task", "updated_at"])
    else:
        for key, value in values.items():
            setattr(task, key, value)
        task.save()


def integration_test(*, integration: Integration, actor: Actor = None) -> dict:
    """Call n8n once; the integration becomes active (or error) and the answer says why."""
    try:
        result = _client(integration).check()
        status, error = IntegrationStatus.ACTIVE, ""
    except N8nError as failure:
        result, status, error = {"ok": False, "error": str(failure)}, IntegrationStatus.ERROR, str(failure)
    Integration.objects.filter(pk=integration.pk).update(status=status, updated_at=timezone.now())
    integration.status = status
    audit(
        actor=actor,
        organization=integration.organization,
        action="integration.test",
        target=integration,
        data={"ok": status == IntegrationStatus.ACTIVE, "status": status},
    )
    return {**result, "status": status, "error": error}


def integration_workflows(*, integration: Integration) -> list[dict]:
    """The instance's workflows, each with the ConcertMaster workflow it is linked to (raises N8nError)."""
    links = {link.external_id: link for link in integration.links.all()}
    rows = []
    for workflow in _client(integration).list_workflows():
        link = links.get(str(workflow.get("id")))
        rows.append(
            {
                "id": str(workflow.get("id")),
                "name": workflow.get("name", ""),
                "active": bool(workflow.get("active")),
                "updated_at": workflow.get("updatedAt"),
                "version_id": workflow.get("versionId"),
                "node_count": len(workflow.get("nodes") or []),
                "linked_workflow": str(link.workflow_id) if link else None,
                "last_synced_version": link.external_version if link else None,
            }
        )
    return rows


@transaction.atomic
def integration_for_url(
    *,
    organization: Organization,
    n8n_url: str,
    api_key: str,
    created_by: User | None = None,
    actor: Actor = None,
) -> Integration:
    """The organization's n8n integration at this URL (created when new), with this API key."""
    url = _clean_url(n8n_url)
    integration = Integration.objects.filter(organization=organization, service=Service.N8N, service_url=url).first()
    if integration is None:
        return integration_create(
            organization=organization, service_url=url, api_key=api_key, created_by=created_by, actor=actor
        )
    return integration_update(integration=integration, api_key=api_key, actor=actor)


@transaction.atomic
def sync_job_create(
    *,
    integration: Integration,
    workflow_ids: list | None = None,
    force: bool = False,
    created_by: User | None = None,
    actor: Actor = None,
) -> SyncJob:
    """A sync job for these n8n workflows (None: the configured ones, or all when none are configured)."""
    if workflow_ids is None:
        workflow_ids = (integration.configuration or {}).get("workflow_ids") or []
    job = SyncJob(
        organization_id=integration.organization_id,
        integration=integration,
        workflow_ids=_workflow_ids(workflow_ids),
        force=force,
        created_by=created_by,
    )
    job.full_clean()
    job.save()
    audit(
        actor=actor,
        organization=integration.organization,
        action="integration.sync",
        target=integration,
        data={"job": str(job.pk), "workflow_ids": job.workflow_ids, "force": force},
    )
    return job


def sync_job_enqueue(*, job: SyncJob) -> None:
    from .tasks import integration_sync

    transaction.on_commit(lambda: integration_sync.delay(str(job.pk)))


def sync_job_run(*, job_id: str) -> SyncJob | None:
    """Run one sync job (the Celery task and the waiting endpoint both call this). A repeated delivery of a
    finished or running job does nothing."""
    claimed = SyncJob.objects.filter(pk=job_id, status=JobStatus.PENDING).update(
        status=JobStatus.RUNNING, updated_at=timezone.now()
    )
    job = SyncJob.objects.select_related("integration", "created_by").filter(pk=job_id).first()
    if not claimed or job is None:
        return job
    integration = job.integration
    try:
        result = _sync(integration=integration, wanted=job.workflow_ids, force=job.force, user=job.created_by)
        status = JobStatus.SUCCEEDED
    except N8nError as error:
        result = _result([], [str(error)])
        status = JobStatus.FAILED
    except Exception:  # a bug must still finish the job, so a poller does not wait forever
        logger.exception("n8n sync job %s failed", job_id)
        result = _result([], ["The sync failed unexpectedly; the server log has the details."])
        status = JobStatus.FAILED
    now = timezone.now()
    SyncJob.objects.filter(pk=job.pk).update(status=status, result=result, finished_at=now, updated_at=now)
    Integration.objects.filter(pk=integration.pk).update(
        last_sync_at=now,
        last_sync_result=result,
        status=IntegrationStatus.ACTIVE if status == JobStatus.SUCCEEDED else IntegrationStatus.ERROR,
        updated_at=now,
    )
    job.refresh_from_db()
    return job


def integration_sync_periodic(*, integration_id: str) -> None:
    integration = Integration.objects.filter(pk=integration_id, periodic_sync=True).first()
    if integration is None:
        return
    job = sync_job_create(integration=integration)
    sync_job_run(job_id=str(job.pk))


# --- the sync itself ------------------------------------------------------------------------------------------


def _result(workflows: list[dict], errors: list[str]) -> dict:
    counts = {outcome.value: 0 for outcome in SyncOutcome}
    for row in workflows:
        counts[row["outcome"]] += 1
    synced = counts[SyncOutcome.CREATED] + counts[SyncOutcome.UPDATED] + counts[SyncOutcome.UNCHANGED]
    return {
        "synced_count": synced,
        "errors": errors + [f"{row['name']} ({row['n8n_id']}): {row['error']}" for row in workflows if row["error"]],
        **counts,
        "workflows": workflows,
    }


def _version(workflow: dict) -> str:
    return str(workflow.get("versionId") or workflow.get("updatedAt") or "")


def _order(workflows: list[dict]) -> list[dict]:
    """Sub-workflows (started by Execute Workflow Trigger) first, so their callers can name them."""

    def is_sub(workflow: dict) -> bool:
        return any(
            node.get("type") == "n8n-nodes-base.executeWorkflowTrigger"
            for node in workflow.get("nodes") or []
            if isinstance(node, dict)
        )

    return sorted(workflows, key=lambda w: 0 if is_sub(w) else 1)


def _sync(*, integration: Integration, wanted: list[str], force: bool, user) -> dict:
    client = _client(integration)
    listed = client.list_workflows()
    by_id = {str(w.get("id")): w for w in listed}
    errors = [NOT_ON_INSTANCE.format(id=i) for i in wanted if i not in by_id]
    chosen = [by_id[i] for i in wanted if i in by_id] if wanted else listed
    chosen = [w if "nodes" in w else client.get_workflow(str(w.get("id"))) for w in chosen]
    links = {link.external_id: link for link in integration.links.select_related("workflow")}
    workflow_ids = {external: str(link.workflow_id) for external, link in links.items()}
    available = {cls.type_name for cls in registry.all()}
    rows = []
    for workflow in _order(chosen):
        row = _sync_one(
            integration=integration,
            workflow=workflow,
            link=links.get(str(workflow.get("id"))),
            force=force,
            user=user,
            available=available,
            workflow_ids=workflow_ids,
        )
        if row.get("workflow_id"):
            workflow_ids[row["n8n_id"]] = row["workflow_id"]
        rows.append(row)
    return _result(rows, errors)


def _sync_one(*, integration, workflow: dict, link, force: bool, user, available, workflow_ids) -> dict:
    n8n_id, version = str(workflow.get("id")), _version(workflow)
    row = {"n8n_id": n8n_id, "name": workflow.get("name", ""), "workflow_id": None, "error": "", "report": None}
    if link is not None:
        row["workflow_id"] = str(link.workflow_id)
        if link.external_version == version and not force:
            return {**row, "outcome": SyncOutcome.UNCHANGED.value, "report": link.report}
    translation = translate_workflow(workflow, available_types=available, workflow_ids=workflow_ids)
    row["report"] = translation.as_dict()
    if translation.refused:
        return {**row, "outcome": SyncOutcome.FAILED.value, "error": " ".join(translation.reasons)}
    try:
        with transaction.atomic():
            return _apply(integration, workflow, link, translation, version, force, user, row)
    except ValidationError as error:
        return {**row, "outcome": SyncOutcome.FAILED.value, "error": "; ".join(error.messages)}


def _apply(integration, workflow, link, translation, version, force, user, row) -> dict:
    now = timezone.now()
    if link is None:
        created = workflow_create(
            organization=integration.organization,
            name=translation.name,
            description=f"Imported from n8n ({integration.service_url}, workflow {row['n8n_id']}).",
            definition=translation.definition,
            created_by=user,
        )
        WorkflowLink.objects.create(
            organization_id=integration.organization_id,
            integration=integration,
            workflow=created,
            external_id=row["n8n_id"],
            external_name=translation.name,
            external_version=version,
            synced_revision=created.revision,
            synced_at=now,
            report=row["report"],
        )
        return {**row, "workflow_id": str(created.pk), "outcome": SyncOutcome.CREATED.value}
    current = Workflow.objects.select_for_update().get(pk=link.workflow_id)
    if current.revision != link.synced_revision and not force:
        message = CONFLICT.format(current=current.revision, synced=link.synced_revision)
        return {**row, "outcome": SyncOutcome.CONFLICT.value, "error": message}
    updated = workflow_update(workflow=current, user=user, definition=translation.definition)
    WorkflowLink.objects.filter(pk=link.pk).update(
        external_name=translation.name,
        external_version=version,
        synced_revision=updated.revision,
        synced_at=now,
        report=row["report"],
        updated_at=now,
    )
    return {**row, "outcome": SyncOutcome.UPDATED.value}
