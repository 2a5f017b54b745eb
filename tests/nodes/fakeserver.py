"""Real local servers for the network nodes' tests: an HTTP server and a minimal SMTP server.

Both listen on 127.0.0.1 in a background thread, record what they receive and answer with what the
test configured, so the nodes are exercised through their real client libraries (httpx, smtplib).
"""

from __future__ import annotations

import base64
import json
import socketserver
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class RecordedRequest:
    """One request the fake HTTP server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())


@dataclass
class Reply:
    """A configured response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeHTTPServer:
    """An HTTP server on 127.0.0.1 answering configured routes; unknown routes get 404.

    `reply(method, path, ...)` sets the answer for a route (the last one stays in force);
    `requests` lists what arrived, in order.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._routes: dict[tuple[str, str], Reply] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reply(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json_body: Any = None,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        self._routes[(method.upper(), path)] = Reply(status=status, body=body, headers=headers, delay=delay)

    def start(self) -> FakeHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server.requests.append(
                    RecordedRequest(
                        method=self.command,
                        path=split.path,
                        query=parse_qs(split.query),
                        headers={key.lower(): value for key, value in self.headers.items()},
                        body=body,
                    )
                )
                reply = server._routes.get((self.command, split.path), Reply(status=404, body=b"not found"))
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting (timeout tests)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: object) -> None:
                return  # keep test output quiet

        return Handler


@dataclass
class ReceivedMail:
    """One message the fake SMTP server accepted."""

    mail_from: str
    recipients: list[str]
    data: bytes
    auth: tuple[str, str] | None

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


class FakeSMTPServer:
    """A minimal SMTP server (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) on 127.0.0.1.

    Python 3.12 dropped `smtpd`; this speaks just enough of RFC 5321 for smtplib. When `users` is set,
    mail is refused until the client authenticates with one of them.
    """

    def __init__(self, users: dict[str, str] | None = None) -> None:
        self.users = users or {}
        self.messages: list[ReceivedMail] = []
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def __enter__(self) -> FakeSMTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def send(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def readline(self) -> str:
                return self.rfile.readline().decode().rstrip("\r\n")

            def handle(self) -> None:
                self.user: tuple[str, str] | None = None
                self.mail_from = ""
                self.recipients: list[str] = []
                self.send("220 fake.smtp ESMTP")
                while line := self.readline():
                    verb, _, arg = line.partition(" ")
                    if not self.dispatch(verb.upper(), arg):
                        return

            def dispatch(self, verb: str, arg: str) -> bool:
                if verb in ("EHLO", "HELO"):
                    self.wfile.write(b"250-fake.smtp\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                elif verb == "AUTH":
                    self.authenticate(arg)
                elif verb == "MAIL":
                    if server.users and self.user is None:
                        self.send("530 Authentication required")
                    else:
                        self.mail_from, self.recipients = arg.split(":", 1)[1].strip("<> "), []
                        self.send("250 OK")
                elif verb == "RCPT":
                    self.recipients.append(arg.split(":", 1)[1].strip("<> "))
                    self.send("250 OK")
                elif verb == "DATA":
                    self.receive_data()
                elif verb in ("RSET", "NOOP"):
                    self.send("250 OK")
                elif verb == "QUIT":
                    self.send("221 Bye")
                    return False
                else:
                    self.send("502 Command not implemented")
                return True

            def authenticate(self, arg: str) -> None:
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() == "PLAIN":
                    _, username, password = base64.b64decode(initial).decode().split("\0")
                else:
                    self.send("334 VXNlcm5hbWU6")
                    username = base64.b64decode(self.readline()).decode()
                    self.send("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(self.readline()).decode()
                if server.users.get(username) == password:
                    self.user = (username, password)
                    self.send("235 Authentication successful")
                else:
                    self.send("535 Authentication failed")

            def receive_data(self) -> None:
                self.send("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while (raw := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(raw[1:] if raw.startswith(b"..") else raw)
                server.messages.append(ReceivedMail(self.mail_from, self.recipients, b"".join(lines), self.user))
                self.send("250 OK queued")

        return Handler
