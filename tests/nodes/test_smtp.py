"""email_send through a member's SMTP credential: the private-address rule and errors that do not scan ports."""

import logging
import socket
import threading

import pytest

from apps.nodes import netguard, smtp
from apps.nodes.base import NodeContext, NodeError
from apps.nodes.builtin.actions import EmailSendNode
from tests.nodes.fakeserver import FakeSMTPServer

ALLOW = {netguard.ALLOW_PRIVATE_SETTING: True}
CONFIG = {"to": "ada@example.com", "subject": "Hi", "body": "Hello", "credential": "smtp", "timeout_seconds": 1}


def run(host, port, *, settings=ALLOW, **extra):
    credentials = {"smtp": {"host": host, "port": port, **extra}}
    ctx = NodeContext(node_id="mail", execution_id="e1", organization_id="o1", config=CONFIG, credentials=credentials)
    ctx.settings = settings
    return EmailSendNode().run(ctx)


def failure(host, port, **kwargs) -> NodeError:
    with pytest.raises(NodeError) as exc_info:
        run(host, port, **kwargs)
    return exc_info.value


class OneShotServer:
    """A TCP server on 127.0.0.1 that greets each connection with `banner` (nothing when None) and hangs up."""

    def __init__(self, banner: bytes | None) -> None:
        self.banner = banner
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.banner is None:
                    conn.recv(1024)  # wait for the client to give up
                else:
                    conn.sendall(self.banner)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return sock.getsockname()[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_a_loopback_smtp_server_is_refused_with_the_generic_text(host):
    """Without the administrator's allowance the node never connects to a private server."""
    with FakeSMTPServer() as server:
        error = failure(host, server.port, settings={})

    assert error.message == smtp.SMTP_FAILED
    assert error.retryable is False
    assert error.data == {"reason": smtp.ADDRESS_NOT_ALLOWED}
    assert server.messages == []


def test_the_allowance_lets_the_node_reach_a_private_server():
    with FakeSMTPServer() as server:
        run("127.0.0.1", server.port, settings=ALLOW)

    assert server.messages[0].recipients == ["ada@example.com"]


def test_the_connection_goes_to_the_checked_address(monkeypatch):
    """The host name is resolved once and the socket connects to that address (no DNS rebinding)."""
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(netguard, "resolve", lambda host, port: next(answers))
    with FakeSMTPServer() as server:
        run("mail.rebind.example", server.port)

    assert len(server.messages) == 1


def test_closed_silent_and_non_smtp_ports_fail_alike(caplog, monkeypatch):
    """A closed port, a server that never speaks and one that speaks another protocol give the same error; the
    detail is only in the server log."""
    # Earlier tests may reconfigure logging (dictConfig disables existing loggers): read this module's records.
    monkeypatch.setattr(smtp.logger, "disabled", False)
    monkeypatch.setattr(smtp.logger, "propagate", True)
    caplog.set_level(logging.WARNING, logger=smtp.logger.name)
    errors = [failure("127.0.0.1", closed_port())]
    for banner in (None, b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 400 Bad Request\r\n\r\n", b""):
        with OneShotServer(banner) as server:
            errors.append(failure("127.0.0.1", server.port))

    assert {(error.message, error.retryable, tuple(error.data)) for error in errors} == {(smtp.SMTP_FAILED, True, ())}
    assert all(error.__cause__ is None and error.__context__ is not None for error in errors)
    assert "Could not deliver an email through 127.0.0.1:" in caplog.text


def test_an_unresolvable_host_fails_alike():
    error = failure("does-not-exist.invalid", 25)

    assert (error.message, error.retryable) == (smtp.SMTP_FAILED, True)


def test_a_refused_login_does_not_echo_the_server():
    with FakeSMTPServer(users={"mailer": "pw"}) as server:
        error = failure("127.0.0.1", server.port, username="mailer", password="wrong")

    assert (error.message, error.retryable) == (smtp.SMTP_AUTH_FAILED, False)


def test_implicit_tls_names_the_host_while_connecting_to_the_checked_address(monkeypatch):
    """SMTP over TLS connects to the pinned address but verifies the certificate for the credential's host."""
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    seen = {}

    class RecordingContext:
        def wrap_socket(self, sock, server_hostname=None):
            seen["peer"], seen["server_hostname"] = sock.getpeername()[0], server_hostname
            sock.close()
            raise OSError("handshake refused")

    with OneShotServer(b"") as server:
        backend = smtp.GuardedSMTPBackend(
            allow_private=True, host="mail.example.test", port=server.port, use_ssl=True, timeout=1
        )
        backend.ssl_context = RecordingContext()  # Django's cached property, set before the connection opens
        with pytest.raises(OSError):
            backend.open()

    assert seen == {"peer": "127.0.0.1", "server_hostname": "mail.example.test"}
