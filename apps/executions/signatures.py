"""Webhook signature schemes: ConcertMaster's own, Standard Webhooks, and presets for GitHub, Stripe and Slack.

`verify()` checks a call against the trigger's signing secret with the scheme the webhook node names and returns
what identifies the signed message, so a replay of it is recognised whatever unsigned headers come with it: the
signature itself, and the sender's message id where there is one (`webhook-id`, `X-GitHub-Delivery`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.conf import settings
from standardwebhooks import Webhook, WebhookVerificationError

from apps.core.errors import ApplicationError

SIGNATURE_HEADER = "X-ConcertMaster-Signature"
HEADER_MISSING = "This webhook requires a signature in the {header} header."
SIGNATURE_MISSING = HEADER_MISSING.format(header=SIGNATURE_HEADER)
SIGNATURE_MALFORMED = "The signature header must look like t=<unix seconds>,v1=<hex HMAC-SHA256>."
SIGNATURE_STALE = "The signature timestamp is outside the {tolerance}-second tolerance."
SIGNATURE_MISMATCH = "The signature does not match the body."
GITHUB_MALFORMED = "X-Hub-Signature-256 must look like sha256=<hex HMAC-SHA256 of the body>."
SLACK_MALFORMED = "X-Slack-Signature must look like v0=<hex HMAC-SHA256>, X-Slack-Request-Timestamp like <unix time>."
STANDARD_HEADERS_MISSING = (
    "This webhook requires the Standard Webhooks headers webhook-id, webhook-timestamp and webhook-signature."
)
SCHEME_UNKNOWN = "This webhook's signature_scheme {scheme!r} is not one this server checks."
STANDARD_MALFORMED = "webhook-timestamp must be unix seconds and webhook-signature a list of v1,<base64> entries."
#: The Standard Webhooks library checks its own 5-minute tolerance as well: the window is never longer than this.
STANDARD_MAX_TOLERANCE = 300

#: Headers whose values are signatures: never passed to the workflow, redacted in the inbox.
SIGNATURE_HEADERS = frozenset(
    {
        "x-concertmaster-signature",
        "webhook-signature",
        "x-hub-signature-256",
        "x-hub-signature",
        "stripe-signature",
        "x-slack-signature",
    }
)


class SignatureError(ApplicationError):
    """A webhook call whose signature is missing, malformed, stale or wrong (answered with 401)."""


@dataclass(frozen=True)
class Verified:
    """What identifies a verified message: its signature, and the sender's message id when it sends one."""

    digest: str
    message_id: str = ""


def sign(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-ConcertMaster-Signature value for `body`: what a sender computes (used by tests and docs)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_hex(secret, f'{timestamp}.'.encode() + body)}"


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _check_fresh(timestamp: str, now: float | None, tolerance: int) -> None:
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError(SIGNATURE_STALE.format(tolerance=tolerance))


def _first_match(expected: str, candidates: list[str]) -> str:
    for candidate in candidates:
        if hmac.compare_digest(expected, candidate.strip().lower()):
            return expected
    raise SignatureError(SIGNATURE_MISMATCH)


def signature_verify(*, secret: str, header: str | None, body: bytes, now: float | None = None) -> str:
    """Check a `t=<unix>,v1=<hex>` header (ConcertMaster's and Stripe's) against `body`; returns the matching
    v1 digest. Several v1 entries may be given (secret rotation); any other entry is ignored."""
    if not header:
        raise SignatureError(SIGNATURE_MISSING)
    parts = [part.strip().partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in parts if key == "t"]
    digests = [value for key, _, value in parts if key == "v1"]
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not digests:
        raise SignatureError(SIGNATURE_MALFORMED)
    _check_fresh(timestamps[0], now, settings.CONCERTMASTER_WEBHOOK_TOLERANCE_SECONDS)
    return _first_match(_hex(secret, f"{timestamps[0]}.".encode() + body), digests)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name, "").strip()
    if not value:
        raise SignatureError(HEADER_MISSING.format(header=name))
    return value


def _concertmaster(secret: str, headers: Mapping[str, str], body: bytes, now: float | None) -> Verified:
    return Verified(signature_verify(secret=secret, header=headers.get(SIGNATURE_HEADER), body=body, now=now))


