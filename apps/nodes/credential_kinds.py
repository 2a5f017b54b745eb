"""Credential kinds: what each kind of secret holds (a JSON Schema), which of its fields are secret, and how
an HTTP request is authenticated with it.

A registry like the node types': `Credential.kind` names a kind, the services validate a credential's data
against its kind's schema, the API serves the schemas (`GET /api/v1/credential-kinds/`) so the editor and the
admin can render a form, and `http_request` authenticates with any kind that has `http_auth`. Kinds that are
not registered (`github`, a plugin's) are kept as they are: their data is not validated and a node reads the
fields it names. The old names `http_bearer` and `http_basic` are aliases of `bearer` and `basic`, so
credentials made before the registry work unchanged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from .base import NodeError

CREDENTIAL_UNSUPPORTED = "Credential {name!r} of kind {kind!r} cannot authenticate an HTTP request."
TOKEN_FAILED = "OAuth2 token request to {url} answered HTTP {status}."
TOKEN_INVALID = "OAuth2 token endpoint {url} answered without an access_token."

#: Seconds before a cached OAuth2 token's expiry at which it is fetched again.
TOKEN_EXPIRY_MARGIN = 30.0
#: Lifetime assumed for a token whose answer names no `expires_in`.
TOKEN_DEFAULT_LIFETIME = 300.0

STR = {"type": "string", "minLength": 1, "maxLength": 2000}
SECRET = {"type": "string", "minLength": 1, "maxLength": 8000, "writeOnly": True}
HEADER_NAME = {"type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}$"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
URL = {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2000}


@dataclass(frozen=True)
class CredentialKind:
    name: str
    label: str
    schema: dict
    aliases: tuple[str, ...] = ()
    description: str = ""
    validator: Draft202012Validator = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        Draft202012Validator.check_schema(self.schema)
        object.__setattr__(self, "validator", Draft202012Validator(self.schema))

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return tuple(sorted(k for k, v in self.schema.get("properties", {}).items() if v.get("writeOnly")))

    def errors(self, data: Any) -> dict[str, list[str]]:
        """Schema errors under `data`, each naming its field (`data.token: ...`); empty when valid."""
        messages: list[str] = []
        secrets = _secret_values(self, data)
        for error in sorted(self.validator.iter_errors(data), key=lambda e: [str(p) for p in e.path]):
            where = ".".join(["data", *(str(part) for part in error.path)])
            message = error.message
            if any(secret in message for secret in secrets):
                message = f"invalid value ({error.validator})"  # never echo a secret back
            messages.append(f"{where}: {message}")
        return {"data": messages} if messages else {}

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "aliases": list(self.aliases),
            "schema": self.schema,
            "secret_fields": list(self.secret_fields),
        }


def _secret_values(kind: CredentialKind, data: Any) -> list[str]:
    if not isinstance(data, dict):
        return []
    return [str(data[name]) for name in kind.secret_fields if data.get(name)]


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


KINDS: dict[str, CredentialKind] = {}
_ALIASES: dict[str, str] = {}


def register_kind(kind: CredentialKind) -> CredentialKind:
    KINDS[kind.name] = kind
    for alias in kind.aliases:
        _ALIASES[alias] = kind.name
    return kind


def get_kind(name: str) -> CredentialKind | None:
    return KINDS.get(_ALIASES.get(name, name))


register_kind(
    CredentialKind(
        "bearer",
        "Bearer token",
        _object({"token": SECRET}, ["token"]),
        aliases=("http_bearer",),
        description="Sent as `Authorization: Bearer <token>`.",
    )
)
register_kind(
    CredentialKind(
        "basic",
        "Basic login",
        _object({"username": {"type": "string", "maxLength": 2000}, "password": SECRET}, ["username", "password"]),
        aliases=("http_basic",),
        description="HTTP basic authentication.",
    )
)
register_kind(
    CredentialKind(
        "header",
        "Header auth",
        _object({"header": HEADER_NAME, "value": SECRET}, ["header", "value"]),
        description="The secret sent in a header of your choice, e.g. `X-API-Key`.",
    )
)
register_kind(
    CredentialKind(
        "query",
        "Query auth",
        _object(
            {"parameter": {"type": "string", "minLength": 1, "maxLength": 200}, "value": SECRET}, ["parameter", "value"]
        ),
        description="The secret sent as a query parameter, e.g. `?api_key=...` (errors and logs show URLs "
        "without their query).",
    )
)
register_kind(
    CredentialKind(
        "oauth2_client_credentials",
        "OAuth2 client credentials",
        _object(
            {
                "token_url": URL,
                "client_id": STR,
                "client_secret": SECRET,
                "scope": {"type": "string", "maxLength": 2000},
                "audience": {"type": "string", "maxLength": 2000},
                "client_auth": {"enum": ["body", "basic"], "default": "body"},
            },
            ["token_url", "client_id", "client_secret"],
        ),
        description="A token fetched from the token URL, cached until shortly before it expires, fetched again "
        "when it expires or the API answers 401.",
    )
)
register_kind(
    CredentialKind(
        "oauth2_authorization_code",
        "OAuth2 authorization code",
        _object(
            {
                "authorize_url": URL,
                "token_url": URL,
                "client_id": STR,
                "client_secret": SECRET,
                "scope": {"type": "string", "maxLength": 2000},
                "client_auth": {"enum": ["body", "basic"], "default": "body"},
                # Set by the product once a user connects (the consent redirect), and on each refresh:
                "access_token": SECRET,
                "refresh_token": SECRET,
                "expires_at": {"type": "number", "description": "Unix time the access token expires at."},
            },
            ["authorize_url", "token_url", "client_id", "client_secret"],
        ),
        description="A user grants access on the provider's consent page (the credential's Connect link); the "
        "tokens are stored encrypted in the credential and the access token is refreshed when it expires or the "
        "API answers 401.",
    )
)
register_kind(
    CredentialKind(
        "aws",
        "AWS / S3-compatible",
        _object(
            {
                "access_key_id": STR,
                "secret_access_key": SECRET,
                "region": {"type": "string", "pattern": "^[a-z0-9-]{1,50}$"},
                "endpoint_url": URL,
                "bucket": {"type": "string", "maxLength": 255},
            },
            ["access_key_id", "secret_access_key", "region"],
        ),
        description="Keys and region; `endpoint_url` for an S3-compatible server (MinIO).",
    )
)
register_kind(
    CredentialKind(
        "smtp",
        "SMTP server",
        _object(
            {
                "host": STR,
                "port": PORT,
                "username": {"type": "string", "maxLength": 2000},
                "password": SECRET,
                "use_tls": {"type": "boolean"},
                "use_ssl": {"type": "boolean"},
            },
            ["host"],
        ),
        description="The server `email_send` delivers through.",
    )
)
register_kind(
    CredentialKind(
        "database",
        "Database",
        _object(
            {
                "engine": {"enum": ["postgresql", "mysql"], "default": "postgresql"},
                "host": STR,
                "port": PORT,
                "database": STR,
                "user": STR,
                "password": SECRET,
                "ssl_mode": {"enum": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]},
            },
            ["host", "database", "user"],
        ),
        description="A database server's login.",
    )
)


def validate_data(kind_name: str, data: Any) -> dict[str, list[str]]:
    """Errors of `data` against its kind's schema; none for a kind that is not registered."""
    kind = get_kind(kind_name)
    if kind is None:
        return {} if isinstance(data, dict) else {"data": ["A credential's data must be an object."]}
    return kind.errors(data)


