"""What a webhook trigger row may keep beside its start node: the specification's `event_type`, a custom
`url_path` and an `authentication` choice (pure: no ORM, no request objects).

A webhook always answers at `/hooks/<token>`; with a `url_path` it also answers at
`/hooks/<organization slug>/<url_path>`. The authentication is checked on both addresses, before the start
node's own `require_signature` rule:

- `hmac`: the call must carry a valid signature made with the trigger's secret (the start node's
  `signature_scheme`, ConcertMaster's header by default);
- `header`: the header `header_name` (default `X-Webhook-Token`) must equal the trigger's secret;
- `basic`: HTTP Basic with `username` and the trigger's secret as the password;
- `none` (the default): anyone holding the URL may call.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Any

AUTH_NONE = "none"
AUTH_HMAC = "hmac"
AUTH_HEADER = "header"
AUTH_BASIC = "basic"
AUTHENTICATIONS = (AUTH_NONE, AUTH_HMAC, AUTH_HEADER, AUTH_BASIC)
DEFAULT_TOKEN_HEADER = "X-Webhook-Token"
DEFAULT_USERNAME = "webhook"

#: Lower-case path segments of letters, digits, `-`, `_` and `.`, joined by single slashes.
URL_PATH_PATTERN = r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$"
URL_PATH_MAX_LENGTH = 200
HEADER_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]*$"

URL_PATH_INVALID = (
    "Use lower-case letters, digits, '-', '_' and '.', in segments separated by single '/' (for example "
    "'orders/created'), at most {maximum} characters."
)
URL_PATH_TAKEN = "Another webhook of this organization already answers at '{path}'."
HEADER_NAME_RESERVED = "'{name}' cannot carry the token: choose another header name."

AUTH_MISSING_HEADER = "This webhook needs the header {header} holding its token."
AUTH_WRONG_TOKEN = "The {header} header does not hold this webhook's token."
AUTH_MISSING_BASIC = "This webhook needs HTTP Basic authentication."
AUTH_WRONG_BASIC = "The Basic credentials do not match this webhook's."

#: Headers that cannot carry a token (they mean something else on the way in).
RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "cookie", "idempotency-key"})

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event_type": {
            "type": "string",
            "maxLength": 200,
            "description": "What the sender's calls are about (e.g. 'order.created'); given to runs as "
            "`trigger.event_type`.",
        },
        "url_path": {
            "type": "string",
            "maxLength": URL_PATH_MAX_LENGTH,
            "description": "A second address: /hooks/<organization slug>/<url_path> (unique in the organization).",
        },
        "authentication": {
            "type": "object",
            "properties": {
                "type": {"enum": list(AUTHENTICATIONS)},
                "header_name": {"type": "string", "maxLength": 100, "pattern": HEADER_NAME_PATTERN},
                "username": {"type": "string", "minLength": 1, "maxLength": 150},
            },
            "required": ["type"],
            "additionalProperties": False,
        },
    },
}


class WebhookPathError(ValueError):
    """A config value a webhook trigger cannot keep; `field` is its config pointer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def normalise_url_path(value: str) -> str:
    """`/Orders/Created/` -> `orders/created`, or WebhookPathError naming `config/url_path`."""
    path = value.strip().strip("/").lower()
    if not path or len(path) > URL_PATH_MAX_LENGTH or not re.match(URL_PATH_PATTERN, path):
        raise WebhookPathError("config/url_path", URL_PATH_INVALID.format(maximum=URL_PATH_MAX_LENGTH))
    return path


def normalise(config: dict) -> dict:
    """The config as stored: the path normalised, the authentication's defaults filled in, `none` dropped."""
    config = dict(config)
    if "url_path" in config:
        config["url_path"] = normalise_url_path(config["url_path"])
    authentication = config.get("authentication")
    if authentication is not None:
        kind = authentication["type"]
        if kind == AUTH_NONE:
            config.pop("authentication")
        elif kind == AUTH_HEADER:
            name = authentication.get("header_name") or DEFAULT_TOKEN_HEADER
            if name.lower() in RESERVED_HEADERS or name.lower() == "authorization":
                raise WebhookPathError("config/authentication/header_name", HEADER_NAME_RESERVED.format(name=name))
            config["authentication"] = {"type": kind, "header_name": name}
        elif kind == AUTH_BASIC:
            config["authentication"] = {"type": kind, "username": authentication.get("username") or DEFAULT_USERNAME}
        else:
            config["authentication"] = {"type": kind}
    return config


def authentication_of(config: dict | None) -> dict:
    """The row's authentication, `{"type": "none"}` when it has none."""
    return (config or {}).get("authentication") or {"type": AUTH_NONE}


def secret_headers(config: dict | None) -> frozenset[str]:
    """Lower-case names of headers that carry this webhook's secret (never shown to the run or kept)."""
    authentication = authentication_of(config)
    if authentication["type"] == AUTH_HEADER:
        return frozenset({authentication["header_name"].lower()})
    return frozenset()


def check_token(*, config: dict | None, secret: str, headers: dict[str, str]) -> str | None:
    """The refusal for a `header` or `basic` webhook's call (None when it passes or the type is another)."""
    authentication = authentication_of(config)
    lowered = {name.lower(): value for name, value in headers.items()}
    if authentication["type"] == AUTH_HEADER:
        header = authentication["header_name"]
        given = lowered.get(header.lower())
        if not given:
            return AUTH_MISSING_HEADER.format(header=header)
        return None if _equal(given.strip(), secret) else AUTH_WRONG_TOKEN.format(header=header)
    if authentication["type"] == AUTH_BASIC:
        scheme, _, encoded = (lowered.get("authorization") or "").partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            return AUTH_MISSING_BASIC
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return AUTH_WRONG_BASIC
        matches = _equal(username, authentication["username"]) & _equal(password, secret)
        return None if matches else AUTH_WRONG_BASIC
    return None


def _equal(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
