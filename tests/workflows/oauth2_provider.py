"""A small OAuth2 provider on 127.0.0.1 for the authorization-code tests: a real HTTP server in a thread.

- `GET /authorize`: the consent page, granted at once: records the query, answers 302 to `redirect_uri` with a
  one-time `code` and the `state` (or `error=access_denied` when `deny` is set).
- `POST /token`: `authorization_code` (client id and secret, the code once, the same `redirect_uri`, and the PKCE
  verifier whose S256 hash is the challenge) or `refresh_token` (rotated: the old one stops working); answers
  `{access_token, refresh_token, token_type, expires_in}`, else 400 `invalid_grant` or 401 `invalid_client`.
- any method on `/api`: 200 `{"ok": true}` with a live `Authorization: Bearer`, else 401.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class OAuth2Provider:
    def __init__(self, client_id: str, client_secret: str, *, expires_in: int = 3600) -> None:
        self.client_id, self.client_secret, self.expires_in = client_id, client_secret, expires_in
        self.deny = False
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.api_calls: list[str | None] = []
        self._codes: dict[str, dict[str, str]] = {}  # code -> the authorize request it answers
        self._access: set[str] = set()
        self._refresh: set[str] = set()
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (refresh tokens still do)."""
        with self._lock:
            self._access.clear()

    def __enter__(self) -> OAuth2Provider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _tokens(self) -> dict:
        n = next(self._counter)
        access, refresh = f"at-{n}-{self.client_id}", f"rt-{n}-{self.client_id}"
        self._access.add(access)
        self._refresh.add(refresh)
        return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": self.expires_in}

    def authorize(self, query: dict[str, str]) -> str:
        self.authorize_requests.append(query)
        params = {"state": query.get("state", "")}
        if self.deny:
            params["error"] = "access_denied"
        else:
            code = f"code-{next(self._counter)}"
            with self._lock:
                self._codes[code] = query
            params["code"] = code
        return query["redirect_uri"] + "?" + urlencode(params)

    def token(self, form: dict[str, str], basic: str) -> tuple[int, dict]:
        self.token_requests.append(form)
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return 401, {"error": "invalid_client"}
        with self._lock:
            if form.get("grant_type") == "authorization_code":
                asked = self._codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "").encode()
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode()
                if asked is None or asked["redirect_uri"] != form.get("redirect_uri"):
                    return 400, {"error": "invalid_grant"}
                if asked.get("code_challenge_method") != "S256" or asked.get("code_challenge") != challenge:
                    return 400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"}
                return 200, self._tokens()
            if form.get("grant_type") == "refresh_token":
                if form.get("refresh_token") not in self._refresh:
                    return 400, {"error": "invalid_grant"}
                self._refresh.discard(form["refresh_token"])
                return 200, self._tokens()
        return 400, {"error": "unsupported_grant_type"}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/authorize" and self.command == "GET":
                    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                    return self._answer(302, {}, {"Location": provider.authorize(query)})
                if parts.path == "/token" and self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                    return self._answer(*provider.token(form, self.headers.get("Authorization", "")))
                if parts.path == "/api":
                    authorization = self.headers.get("Authorization")
                    provider.api_calls.append(authorization)
                    with provider._lock:
                        live = (authorization or "").removeprefix("Bearer ") in provider._access
                    return self._answer(200, {"ok": True}) if live else self._answer(401, {"error": "invalid_token"})
                return self._answer(404, {"error": "not_found"})

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