def node_data(kind_name: str, data: dict, *, internal: bool = False) -> dict:
    """The data a node receives: the decrypted fields and, for a registered kind, `kind` (its canonical name)
    and `internal` (an administrator allowed private addresses with it: `Credential.allow_private`)."""
    kind = get_kind(kind_name)
    if kind is None or not isinstance(data, dict):
        return data
    return {**data, "kind": kind.name, "internal": internal}


# --- HTTP authentication ----------------------------------------------------------------------------------------


@dataclass
class HttpAuth:
    """What a credential adds to a request."""

    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    oauth_key: str | None = None  # set for an OAuth2 token: dropped and fetched again on a 401


def _infer(data: Mapping) -> str:
    if "token" in data:
        return "bearer"
    if "username" in data and "password" in data and "host" not in data:
        return "basic"
    return ""


def http_auth(name: str, data: Mapping, *, settings: Mapping[str, Any], organization_id: str | None = None) -> HttpAuth:
    """Authentication for an HTTP request from a credential's data (its `kind` as `node_data` adds it, or
    inferred from its fields for a credential of an unregistered kind). `organization_id`: where a refreshed
    authorization-code token is saved."""
    kind = str(data.get("kind") or _infer(data))
    kind = _ALIASES.get(kind, kind)
    if kind == "bearer" and data.get("token"):
        return HttpAuth(headers={"Authorization": f"Bearer {data['token']}"})
    if kind == "basic" and "username" in data and "password" in data:
        return HttpAuth(auth=httpx.BasicAuth(str(data["username"]), str(data["password"])))
    if kind == "header" and data.get("header") and data.get("value"):
        return HttpAuth(headers={str(data["header"]): str(data["value"])})
    if kind == "query" and data.get("parameter") and data.get("value"):
        return HttpAuth(params={str(data["parameter"]): str(data["value"])})
    if kind == "oauth2_client_credentials" and data.get("token_url") and data.get("client_secret"):
        token, key = oauth2_token(data, settings=settings)
        return HttpAuth(headers={"Authorization": f"Bearer {token}"}, oauth_key=key)
    if kind == "oauth2_authorization_code":
        token, key = oauth2_authorization_code_token(name, data, settings=settings, organization_id=organization_id)
        return HttpAuth(headers={"Authorization": f"Bearer {token}"}, oauth_key=key)
    raise NodeError(CREDENTIAL_UNSUPPORTED.format(name=name, kind=kind or "unknown"), retryable=False)


# --- OAuth2 client credentials ----------------------------------------------------------------------------------

