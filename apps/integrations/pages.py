"""The members' integrations hub at `/integrations`: connect an n8n instance, test it, choose workflows, sync,
and read the last sync's report. Server-rendered like the home page; every write goes through services."""

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path

from apps.orgs import policy
from apps.orgs.models import Organization
from apps.orgs.selectors import access_for_user

from . import selectors, services
from .client import N8nError
from .models import SyncJob

CONNECTED = "Connected {name}. Test the connection, then choose workflows to sync."
SYNCED = (
    "Sync finished: {synced} in sync ({created} created, {updated} updated, {unchanged} unchanged), {failed} failed."
)
NO_ROLE = "Your role in this organization does not allow this."
CHOSEN = "{name}: the next sync (and the periodic one) takes {what}."


def _integration(access, pk):
    integration = selectors.integration_get(access=access, pk=pk)
    if integration is None:
        raise Http404("No such integration.")
    return integration


@login_required
def hub(request: HttpRequest) -> HttpResponse:
    access = access_for_user(user=request.user)
    if request.method == "POST":
        return _post(request, access)
    integrations = list(selectors.integration_list(access=access).order_by("name"))
    choose = request.GET.get("choose")
    chosen_ids: list[str]
    remote, remote_error, chosen_ids = None, "", []
    if choose:
        chosen = _integration(access, choose)
        chosen_ids = (chosen.configuration or {}).get("workflow_ids") or []
        try:
            remote = services.integration_workflows(integration=chosen)
        except N8nError as error:
            remote_error = str(error)
    organizations = Organization.objects.filter(id__in=access.organization_ids(policy.roles_allowed(policy.CREATE)))
    context = {
        "title": "Integrations",
        "integrations": integrations,
        "organizations": organizations.order_by("name"),
        "choose": choose,
        "remote": remote,
        "remote_error": remote_error,
        "chosen_ids": chosen_ids,
    }
    return render(request, "integrations/hub.html", context)


def _post(request: HttpRequest, access) -> HttpResponse:
    verb = request.POST.get("action", "")
    user = cast(User, request.user)  # login_required
    try:
        if verb == "connect":
            organization = Organization.objects.filter(
                pk=request.POST.get("organization"),
                id__in=access.organization_ids(),  # type: ignore[misc]
            ).first()
            if organization is None or not policy.can(access, policy.CREATE, organization):
                raise ValidationError(NO_ROLE)
            integration = services.integration_create(
                organization=organization,
                service_url=request.POST.get("service_url", ""),
                api_key=request.POST.get("api_key", ""),
                name=request.POST.get("name", ""),
                created_by=user,
                actor=user,
            )
            messages.success(request, CONNECTED.format(name=integration.name))
            return redirect("integrations-hub")
        integration = _integration(access, request.POST.get("integration"))
        if not policy.can(access, policy.CHANGE, integration.organization):
            raise ValidationError(NO_ROLE)
        if verb == "test":
            result = services.integration_test(integration=integration, actor=user)
            if result["ok"]:
                messages.success(request, f"{integration.name}: connection works.")
            else:
                messages.error(request, f"{integration.name}: {result['error']}")
        elif verb == "choose" or (verb == "sync" and request.POST.get("save") == "1"):
            # The choose form: its checked workflows become the configuration (none checked: all of them).
            integration = services.integration_choose_workflows(
                integration=integration, workflow_ids=request.POST.getlist("workflow_ids"), actor=user
            )
            ids = integration.configuration["workflow_ids"]
            what = f"{len(ids)} chosen workflow(s)" if ids else "all of the instance's workflows"
            messages.success(request, CHOSEN.format(name=integration.name, what=what))
        if verb == "sync":
            saved = request.POST.get("save") == "1"
            job = services.sync_job_create(
                integration=integration,
                # the configured ones (just saved when the choose form sent them), else the ids posted
                workflow_ids=None if saved else (request.POST.getlist("workflow_ids") or None),
                force=request.POST.get("force") == "1",
                created_by=user,
                actor=user,
            )
            job = cast(SyncJob, services.sync_job_run(job_id=str(job.pk)))  # created just above
            result = job.result or {}
            messages.info(
                request,
                SYNCED.format(
                    **{k: result.get(k, 0) for k in ("created", "updated", "unchanged", "failed")},
                    synced=result.get("synced_count", 0),
                ),
            )
            for error in result.get("errors", [])[:20]:
                messages.warning(request, error)
        elif verb == "key":
            services.integration_update(integration=integration, api_key=request.POST.get("api_key", ""), actor=user)
            messages.success(request, "API key replaced.")
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    return redirect("integrations-hub")


urlpatterns = [path("integrations", hub, name="integrations-hub")]
