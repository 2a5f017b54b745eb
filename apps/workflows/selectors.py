"""Reads for workflows, versions, triggers, credentials and form submissions, scoped to the caller's Access.

A workflow is visible to members of its organization and to users it was shared with through guardian
object permissions (view, change, execute); everything else of another organization does not exist.
"""

from django.db.models import Case, JSONField, Max, OuterRef, Q, QuerySet, Subquery, When
from guardian.shortcuts import get_objects_for_user

from apps.orgs.choices import MANAGER_ROLES, Role
from apps.orgs.selectors import Access

from .choices import TriggerKind
from .models import (
    Credential,
    FormSubmission,
    Trigger,
    Workflow,
    WorkflowGroupObjectPermission,
    WorkflowUserObjectPermission,
    WorkflowVersion,
)

#: Guardian codenames on a workflow and the API permission each grants.
SHARED_PERMISSIONS = {"view_workflow": "view", "change_workflow": "change", "execute_workflow": "execute"}
_ROLE_WORKFLOW_PERMISSIONS = {
    Role.VIEWER: frozenset({"view"}),
    Role.MEMBER: frozenset({"view", "change", "execute"}),
    Role.ADMIN: frozenset({"view", "change", "execute", "delete", "manage"}),
    Role.OWNER: frozenset({"view", "change", "execute", "delete", "manage"}),
}


def shared_workflow_ids(*, access: Access) -> QuerySet:
    """Ids of the workflows shared with the caller's user through guardian (none for API keys)."""
    if access.user is None:
        return Workflow.objects.none().values("id")
    shared = get_objects_for_user(
        access.user, list(SHARED_PERMISSIONS), klass=Workflow, any_perm=True, accept_global_perms=False
    )
    return shared.values("id")


def workflow_list(*, access: Access, filters: dict | None = None) -> QuerySet[Workflow]:
    workflows = Workflow.objects.filter(
        Q(organization_id__in=access.organization_ids()) | Q(id__in=shared_workflow_ids(access=access))
    )
    return workflows.filter(**(filters or {})).annotate(latest_version_number=Max("versions__number"))


def workflow_get(*, access: Access, pk) -> Workflow | None:
    return workflow_list(access=access).filter(pk=pk).first()


def shared_workflow_permissions(*, access: Access) -> dict:
    """Workflow id -> API permissions shared with the caller's user directly or through a group (two queries)."""
    if access.user is None:
        return {}
    shared: dict = {}
    direct = WorkflowUserObjectPermission.objects.filter(user=access.user)
    grouped = WorkflowGroupObjectPermission.objects.filter(group__in=access.user.groups.all())
    for rows in (direct, grouped):
        for workflow_id, codename in rows.values_list("content_object_id", "permission__codename"):
            if codename in SHARED_PERMISSIONS:
                shared.setdefault(workflow_id, set()).add(SHARED_PERMISSIONS[codename])
    return shared


def workflow_permissions(*, access: Access, workflow: Workflow, shared: dict | None = None) -> frozenset[str]:
    """What the caller may do with `workflow`: their role's rights plus what was shared with them.

    Pass `shared` (from shared_workflow_permissions) when checking many workflows, to query once.
    """
    granted = set(_ROLE_WORKFLOW_PERMISSIONS.get(access.role(workflow.organization_id), frozenset()))  # type: ignore[call-overload]  # no role (None) has none
    if shared is None:
        shared = shared_workflow_permissions(access=access) if access.user is not None else {}
    return frozenset(granted | shared.get(workflow.pk, set()))


def workflow_policy(access: Access, workflow: Workflow, memo: dict | None) -> frozenset[str]:
    """The policy's provider for workflows (registered in `WorkflowsConfig.ready`); `memo` keeps the shares."""
    if memo is None:
        return workflow_permissions(access=access, workflow=workflow)
    if "workflow_shares" not in memo:
        memo["workflow_shares"] = shared_workflow_permissions(access=access)
    return workflow_permissions(access=access, workflow=workflow, shared=memo["workflow_shares"])


def workflow_version_policy(access: Access, version: WorkflowVersion, memo: dict | None) -> frozenset[str]:
    """A version may be used as its workflow may."""
    return workflow_policy(access, version.workflow, memo)


def workflow_version_list(*, access: Access, workflow: Workflow) -> QuerySet[WorkflowVersion]:
    return WorkflowVersion.objects.filter(workflow__in=workflow_list(access=access), workflow=workflow)


def trigger_list(*, access: Access) -> QuerySet[Trigger]:
    return triggers_with_running_definition(
        Trigger.objects.filter(organization_id__in=access.organization_ids()).select_related("workflow")
    )


def triggers_with_running_definition(triggers: QuerySet[Trigger]) -> QuerySet[Trigger]:
    """Schedule triggers carry their workflow's latest version definition (`running_definition`): where their
    cron is declared is read from it, without a query per row."""
    latest = WorkflowVersion.objects.filter(workflow_id=OuterRef("workflow_id")).order_by("-number")
    running = Case(
        When(kind=TriggerKind.SCHEDULE, then=Subquery(latest.values("definition")[:1])),
        default=None,
        output_field=JSONField(),
    )
    return triggers.annotate(running_definition=running)


def credential_list(*, access: Access) -> QuerySet[Credential]:
    return Credential.objects.filter(organization_id__in=access.organization_ids())


def form_submission_list(*, access: Access) -> QuerySet[FormSubmission]:
    return FormSubmission.objects.filter(organization_id__in=access.organization_ids(MANAGER_ROLES | {Role.MEMBER}))


def trigger_by_token(*, token: str, kind: str, active_only: bool = True) -> Trigger | None:
    """The trigger behind a public URL token (webhook or form); only a switched-on one unless `active_only=False`."""
    triggers = Trigger.objects.select_related("workflow", "organization").filter(webhook_token=token, kind=kind)
    return (triggers.filter(is_active=True) if active_only else triggers).first()


def trigger_by_path(*, organization_slug: str, url_path: str) -> Trigger | None:
    """The switched-on webhook trigger answering at `/hooks/<organization slug>/<url_path>`."""
    path = url_path.strip("/").lower()
    triggers = Trigger.objects.select_related("workflow", "organization").filter(
        organization__slug=organization_slug, kind=TriggerKind.WEBHOOK, is_active=True, config__url_path=path
    )
    return triggers.first()


def workflow_shares(*, workflow: Workflow) -> list[dict]:
    """Users the workflow is shared with directly, and with which API permissions: [{"user", "permissions"}]."""
    shares: dict = {}
    rows = WorkflowUserObjectPermission.objects.filter(content_object=workflow).select_related("user", "permission")
    for row in rows.order_by("user__username"):
        if row.permission.codename in SHARED_PERMISSIONS:
            shares.setdefault(row.user, set()).add(SHARED_PERMISSIONS[row.permission.codename])
    return [{"user": user, "permissions": sorted(perms)} for user, perms in shares.items()]
