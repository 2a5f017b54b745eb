"""A small OAuth2 server on 127.0.0.1 for the credential tests: a client-credentials token endpoint and an API
that takes only the tokens it issued (and not yet expired or revoked).

- `POST /token`: `grant_type=client_credentials`, the client's id and secret in the form body or in HTTP basic
  auth; answers `{"access_token", "token_type", "expires_in"}`, or 401 `invalid_client`.
- any method on `/api`: 200 `{"ok": true, "client": ...}` with a valid `Authorization: Bearer`, else 401.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class OAuth2Server:
    def __init__(self, clients: dict[str, str], *, expires_in: int = 3600) -> None:
        self.clients = clients
        self.expires_in = expires_in
        self.token_requests: list[dict[str, str]] = []  # the form of each token request (secrets included)
        self.api_calls: list[str | None] = []  # the Authorization header of each API call
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (client id, expiry)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def revoke_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def __enter__(self) -> OAuth2Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _issue(self, client_id: str) -> dict:
        with self._lock:
            token = f"at-{next(self._counter)}-{client_id}"
            self._tokens[token] = (client_id, time.monotonic() + self.expires_in)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}

    def _client_of(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        with self._lock:
            found = self._tokens.get(authorization.removeprefix("Bearer "))
        if found is None or found[1] < time.monotonic():
            return None
        return found[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _token(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                server.token_requests.append(form)
                client_id, secret = form.get("client_id"), form.get("client_secret")
                basic = self.headers.get("Authorization", "")
                if basic.startswith("Basic "):
                    client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
                if form.get("grant_type") != "client_credentials":
                    return self._answer(400, {"error": "unsupported_grant_type"})
                if client_id not in server.clients or server.clients[client_id] != secret:
                    return self._answer(401, {"error": "invalid_client", "echo": secret})  # a careless server
                return self._answer(200, server._issue(client_id))

            def _handle(self) -> None:
                path = urlsplit(self.path).path
                if path == "/token" and self.command == "POST":
                    return self._token()
                if path == "/api":
                    authorization = self.headers.get("Authorization")
                    server.api_calls.append(authorization)
                    client = server._client_of(authorization)
                    if client is None:
                        return self._answer(401, {"error": "invalid_token"})
                    return self._answer(200, {"ok": True, "client": client})
                return self._answer(404, {"error": "not_found"})

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        return Handler
