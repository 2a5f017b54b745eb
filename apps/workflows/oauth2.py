"""OAuth2 authorization code: the consent redirect, the callback's code exchange, and the tokens kept in the credential.

`oauth2_authorize_url` builds the provider's authorize URL with a `state` signed by the product and bound to the user
and the credential, and a PKCE challenge (S256) whose verifier stays on the server (the cache, ten minutes, used
once). `oauth2_connect` checks the state, exchanges the code at the token URL with the verifier and saves the tokens
in the credential's encrypted data. `credential_tokens_save` is also what `http_request` saves refreshed tokens
through (`credential_kinds.token_store`, connected in `WorkflowsConfig.ready()`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.errors import ApplicationError
from apps.nodes import credential_kinds
from apps.nodes.base import NodeError
from apps.nodes.http import ALLOW_PRIVATE_SETTING
from apps.orgs.services import Actor, audit
from apps.orgs.variables import org_secrets_apply

from .models import Credential

KIND = "oauth2_authorization_code"
STATE_SALT = "concertmaster.oauth2.state"
STATE_MAX_AGE_SECONDS = 600
_PENDING = "cm:oauth2:pending:"
TOKEN_FIELDS = ("access_token", "refresh_token", "expires_at")

NOT_AUTHORIZATION_CODE = "Only a credential of kind oauth2_authorization_code connects through a consent page."
STATE_INVALID = "This consent answer is expired, was used already or was not started here: connect again."
STATE_OTHER_USER = "This consent was started by another user: connect again from your own session."
PROVIDER_REFUSED = "The provider refused the consent: {error}."
NO_CODE = "The provider's answer holds no code."
EXCHANGE_FAILED = "The code could not be exchanged for tokens: {reason}"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _usable_data(credential: Credential) -> dict:
    """The credential's data with its org secret references resolved (a copy: the row keeps the references)."""
    copy = Credential(pk=credential.pk, name=credential.name, data=dict(credential.data))
    error = org_secrets_apply(organization_id=credential.organization_id, credentials=[copy])
    if error:
        raise ApplicationError(error)
    return copy.data


def oauth2_authorize_url(*, credential: Credential, user_id: int, redirect_uri: str) -> str:
    """The provider's consent URL for `credential`; the answer comes back to `redirect_uri` (the callback view)."""
    if credential_kinds.get_kind(credential.kind) is not credential_kinds.get_kind(KIND):
        raise ApplicationError(NOT_AUTHORIZATION_CODE)
    data = _usable_data(credential)
    nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(64)
    pending = {"verifier": verifier, "credential": str(credential.pk), "user": user_id, "redirect_uri": redirect_uri}
    cache.set(_PENDING + nonce, pending, STATE_MAX_AGE_SECONDS)
    state = signing.dumps({"n": nonce, "c": str(credential.pk), "u": user_id}, salt=STATE_SALT)
    params = {
        "response_type": "code",
        "client_id": str(data["client_id"]),
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
    }
    if data.get("scope"):
        params["scope"] = str(data["scope"])
    base = str(data["authorize_url"])
    return base + ("&" if "?" in base else "?") + urlencode(params)


def oauth2_pending_credential_id(*, state: str, user_id: int) -> str:
    """The credential a consent answer is for, once its state is checked (signature, age, the same user)."""
    try:
        payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE_SECONDS)
    except signing.BadSignature as error:  # SignatureExpired is one
        raise ValidationError({"state": [STATE_INVALID]}) from error
    if payload.get("u") != user_id:
        raise ValidationError({"state": [STATE_OTHER_USER]})
    return str(payload["c"])


def oauth2_connect(
    *, credential: Credential, state: str, code: str, error: str = "", user_id: int, actor: Actor = None
) -> Credential:
    """Finish a consent: the state's verifier is taken (once), the code exchanged, the tokens saved (audited as
    `credential.connect`, without them)."""
    payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE_SECONDS)
    pending = cache.get(_PENDING + str(payload["n"]))
    cache.delete(_PENDING + str(payload["n"]))
    if not pending or pending["credential"] != str(credential.pk) or pending["user"] != user_id:
        raise ValidationError({"state": [STATE_INVALID]})
    if error:
        raise ValidationError({"error": [PROVIDER_REFUSED.format(error=error[:100])]})
    if not code:
        raise ValidationError({"code": [NO_CODE]})
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": pending["redirect_uri"],
        "code_verifier": pending["verifier"],
    }
    allow_private = settings.CONCERTMASTER_ALLOW_PRIVATE_HTTP or credential.allow_private
    try:
        tokens = credential_kinds.token_request(
            _usable_data(credential), form, settings={ALLOW_PRIVATE_SETTING: allow_private}
        )
    except NodeError as exc:
        raise ValidationError({"code": [EXCHANGE_FAILED.format(reason=exc.message)]}) from exc
    saved = credential_tokens_save(organization_id=credential.organization_id, name=credential.name, tokens=tokens)
    record = {"name": saved.name, "refreshable": "refresh_token" in tokens}
    audit(actor=actor, organization=saved.organization, action="credential.connect", target=saved, data=record)
    return saved


@transaction.atomic
def credential_tokens_save(*, organization_id: Any, name: str, tokens: dict) -> Credential:
    """Put the token fields of `tokens` into the credential's data (the rest of its data unchanged), under the row's
    lock. The platform acting on its own (a refresh): no audit row."""
    credential = Credential.objects.select_for_update().get(organization_id=organization_id, name=name)
    credential.data = {**credential.data, **{key: tokens[key] for key in TOKEN_FIELDS if key in tokens}}
    credential.save(update_fields=["data", "updated_at"])
    return credential


def token_store(organization_id: str, name: str, tokens: dict) -> None:
    """`credential_kinds.token_store`: where `http_request` saves the tokens of a refresh."""
    credential_tokens_save(organization_id=organization_id, name=name, tokens=tokens)
