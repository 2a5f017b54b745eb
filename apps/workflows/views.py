"""Editor pages: the workflow editor and the new-workflow form. The editing itself goes through the API."""

import copy
from typing import cast

from django import forms
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from apps.orgs import policy
from apps.orgs.choices import WRITER_ROLES
from apps.orgs.models import Organization
from apps.orgs.selectors import access_for_user

from .models import Workflow
from .selectors import workflow_get
from .services import workflow_create

NO_WRITABLE_ORGANIZATION = "You are not a member (or higher) of any organization, so you cannot create workflows."
#: A new workflow starts with a manual trigger (a workflow needs one to be valid); the palette adds the rest.
STARTER_DEFINITION = {
    "nodes": [{"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}}],
    "edges": [],
    "variables": {},
}
#: Placeholder the frontend fills with an object's id (`{id}` cannot pass through `reverse`).
_ID = "00000000-0000-0000-0000-000000000000"


def _template(url_name: str) -> str:
    return reverse(url_name, kwargs={"pk": _ID}).replace(_ID, "{id}")


def admin_change_url(name: str, pk) -> str | None:
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return None


def editor_config(
    request: HttpRequest,
    *,
    page: str,
    can_edit: bool,
    can_execute: bool,
    workflow: dict | None = None,
    execution: dict | None = None,
    admin_workflow: str | None = None,
) -> dict:
    """What the editor bundle reads from `#editor-config`: who is here, what to show, and where the API is."""
    api = "/api/v1/"
    return {
        "page": page,
        "csrf_token": get_token(request),
        "user": {"username": request.user.get_username(), "can_edit": can_edit, "can_execute": can_execute},
        "workflow": workflow,
        "execution": execution,
        "urls": {
            "node_types": f"{api}node-types/",
            "workflow": f"{api}workflows/{{id}}/",
            "execution": f"{api}executions/{{id}}/",
            "triggers": f"{api}triggers/",
            "import": f"{api}workflows/import/",
            "ws_execution": "/ws/executions/{id}/",
            "editor_page": _template("workflow-edit"),
            "execution_page": _template("execution-page"),
            # The admin refuses members without staff status: link it for staff only.
            "admin_workflow": admin_workflow if request.user.is_staff else None,
            "home": reverse("home"),
        },
    }


@login_required
def workflow_edit(request: HttpRequest, pk) -> HttpResponse:
    access = access_for_user(user=request.user)
    workflow = workflow_get(access=access, pk=pk)
    if workflow is None:
        raise Http404("No such workflow.")
    permissions = policy.permissions(access, workflow)
    config = editor_config(
        request,
        page="editor",
        can_edit="change" in permissions,
        can_execute="execute" in permissions,
        workflow={
            "id": str(workflow.pk),
            "name": workflow.name,
            "status": workflow.status,
            "definition": workflow.definition or {"nodes": [], "edges": []},
            "version": workflow.versions.order_by("-number").values_list("number", flat=True).first(),
            "revision": workflow.revision,
            "organization": str(workflow.organization_id),
        },
        admin_workflow=admin_change_url("admin:workflows_workflow_change", workflow.pk),
    )
    return render(request, "editor/editor.html", {"config": config, "title": workflow.name})


class NewWorkflowForm(forms.Form):
    organization = forms.ModelChoiceField(queryset=Organization.objects.none(), empty_label=None)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, organizations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organization"].queryset = organizations
        if organizations.count() == 1:
            self.fields["organization"].widget = forms.HiddenInput()
            self.fields["organization"].initial = organizations.first()


@login_required
def workflow_new(request: HttpRequest) -> HttpResponse:
    access = access_for_user(user=request.user)
    organizations = Organization.objects.filter(id__in=access.organization_ids(WRITER_ROLES)).order_by("name")
    if not organizations.exists():
        return render(request, "editor/new.html", {"form": None, "problem": NO_WRITABLE_ORGANIZATION}, status=403)
    form = NewWorkflowForm(request.POST or None, organizations=organizations)
    if request.method == "POST" and form.is_valid():
        workflow: Workflow = workflow_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            definition=copy.deepcopy(STARTER_DEFINITION),
            created_by=cast(User, request.user),  # login_required
        )
        return redirect("workflow-edit", pk=workflow.pk)
    return render(request, "editor/new.html", {"form": form})
