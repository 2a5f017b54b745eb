"""An SSRF-safe HTTP client for the nodes that talk to the network.

Every connection, including each redirect hop, goes through `GuardedTransport`: it applies the
private-address rule of `netguard.py` (resolve, refuse any address that is not globally routable unless
`ctx.settings["allow_private_http"]` is true), then connects to the very address it checked. Pinning the
checked address defeats DNS rebinding; TLS still verifies the certificate against the original host name
(httpcore's `sni_hostname` extension).
"""

from __future__ import annotations

import json as jsonlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from . import netguard
from .base import NodeError
from .netguard import ALLOW_PRIVATE_SETTING as ALLOW_PRIVATE_SETTING  # the names the HTTP client had before netguard
from .netguard import BLOCKED_ADDRESS as BLOCKED_ADDRESS
from .netguard import UNRESOLVABLE_HOST as UNRESOLVABLE_HOST
from .netguard import BlockedAddressError, UnresolvableHostError
from .netguard import is_public_address as is_public_address

DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
USER_AGENT = "ConcertMaster/1.0"

INVALID_URL = "Invalid URL {url!r}: only absolute http:// and https:// URLs are allowed."
REQUEST_TIMEOUT = "Request to {url} timed out after {seconds:g} s."
REQUEST_FAILED = "Request to {url} failed: {error}"
TOO_MANY_REDIRECTS = "Request to {url} was redirected more than {limit} times."
RESPONSE_TOO_LARGE = "Response from {url} is larger than {limit} bytes."

_UNSET: Any = object()


class RedactUrls(logging.Filter):
    """httpx logs each request's URL (`HTTP Request: GET https://...?api_key=...`): its query may hold a secret
    (a query-auth credential), so the URLs in its records are shown without query, fragment or user info."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(redact(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(RedactUrls())


class GuardedTransport(httpx.BaseTransport):
    """Checks the resolved address of every request (each redirect hop too) and connects to it pinned."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.raw_host.decode("ascii")
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = netguard.pinned_address(host, port, allow_private=self.allow_private)
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=request.headers,  # keeps the original Host header
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class HttpResponse:
    """A fully read response."""

    status: int
    headers: dict[str, str]
    content: bytes
    encoding: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def is_json(self) -> bool:
        content_type = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return content_type == "application/json" or content_type.endswith("+json")

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding, errors="replace")

    def body(self) -> Any:
        """The body parsed as JSON when the server says it is JSON (and it parses), else text."""
        if self.is_json and self.content:
            try:
                return jsonlib.loads(self.content)
            except ValueError:
                return self.text
        return self.text

    def as_output(self) -> dict:
        return {"status": self.status, "headers": self.headers, "body": self.body()}


def redact(url: str) -> str:
    """The URL without query string or user info, safe to show in errors and logs."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    return str(parsed.copy_with(query=None, fragment=None, username=None, password=None))


def breaker_host(url: object) -> str | None:
    """`host[:port]` of an http(s) URL, lower-cased: the circuit breaker's target of a node calling it (None when
    `url` is not such a URL: the node then fails on its own, and the breaker keys it by type)."""
    if not isinstance(url, str):
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _check_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise NodeError(INVALID_URL.format(url=url), retryable=False) from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise NodeError(INVALID_URL.format(url=url), retryable=False)
    return parsed


def send(
    *,
    settings: Mapping[str, Any],
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    json: Any = _UNSET,
    data: Mapping[str, Any] | None = None,
    content: bytes | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    follow_redirects: bool = True,
) -> HttpResponse:
    """Send one request through the guarded transport and read the whole response.

    Every failure is a `NodeError`: a refused address, a bad URL or a redirect loop is not retryable;
    a timeout, a refused connection or an unknown host is.
    """
    _check_url(url)
    shown = redact(url)
    body_kwargs: dict[str, Any] = {}
    if json is not _UNSET:
        body_kwargs["json"] = json
    elif data is not None:
        body_kwargs["data"] = data
    elif content is not None:
        body_kwargs["content"] = content
    transport = GuardedTransport(allow_private=netguard.allows_private(settings))
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(
                transport=transport,
                timeout=httpx.Timeout(timeout),
                follow_redirects=follow_redirects,
                max_redirects=MAX_REDIRECTS,
                trust_env=False,  # no proxies or .netrc from the worker's environment
                headers={"User-Agent": USER_AGENT},
            ) as client,
            client.stream(method, url, headers=headers, params=params, auth=auth, **body_kwargs) as response,
        ):
            content_read = _read_limited(response, shown, deadline, timeout)
            return HttpResponse(
                status=response.status_code,
                headers={key.lower(): value for key, value in response.headers.items()},
                content=content_read,
                encoding=response.encoding or "utf-8",
            )
    except BlockedAddressError as exc:
        raise NodeError(str(exc), retryable=False, data={"host": exc.host, "address": exc.address}) from exc
    except UnresolvableHostError as exc:
        raise NodeError(str(exc)) from exc
    except httpx.TooManyRedirects as exc:
        raise NodeError(TOO_MANY_REDIRECTS.format(url=shown, limit=MAX_REDIRECTS), retryable=False) from exc
    except httpx.TimeoutException as exc:
        raise NodeError(REQUEST_TIMEOUT.format(url=shown, seconds=timeout)) from exc
    except httpx.UnsupportedProtocol as exc:
        raise NodeError(INVALID_URL.format(url=shown), retryable=False) from exc
    except httpx.HTTPError as exc:
        raise NodeError(REQUEST_FAILED.format(url=shown, error=exc)) from exc


def _read_limited(response: httpx.Response, shown: str, deadline: float, timeout: float) -> bytes:
    """Read the (decoded) body, refusing more than MAX_RESPONSE_BYTES or a body that trickles past the timeout."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise NodeError(RESPONSE_TOO_LARGE.format(url=shown, limit=MAX_RESPONSE_BYTES), retryable=False)
        if time.monotonic() > deadline:
            raise NodeError(REQUEST_TIMEOUT.format(url=shown, seconds=timeout))
        chunks.append(chunk)
    return b"".join(chunks)
