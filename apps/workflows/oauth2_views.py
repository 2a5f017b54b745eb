"""The OAuth2 consent pages: `Connect` (redirects to the provider) and the callback the provider sends the user back
to. Session pages: the state binds the consent to the logged-in user; the API's `oauth2-authorize` action gives
the same URL to API clients (the user then finishes in a browser, logged in)."""

from typing import cast

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from apps.core.errors import ApplicationError
from apps.orgs import policy
from apps.orgs.selectors import access_for_user

from .models import Credential
from .oauth2 import oauth2_authorize_url, oauth2_connect, oauth2_pending_credential_id

CONNECTED = "Credential {name} is connected. You can close this page."


def callback_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("oauth2-callback"))


def _credential(request: HttpRequest, pk) -> Credential:
    """A credential the user may manage (another organization's, or one only seen: 404)."""
    access = access_for_user(user=request.user)
    credential = Credential.objects.filter(pk=pk, organization_id__in=access.organization_ids()).first()
    if credential is None or not policy.can(access, policy.MANAGE, credential):
        raise Http404
    return credential


def _refused(message: str) -> HttpResponse:
    return HttpResponseBadRequest(format_html("<!doctype html><title>Not connected</title><p>{}</p>", message))


@login_required
def oauth2_connect_view(request: HttpRequest, pk) -> HttpResponse:
    credential = _credential(request, pk)
    user = cast(User, request.user)  # login_required
    try:
        url = oauth2_authorize_url(credential=credential, user_id=user.pk, redirect_uri=callback_url(request))
    except ApplicationError as error:
        return _refused(error.message)
    return redirect(url)


@login_required
def oauth2_callback_view(request: HttpRequest) -> HttpResponse:
    params, user = request.GET, cast(User, request.user)  # login_required
    try:
        pk = oauth2_pending_credential_id(state=params.get("state", ""), user_id=user.pk)
        credential = _credential(request, pk)
        oauth2_connect(
            credential=credential,
            state=params.get("state", ""),
            code=params.get("code", ""),
            error=params.get("error", ""),
            user_id=user.pk,
            actor=user,
        )
    except ValidationError as error:
        return _refused(" ".join(message for messages in error.message_dict.values() for message in messages))
    except ApplicationError as error:
        return _refused(error.message)
    return HttpResponse(
        format_html("<!doctype html><title>Connected</title><p>{}</p>", CONNECTED.format(name=credential.name))
    )
