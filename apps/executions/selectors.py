"""Reads for executions, scoped to the caller's Access: lists with filters, failures to look into, approvals
waiting for someone, and the event log after a sequence number.

An execution is visible exactly when its workflow is: to members of its organization and to users the
workflow was shared with.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from apps.orgs.selectors import Access
from apps.workflows.selectors import shared_workflow_ids, workflow_policy

from .choices import NodeStatus
from .engine.runtime import SUSPEND_APPROVAL
from .models import ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution


def _visible(access: Access) -> Q:
    return Q(organization_id__in=access.organization_ids()) | Q(workflow_id__in=shared_workflow_ids(access=access))


def execution_list(*, access: Access, filters: dict[str, Any] | None = None) -> QuerySet[WorkflowExecution]:
    """Executions the caller can see, newest first; `filters` are queryset lookups (status, workflow, ...)."""
    return WorkflowExecution.objects.filter(_visible(access)).filter(**(filters or {})).select_related("workflow")


def execution_get(*, access: Access, pk: Any) -> WorkflowExecution | None:
    return execution_list(access=access).filter(pk=pk).first()


def execution_failed_list(*, access: Access) -> QuerySet[WorkflowExecution]:
    """Failed executions: candidates for `execution_retry_failed`."""
    return execution_list(access=access, filters={"status": "failed"})


def execution_children(*, execution: WorkflowExecution) -> QuerySet[WorkflowExecution]:
    """The child executions a foreach or sub_workflow node of `execution` started, in start order."""
    return execution.children.order_by("created_at", "id")


def node_execution_list(*, execution: WorkflowExecution) -> QuerySet[NodeExecution]:
    return NodeExecution.objects.filter(execution=execution).order_by("created_at", "node_id")


def node_execution_failed_list(*, access: Access, node_type: str | None = None) -> QuerySet[NodeExecution]:
    """Failed nodes across the caller's executions, newest first, optionally of one node type."""
    visible = execution_list(access=access).values("pk")
    nodes = NodeExecution.objects.filter(status=NodeStatus.FAILED, execution_id__in=visible)
    if node_type:
        nodes = nodes.filter(node_type=node_type)
    return nodes.select_related("execution", "execution__workflow").order_by("-finished_at")


def node_execution_awaiting_approval_list(*, access: Access) -> QuerySet[NodeExecution]:
    """wait_for_approval nodes waiting for a decision, oldest first."""
    visible = execution_list(access=access).values("pk")
    return (
        NodeExecution.objects.filter(
            status=NodeStatus.WAITING, state__suspend__kind=SUSPEND_APPROVAL, execution_id__in=visible
        )
        .select_related("execution", "execution__workflow")
        .order_by("updated_at")
    )


def execution_events_after(*, execution: WorkflowExecution, seq: int, limit: int = 1000) -> QuerySet[ExecutionEvent]:
    """The events after `seq`, in order: what a client missed while disconnected."""
    return ExecutionEvent.objects.filter(execution=execution, seq__gt=seq).order_by("seq")[:limit]


def execution_policy(access: Access, execution: WorkflowExecution, memo: dict | None) -> frozenset[str]:
    """The policy's provider for executions (registered in `ExecutionsConfig.ready`): as their workflow."""
    return workflow_policy(access, execution.workflow, memo)


def webhook_delivery_policy(access: Access, delivery: WebhookDelivery, memo: dict | None) -> frozenset[str]:
    """A webhook delivery may be used (replayed) as its trigger's workflow may."""
    return workflow_policy(access, delivery.trigger.workflow, memo)
