"""Who is on the other end of a WebSocket: a session cookie (browsers) or an `Authorization: Bearer` header.

`websocket_auth(inner)` wraps the WebSocket router:

- the Origin check (`AllowedHostsOriginValidator`) runs only when the handshake has an Origin header.
  Browsers always send one, and only they attach cookies on their own (cross-site WebSocket hijacking);
  API clients usually send none;
- Channels' `AuthMiddlewareStack` puts the session's user in `scope["user"]`;
- a bearer token replaces it: an organization API key (`cm_...`, the principal is an `ApiKeyUser` and
  `scope["api_key"]` the key) or a simplejwt access token (the token's user). A bearer token that does
  not authenticate leaves an anonymous user, whatever the cookie says.

Consumers then check `scope["user"].is_authenticated` and build the caller's Access.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.orgs.api.authentication import ApiKeyUser
from apps.orgs.models import ApiKey
from apps.orgs.services import API_KEY_PREFIX, api_key_authenticate

BEARER = "bearer"


def bearer_token(scope: dict) -> str | None:
    """The token of the handshake's `Authorization: Bearer <token>` header, if there is one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == BEARER and token.strip():
                return token.strip()
    return None


def authenticate_bearer(token: str) -> tuple[object, ApiKey | None]:
    """(principal, api key) for an API key or a JWT access token; (AnonymousUser, None) when it is neither."""
    if token.startswith(API_KEY_PREFIX):
        api_key = api_key_authenticate(raw_key=token)
        return (ApiKeyUser(api_key), api_key) if api_key is not None else (AnonymousUser(), None)
    jwt = JWTAuthentication()
    try:
        return jwt.get_user(jwt.get_validated_token(token.encode())), None
    except (InvalidToken, TokenError, AuthenticationFailed):
        return AnonymousUser(), None


class BearerAuthMiddleware(BaseMiddleware):
    """Authenticate from the `Authorization: Bearer` header, overriding the session user when present."""

    async def __call__(self, scope, receive, send):
        token = bearer_token(scope)
        scope = dict(scope, api_key=None)
        if token is not None:
            scope["user"], scope["api_key"] = await database_sync_to_async(authenticate_bearer)(token)
        return await super().__call__(scope, receive, send)


class BrowserOriginValidator:
    """Refuse a handshake whose Origin is not an allowed host; let one without Origin (not a browser) pass."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.validated = AllowedHostsOriginValidator(inner)

    async def __call__(self, scope, receive, send):
        has_origin = any(name.lower() == b"origin" for name, _ in scope.get("headers", ()))
        app = self.validated if has_origin else self.inner
        return await app(scope, receive, send)


def websocket_auth(inner):
    """The WebSocket middleware stack of asgi.py: origin check, session user, bearer token."""
    return BrowserOriginValidator(AuthMiddlewareStack(BearerAuthMiddleware(inner)))
