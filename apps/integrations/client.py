"""A client of n8n's public API (`/api/v1`, header `X-N8N-API-KEY`). No ORM: it takes a URL, a key and whether
private addresses may be reached, and speaks through the guarded HTTP client (`apps.nodes.http`), so the
private-address rule and DNS pinning apply to every request.

Lists page with `limit` (at most 250) and the opaque `cursor` n8n returns as `nextCursor` until it is null.
429 and 5xx answers, timeouts and refused connections are retried with exponential backoff (tenacity);
what cannot improve (a wrong URL, a refused key, a server that is not n8n) fails at once with a clear
`N8nError`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from apps.nodes.base import NodeError
from apps.nodes.http import ALLOW_PRIVATE_SETTING, HttpResponse, send

logger = logging.getLogger(__name__)

MAX_PAGE = 250
API_KEY_HEADER = "X-N8N-API-KEY"

BAD_URL = "The n8n URL must be an absolute http:// or https:// URL, like http://localhost:5678."
UNREACHABLE = "Could not reach n8n at {url}: {error}"
KEY_REFUSED = "n8n at {url} refused the API key (HTTP {status}): create one under Settings > n8n API."
NOT_N8N = "The server at {url} does not answer like n8n's public API ({detail})."
NOT_FOUND = "n8n at {url} has no workflow {id}."
SERVER_ERROR = "n8n at {url} kept answering HTTP {status} after {attempts} attempts."
REFUSED_REQUEST = "n8n at {url} refused the request (HTTP {status}): {detail}"


class N8nError(Exception):
    """Talking to n8n failed; the message says what to fix."""


class _Transient(Exception):
    """A 429, 5xx or network failure worth another try."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def normalise_url(url: str) -> str:
    """The instance's base URL, without a trailing slash or an `/api/v1` the user pasted."""
    url = (url or "").strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise N8nError(BAD_URL)
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url


class N8nClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        allow_private: bool = False,
        timeout: float = 30.0,
        attempts: int = 4,
        backoff_seconds: float = 0.5,
    ) -> None:
        self.base_url = normalise_url(base_url)
        self.api_key = api_key
        self.settings = {ALLOW_PRIVATE_SETTING: allow_private}
        self.timeout = timeout
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    # --- requests --------------------------------------------------------------------------------------

    def _once(self, method: str, path: str, params: dict | None, json: Any) -> HttpResponse:
        kwargs: dict[str, Any] = {} if json is None else {"json": json}
        try:
            response = send(
                settings=self.settings,
                method=method,
                url=f"{self.base_url}/api/v1{path}",
                headers={API_KEY_HEADER: self.api_key, "Accept": "application/json"},
                params=params,
                timeout=self.timeout,
                follow_redirects=False,
                **kwargs,
            )
        except NodeError as error:
            if error.retryable:
                raise _Transient(UNREACHABLE.format(url=self.base_url, error=error.message)) from None
            raise N8nError(UNREACHABLE.format(url=self.base_url, error=error.message)) from None
        if response.status == 429 or response.status >= 500:
            raise _Transient(SERVER_ERROR, response.status)
        return response

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None) -> Any:
        """One API call, retried on 429/5xx and network failures; the parsed JSON body."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_seconds, max=30),
            retry=retry_if_exception(lambda error: isinstance(error, _Transient)),
            reraise=False,
        )
        try:
            response = retrying(self._once, method, path, params, json)
        except RetryError as error:
            last = error.last_attempt.exception()
            if isinstance(last, _Transient) and last.status is not None:
                raise N8nError(
                    SERVER_ERROR.format(url=self.base_url, status=last.status, attempts=self.attempts)
                ) from None
            raise N8nError(str(last)) from None
        return self._parsed(response, path)

    def _parsed(self, response: HttpResponse, path: str) -> Any:
        if response.status in (401, 403):
            raise N8nError(KEY_REFUSED.format(url=self.base_url, status=response.status))
        body = response.body()
        if response.status == 404 and path.startswith("/workflows/") and isinstance(body, dict):
            raise N8nError(NOT_FOUND.format(url=self.base_url, id=path.rsplit("/", 1)[-1]))
        if not response.is_json or not isinstance(body, dict | list):
            detail = f"HTTP {response.status}, {response.headers.get('content-type') or 'no content type'}"
            raise N8nError(NOT_N8N.format(url=self.base_url, detail=detail))
        if not response.ok:
            message = body.get("message") if isinstance(body, dict) else None
            raise N8nError(
                REFUSED_REQUEST.format(url=self.base_url, status=response.status, detail=message or "no message")
            )
        return body

    # --- the API ---------------------------------------------------------------------------------------

    def list_workflows(self, *, page_size: int = MAX_PAGE) -> list[dict]:
        """Every workflow (with nodes and connections), page by page."""
        workflows: list[dict] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": min(max(page_size, 1), MAX_PAGE)}
            if cursor:
                params["cursor"] = cursor
            body = self.request("GET", "/workflows", params=params)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise N8nError(NOT_N8N.format(url=self.base_url, detail="no 'data' list in the workflow list"))
            workflows.extend(w for w in body["data"] if isinstance(w, dict))
            cursor = body.get("nextCursor")
            if not cursor:
                return workflows

    def get_workflow(self, workflow_id: str) -> dict:
        body = self.request("GET", f"/workflows/{quote(str(workflow_id), safe='')}")
        if not isinstance(body, dict) or "nodes" not in body:
            raise N8nError(NOT_N8N.format(url=self.base_url, detail="a workflow without nodes"))
        return body

    def check(self) -> dict:
        """A cheap call that proves the URL is n8n and the key is accepted."""
        body = self.request("GET", "/workflows", params={"limit": 1})
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise N8nError(NOT_N8N.format(url=self.base_url, detail="no 'data' list in the workflow list"))
        return {"ok": True, "url": self.base_url}

    def create_workflow(self, workflow: dict) -> dict:
        """Create a workflow (n8n accepts name, nodes, connections and settings only)."""
        data = {key: workflow[key] for key in ("name", "nodes", "connections") if key in workflow}
        data["settings"] = workflow.get("settings") or {}
        return self.request("POST", "/workflows", json=data)

    def activate_workflow(self, workflow_id: str) -> dict:
        return self.request("POST", f"/workflows/{quote(str(workflow_id), safe='')}/activate")

    def update_workflow(self, workflow_id: str, workflow: dict) -> dict:
        data = {key: workflow[key] for key in ("name", "nodes", "connections") if key in workflow}
        data["settings"] = workflow.get("settings") or {}
        return self.request("PUT", f"/workflows/{quote(str(workflow_id), safe='')}", json=data)
