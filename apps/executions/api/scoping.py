"""Access-scoped reads of executions for the API (API keys have no user, so these take an Access).

An execution is visible exactly when its workflow is: to members of the organization, and to users the
workflow was shared with through guardian.
"""

from django.db.models import Prefetch, Q, QuerySet

from apps.orgs.choices import MANAGER_ROLES, Role
from apps.orgs.selectors import Access
from apps.workflows.selectors import shared_workflow_ids

from ..models import ExecutionEvent, NodeExecution, WebhookDelivery, WorkflowExecution


def execution_list(*, access: Access) -> QuerySet[WorkflowExecution]:
    return WorkflowExecution.objects.filter(
        Q(organization_id__in=access.organization_ids()) | Q(workflow_id__in=shared_workflow_ids(access=access))
    ).select_related("workflow")


def execution_detail_list(*, access: Access) -> QuerySet[WorkflowExecution]:
    nodes = NodeExecution.objects.order_by("created_at", "node_id")
    return execution_list(access=access).prefetch_related(Prefetch("node_executions", queryset=nodes))


def execution_events(*, execution: WorkflowExecution, since: int, limit: int) -> QuerySet[ExecutionEvent]:
    return ExecutionEvent.objects.filter(execution=execution, seq__gt=since).order_by("seq")[:limit]


def webhook_delivery_list(*, access: Access) -> QuerySet[WebhookDelivery]:
    """The webhook inbox of the caller's organizations, for members and above (like form submissions: bodies may
    hold personal data)."""
    roles = MANAGER_ROLES | {Role.MEMBER}
    return WebhookDelivery.objects.filter(organization_id__in=access.organization_ids(roles)).select_related(
        "trigger__workflow"
    )