_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def _token_key(data: Mapping) -> str:
    parts = [str(data.get(k) or "") for k in ("token_url", "client_id", "client_secret", "scope", "audience")]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def oauth2_forget(key: str) -> None:
    """The token under `key` is refused: the next request gets a new one (a stale mark, not a removal, so an
    authorization-code credential does not fall back on its stored token)."""
    with _tokens_lock:
        _tokens[key] = ("", 0.0)


def oauth2_token(data: Mapping, *, settings: Mapping[str, Any]) -> tuple[str, str]:
    """A token for the client (cached in this process until `TOKEN_EXPIRY_MARGIN` before it expires) and its
    cache key. The token request goes through the guarded client; its errors never show the secret or the answer."""
    key = _token_key(data)
    with _tokens_lock:
        cached = _tokens.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0], key
    form = {"grant_type": "client_credentials"}
    for name in ("scope", "audience"):
        if data.get(name):
            form[name] = str(data[name])
    tokens = token_request(data, form, settings=settings)
    _remember(key, tokens)
    return tokens["access_token"], key


def _remember(key: str, tokens: Mapping[str, Any]) -> None:
    lifetime = float(tokens["expires_at"]) - time.time()
    with _tokens_lock:
        _tokens[key] = (str(tokens["access_token"]), time.monotonic() + max(lifetime - TOKEN_EXPIRY_MARGIN, 0.0))


def token_request(data: Mapping, form: dict[str, str], *, settings: Mapping[str, Any]) -> dict[str, Any]:
    """POST `form` to the credential's token URL with its client authentication (`client_auth`: in the body or
    HTTP basic); returns `{access_token, expires_at}` and `refresh_token` when the answer names one. Errors never
    show the secret, the token or the answer."""
    from . import http  # http imports base; importing here keeps this module importable by the models

    url = str(data["token_url"])
    form = dict(form)
    auth = None
    if data.get("client_auth") == "basic":
        auth = httpx.BasicAuth(str(data["client_id"]), str(data["client_secret"]))
    else:
        form["client_id"] = str(data["client_id"])
        form["client_secret"] = str(data["client_secret"])
    response = http.send(
        settings=settings,
        method="POST",
        url=url,
        data=form,
        auth=auth,
        headers={"Accept": "application/json"},
        follow_redirects=False,
    )
    shown = http.redact(url)
    if not response.ok:
        raise NodeError(TOKEN_FAILED.format(url=shown, status=response.status), retryable=response.status >= 500)
    answer = response.body()
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise NodeError(TOKEN_INVALID.format(url=shown), retryable=False)
    try:
        lifetime = float(answer.get("expires_in", TOKEN_DEFAULT_LIFETIME))
    except (TypeError, ValueError):
        lifetime = TOKEN_DEFAULT_LIFETIME
    tokens: dict[str, Any] = {"access_token": token, "expires_at": round(time.time() + lifetime, 3)}
    if isinstance(answer.get("refresh_token"), str) and answer["refresh_token"]:
        tokens["refresh_token"] = answer["refresh_token"]
    return tokens


# --- OAuth2 authorization code ----------------------------------------------------------------------------------

NOT_CONNECTED = "Credential {name!r} is not connected: open its Connect link to grant access."

#: Where the refreshed tokens of an authorization-code credential are saved: `(organization id, credential name,
#: tokens)`. Set by apps.workflows (which owns credentials) in its `AppConfig.ready()`; the node SDK has no ORM.
TokenStore = Callable[[str, str, dict], None]
token_store: TokenStore | None = None


def _fresh(data: Mapping, now: float) -> bool:
    expires_at = data.get("expires_at")
    return expires_at is None or float(expires_at) - TOKEN_EXPIRY_MARGIN > now


def oauth2_authorization_code_token(
    name: str, data: Mapping, *, settings: Mapping[str, Any], organization_id: str | None
) -> tuple[str, str]:
    """The stored access token while it is fresh, else a refreshed one (saved through `token_store`, cached here
    until it expires); and the cache key `oauth2_forget` takes after a 401 to force the next refresh."""
    parts = [str(organization_id), name, str(data.get("token_url")), str(data.get("client_id"))]
    parts.append(str(data.get("refresh_token") or data.get("access_token") or ""))
    key = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    with _tokens_lock:
        cached = _tokens.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0], key
    if cached is None and data.get("access_token") and _fresh(data, time.time()):
        return str(data["access_token"]), key
    if not data.get("refresh_token"):
        raise NodeError(NOT_CONNECTED.format(name=name), retryable=False)
    form = {"grant_type": "refresh_token", "refresh_token": str(data["refresh_token"])}
    if data.get("scope"):
        form["scope"] = str(data["scope"])
    tokens = token_request(data, form, settings=settings)
    tokens.setdefault("refresh_token", str(data["refresh_token"]))  # a server that does not rotate it
    _remember(key, tokens)
    if token_store is not None and organization_id is not None:
        token_store(str(organization_id), name, tokens)
    return tokens["access_token"], key