def _stripe(secret: str, headers: Mapping[str, str], body: bytes, now: float | None) -> Verified:
    """Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<body>'> with the endpoint's whsec_ secret as is."""
    header = _header(headers, "Stripe-Signature")
    return Verified(signature_verify(secret=secret, header=header, body=body, now=now))


def _github(secret: str, headers: Mapping[str, str], body: bytes, now: float | None) -> Verified:
    """X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>. GitHub signs no timestamp."""
    algorithm, _, digest = _header(headers, "X-Hub-Signature-256").partition("=")
    if algorithm != "sha256" or not digest:
        raise SignatureError(GITHUB_MALFORMED)
    verified = _first_match(_hex(secret, body), [digest])
    # X-GitHub-Delivery is not signed: it only adds a key (a redelivery keeps it); the signature still counts.
    return Verified(verified, message_id=headers.get("X-GitHub-Delivery", "").strip()[:200])


def _slack(secret: str, headers: Mapping[str, str], body: bytes, now: float | None) -> Verified:
    """X-Slack-Signature: v0=<hex HMAC-SHA256 of 'v0:<X-Slack-Request-Timestamp>:<body>'>."""
    version, _, digest = _header(headers, "X-Slack-Signature").partition("=")
    timestamp = _header(headers, "X-Slack-Request-Timestamp")
    if version != "v0" or not digest or not timestamp.isdigit():
        raise SignatureError(SLACK_MALFORMED)
    _check_fresh(timestamp, now, settings.CONCERTMASTER_WEBHOOK_TOLERANCE_SECONDS)
    return Verified(_first_match(_hex(secret, f"v0:{timestamp}:".encode() + body), [digest]))


def _standard_webhooks(secret: str, headers: Mapping[str, str], body: bytes, now: float | None) -> Verified:
    """webhook-id, webhook-timestamp and webhook-signature (space-separated v1,<base64> entries) over
    '<id>.<timestamp>.<body>', keyed with the base64 part of a whsec_ secret; checked by the standardwebhooks
    library after the timestamp is checked here (for a clear message)."""
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    msg_id, timestamp, signature = (headers.get(name, "").strip() for name in names)
    if not (msg_id and timestamp and signature):
        raise SignatureError(STANDARD_HEADERS_MISSING)
    if not timestamp.isdigit():
        raise SignatureError(STANDARD_MALFORMED)
    _check_fresh(timestamp, now, min(settings.CONCERTMASTER_WEBHOOK_TOLERANCE_SECONDS, STANDARD_MAX_TOLERANCE))
    try:
        Webhook(secret).verify(body, dict(zip(names, (msg_id, timestamp, signature), strict=True)), json_parse=False)
    except (WebhookVerificationError, ValueError) as error:
        # ValueError: a malformed entry, bad base64, a body that is not UTF-8, a secret that is not base64.
        raise SignatureError(SIGNATURE_MISMATCH) from error
    return Verified(signature, message_id=msg_id[:200])


Scheme = Callable[[str, Mapping[str, str], bytes, float | None], Verified]

#: Every scheme a webhook node's `signature_scheme` may name.
SCHEMES: dict[str, Scheme] = {
    "concertmaster": _concertmaster,
    "standard_webhooks": _standard_webhooks,
    "github": _github,
    "stripe": _stripe,
    "slack": _slack,
}


def verify(*, scheme: str, secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None) -> Verified:
    """Check a call's signature by `scheme` (header names in any case). Raises SignatureError; an unknown
    scheme (an expression the node's schema let through) refuses every call: it fails closed."""
    if scheme not in SCHEMES:
        raise SignatureError(SCHEME_UNKNOWN.format(scheme=scheme))
    return SCHEMES[scheme](secret, _CaseInsensitive(headers), body, now)


class _CaseInsensitive(dict):
    """A read-only view of a plain dict of headers whose names compare without case."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__({name.lower(): value for name, value in headers.items()})

    def get(self, name: str, default: str = "") -> str:  # type: ignore[override]  # headers only: str keys and values
        return super().get(name.lower(), default)
