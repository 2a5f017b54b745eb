"""Pages for signed-in members: the home page (their workflows and recent executions) and the live execution
page (the pinned version's graph, read-only, coloured from the WebSocket).

Kept apart from views.py, which holds the public webhook and form endpoints. The home page lives here, in the
top app, because it shows both workflows and executions.
"""

from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from apps.orgs import policy
from apps.orgs.choices import WRITER_ROLES
from apps.orgs.models import Organization
from apps.orgs.selectors import access_for_user
from apps.workflows.selectors import workflow_list
from apps.workflows.views import admin_change_url, editor_config

from .analytics import analytics_page
from .selectors import execution_get, execution_list

#: How many workflows and executions the home page lists (newest first); the API and admin list the rest.
HOME_WORKFLOW_LIMIT = 50
HOME_EXECUTION_LIMIT = 20
MORE_WORKFLOWS = "Showing the {limit} most recently changed workflows; the API and the admin list them all."
NO_ORGANIZATION = (
    "You are not a member of any organization yet, and no workflow is shared with you. "
    "Ask an organization's owner or admin to add you."
)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in member's start page: their organizations' workflows (and those shared with them)."""
    access = access_for_user(user=request.user)
    workflows = list(
        workflow_list(access=access)
        .select_related("organization")
        .defer("definition")
        .order_by("-updated_at", "id")[: HOME_WORKFLOW_LIMIT + 1]
    )
    executions = (
        execution_list(access=access)
        .annotate(version_number=F("version__number"))
        .defer("trigger_data", "context", "output", "error", "workflow__definition")
        .order_by("-created_at", "-id")[:HOME_EXECUTION_LIMIT]
    )
    organizations = Organization.objects.filter(id__in=access.organization_ids()).order_by("name")
    context = {
        "title": "Home",
        "organizations": [
            {"name": organization.name, "role": access.role(organization.pk)} for organization in organizations
        ],
        "workflows": workflows[:HOME_WORKFLOW_LIMIT],
        "more_workflows": MORE_WORKFLOWS.format(limit=HOME_WORKFLOW_LIMIT)
        if len(workflows) > HOME_WORKFLOW_LIMIT
        else "",
        "executions": executions,
        "can_create": bool(access.organization_ids(WRITER_ROLES)),
        "no_organization": NO_ORGANIZATION,
    }
    return render(request, "site/home.html", context)


@login_required
def execution_page(request: HttpRequest, pk) -> HttpResponse:
    access = access_for_user(user=request.user)
    execution = execution_get(access=access, pk=pk)
    if execution is None:
        raise Http404("No such execution.")
    workflow = execution.workflow
    permissions = policy.permissions(access, workflow)
    config = editor_config(
        request,
        page="execution",
        can_edit=False,
        can_execute="execute" in permissions,
        execution={
            "id": str(execution.pk),
            "status": execution.status,
            "workflow_id": str(workflow.pk),
            "workflow_name": workflow.name,
            "version": execution.version.number,
            "definition": execution.version.definition,
        },
        admin_workflow=admin_change_url("admin:workflows_workflow_change", workflow.pk),
    )
    return render(request, "editor/execution.html", {"config": config, "title": f"{workflow.name}: execution"})


urlpatterns = [
    path("", home, name="home"),
    path("executions/<uuid:pk>/", execution_page, name="execution-page"),
    path("analytics", analytics_page, name="analytics"),
]
