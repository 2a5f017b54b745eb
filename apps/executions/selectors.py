"""Every read of executions, scoped to the caller's Access: the lists and details the API and pages show, the
webhook inbox, the event log after a sequence number, and what the live streams (`consumers.py`) read: who may
watch what, the snapshot, the events to replay.

An execution is visible exactly when its workflow is: to members of its organization and to users the workflow
was shared with (guardian). A stream is one execution, every execution of a workflow, or every execution of an
organization; watching needs the "view" permission. Anything the caller cannot see does not exist
(ObjectDoesNotExist), and something visible without the view permission is refused (PermissionDenied).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Prefetch, Q, QuerySet

from apps.orgs import policy
from apps.orgs.choices import MANAGER_ROLES, Role
from apps.orgs.selectors import Access
from apps.workflows.selectors import shared_workflow_ids, workflow_get, workflow_policy

from .choices import EXECUTION_ACTIVE
from .events import event_payload, execution_group, organization_group, workflow_group
from .models import ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution


def _visible(access: Access) -> Q:
    return Q(organization_id__in=access.organization_ids()) | Q(workflow_id__in=shared_workflow_ids(access=access))


def execution_list(*, access: Access, filters: dict[str, Any] | None = None) -> QuerySet[WorkflowExecution]:
    """Executions the caller can see, newest first; `filters` are queryset lookups (status, workflow, ...)."""
    return WorkflowExecution.objects.filter(_visible(access)).filter(**(filters or {})).select_related("workflow")


def execution_detail_list(*, access: Access) -> QuerySet[WorkflowExecution]:
    """Executions the caller can see, each with its node executions in order (the API's detail)."""
    nodes = NodeExecution.objects.order_by("created_at", "node_id")
    return execution_list(access=access).prefetch_related(Prefetch("node_executions", queryset=nodes))


def execution_get(*, access: Access, pk: Any) -> WorkflowExecution | None:
    return execution_list(access=access).filter(pk=pk).first()


def execution_events_after(*, execution: WorkflowExecution, seq: int, limit: int = 1000) -> QuerySet[ExecutionEvent]:
    """The events after `seq`, in order: what a client missed while disconnected."""
    return ExecutionEvent.objects.filter(execution=execution, seq__gt=seq).order_by("seq")[:limit]


def execution_policy(access: Access, execution: WorkflowExecution, memo: dict | None) -> frozenset[str]:
    """The policy's provider for executions (registered in `ExecutionsConfig.ready`): as their workflow."""
    return workflow_policy(access, execution.workflow, memo)


def webhook_delivery_policy(access: Access, delivery: WebhookDelivery, memo: dict | None) -> frozenset[str]:
    """A webhook delivery may be used (replayed) as its trigger's workflow may."""
    return workflow_policy(access, delivery.trigger.workflow, memo)


def webhook_delivery_list(*, access: Access) -> QuerySet[WebhookDelivery]:
    """The webhook inbox of the caller's organizations, for members and above (like form submissions: bodies may
    hold personal data)."""
    roles = MANAGER_ROLES | {Role.MEMBER}
    return WebhookDelivery.objects.filter(organization_id__in=access.organization_ids(roles)).select_related(
        "trigger__workflow"
    )


# --- the live streams ----------------------------------------------------------------------------------------

EXECUTION = "execution"
WORKFLOW = "workflow"
ORGANIZATION = "org"
STREAM_KINDS = (EXECUTION, WORKFLOW, ORGANIZATION)
#: At most this many active executions are listed in the snapshot of a workflow or organization stream.
SNAPSHOT_EXECUTIONS_LIMIT = 200

NOT_FOUND = "No such {kind} stream, or not visible to you."
NO_VIEW_PERMISSION = "You may not watch this {kind}."


@dataclass(frozen=True)
class Stream:
    """What a connection watches: the kind, the id, the channel group carrying its events."""

    kind: str
    pk: str
    organization_id: str
    workflow_id: str | None
    group: str


def _uuid(value: str, kind: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ObjectDoesNotExist(NOT_FOUND.format(kind=kind)) from None


def _workflow_stream(*, access: Access, kind: str, workflow_id, pk: str, group: str) -> Stream:
    workflow = workflow_get(access=access, pk=workflow_id)
    if workflow is None:
        raise ObjectDoesNotExist(NOT_FOUND.format(kind=kind))
    if not policy.can(access, policy.VIEW, workflow):
        raise PermissionDenied(NO_VIEW_PERMISSION.format(kind=kind))
    return Stream(kind, pk, str(workflow.organization_id), str(workflow.pk), group)


def stream_get(*, access: Access, kind: str, pk: str) -> Stream:
    """The stream `kind`/`pk` if the caller may watch it; raises ObjectDoesNotExist or PermissionDenied."""
    key = _uuid(pk, kind)
    if kind == EXECUTION:
        workflow_id = WorkflowExecution.objects.filter(pk=key).values_list("workflow_id", flat=True).first()
        if workflow_id is None:
            raise ObjectDoesNotExist(NOT_FOUND.format(kind=kind))
        return _workflow_stream(
            access=access, kind=kind, workflow_id=workflow_id, pk=str(key), group=execution_group(key)
        )
    if kind == WORKFLOW:
        return _workflow_stream(access=access, kind=kind, workflow_id=key, pk=str(key), group=workflow_group(key))
    if kind == ORGANIZATION:
        if key not in access.organization_ids():
            raise ObjectDoesNotExist(NOT_FOUND.format(kind=kind))
        if not policy.can(access, policy.VIEW, key):
            raise PermissionDenied(NO_VIEW_PERMISSION.format(kind=kind))
        return Stream(kind, str(key), str(key), None, organization_group(key))
    raise ValueError(f"Unknown stream kind {kind!r}; expected one of {STREAM_KINDS}.")


def execution_snapshot(*, execution_id) -> dict:
    """The execution's status, each node's status and the last event's seq.

    The seq is read first: the statuses are at least as new as it, so applying the events after it
    can only bring the client forward.
    """
    execution = WorkflowExecution.objects.values("id", "workflow_id", "status", "last_seq").get(pk=execution_id)
    nodes = dict(NodeExecution.objects.filter(execution_id=execution_id).values_list("node_id", "status"))
    return {
        "execution_id": str(execution["id"]),
        "workflow_id": str(execution["workflow_id"]),
        "status": execution["status"],
        "seq": execution["last_seq"],
        "nodes": nodes,
    }


def active_execution_snapshots(*, stream: Stream) -> list[dict]:
    """Status and last seq of the stream's running, pending and paused executions (oldest first)."""
    executions = WorkflowExecution.objects.filter(status__in=EXECUTION_ACTIVE)
    if stream.kind == WORKFLOW:
        executions = executions.filter(workflow_id=stream.pk)
    else:
        executions = executions.filter(organization_id=stream.organization_id)
    rows = executions.order_by("created_at").values("id", "workflow_id", "status", "last_seq")
    return [
        {
            "execution_id": str(row["id"]),
            "workflow_id": str(row["workflow_id"]),
            "status": row["status"],
            "seq": row["last_seq"],
        }
        for row in rows[:SNAPSHOT_EXECUTIONS_LIMIT]
    ]


def execution_last_seq(*, execution_id) -> int:
    return WorkflowExecution.objects.filter(pk=execution_id).values_list("last_seq", flat=True).first() or 0


def executions_behind(*, stream: Stream, last_seqs: dict[str, int], created_since: datetime) -> list[str]:
    """Executions of a workflow or organization stream with events stored beyond what the stream sent.

    Those are the executions in `last_seqs` (id -> the last seq sent; the stream's unfinished ones) and those
    created since `created_since` (which the stream may never have heard of), whose stored last seq is higher.
    """
    executions = WorkflowExecution.objects.filter(Q(pk__in=list(last_seqs)) | Q(created_at__gte=created_since))
    if stream.kind == WORKFLOW:
        executions = executions.filter(workflow_id=stream.pk)
    else:
        executions = executions.filter(organization_id=stream.organization_id)
    stored = executions.filter(last_seq__gt=0).values_list("id", "last_seq")
    return [str(pk) for pk, last_seq in stored if last_seq > last_seqs.get(str(pk), 0)]


def executions_event_payloads(*, after: dict[str, int], limit: int = 5_000) -> list[dict]:
    """Live-shaped payloads of several executions' events after a seq each (`after`: id -> seq), in one query,
    ordered by execution and seq."""
    if not after:
        return []
    workflow_ids = dict(WorkflowExecution.objects.filter(pk__in=list(after)).values_list("id", "workflow_id"))
    condition = Q()
    for execution_id, seq in after.items():
        condition |= Q(execution_id=execution_id, seq__gt=seq)
    events = ExecutionEvent.objects.filter(condition).order_by("execution_id", "seq")[:limit]
    return [event_payload(event, workflow_id=workflow_ids[event.execution_id]) for event in events]


def execution_event_payloads(
    *, execution_id, after: int, before: int | None = None, limit: int = 500, created_since: datetime | None = None
) -> list[dict]:
    """Live-shaped payloads of the execution's events with after < seq (< before), in seq order."""
    workflow_id = WorkflowExecution.objects.filter(pk=execution_id).values_list("workflow_id", flat=True).first()
    if workflow_id is None:
        return []
    events = ExecutionEvent.objects.filter(execution_id=execution_id, seq__gt=after)
    if before is not None:
        events = events.filter(seq__lt=before)
    if created_since is not None:
        events = events.filter(created_at__gte=created_since)
    return [event_payload(event, workflow_id=workflow_id) for event in events.order_by("seq")[:limit]]
