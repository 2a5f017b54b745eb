"""The live execution page: the pinned version's graph, read-only, coloured from the WebSocket.

Kept apart from views.py, which holds the public webhook and form endpoints.
"""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from apps.orgs.selectors import access_for_user
from apps.workflows.selectors import workflow_permissions
from apps.workflows.views import admin_change_url, editor_config

from .selectors import execution_get


@login_required
def execution_page(request: HttpRequest, pk) -> HttpResponse:
    access = access_for_user(user=request.user)
    execution = execution_get(access=access, pk=pk)
    if execution is None:
        raise Http404("No such execution.")
    workflow = execution.workflow
    permissions = workflow_permissions(access=access, workflow=workflow)
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
    path("executions/<uuid:pk>/", execution_page, name="execution-page"),
]
