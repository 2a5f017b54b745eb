"""The guarded HTTP client: real requests to a local server, and the addresses it refuses."""

import pytest

from apps.nodes import http, netguard
from apps.nodes.base import NodeError
from tests.nodes.fakeserver import FakeHTTPServer

ALLOW = {"allow_private_http": True}


@pytest.fixture
def server():
    with FakeHTTPServer() as fake:
        yield fake


def test_get_returns_status_headers_and_parsed_json(server):
    """A JSON response is parsed; headers come back lower-cased."""
    server.reply("GET", "/items", json_body={"items": [1, 2]}, headers={"X-Total": "2"})

    response = http.send(settings=ALLOW, method="GET", url=f"{server.url}/items", params={"page": 3})

    assert response.status == 200
    assert response.headers["x-total"] == "2"
    assert response.as_output()["body"] == {"items": [1, 2]}
    assert server.requests[0].query == {"page": ["3"]}
    assert server.requests[0].headers["user-agent"] == http.USER_AGENT


def test_text_and_broken_json_bodies_come_back_as_text(server):
    """Only a body declared as JSON is parsed, and one that does not parse stays text."""
    server.reply("GET", "/text", body="hello", headers={"Content-Type": "text/plain; charset=utf-8"})
    server.reply("GET", "/broken", body="{nope", headers={"Content-Type": "application/problem+json"})

    assert http.send(settings=ALLOW, method="GET", url=f"{server.url}/text").body() == "hello"
    assert http.send(settings=ALLOW, method="GET", url=f"{server.url}/broken").body() == "{nope"


def test_loopback_is_refused_without_the_setting(server):
    """Without allow_private_http the local server is never contacted."""
    server.reply("GET", "/", body="secret")

    with pytest.raises(NodeError) as exc_info:
        http.send(settings={}, method="GET", url=f"{server.url}/")

    assert exc_info.value.message == http.BLOCKED_ADDRESS.format(host="127.0.0.1", address="127.0.0.1")
    assert exc_info.value.retryable is False
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://192.168.0.1/", "192.168.0.1"),
        ("http://172.16.5.5/", "172.16.5.5"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://100.64.0.1/", "100.64.0.1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://[::1]/", "::1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[fd00::1]/", "fd00::1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://localhost/", None),
    ],
)
def test_private_link_local_and_reserved_addresses_are_refused(url, address):
    """Every non-global address is refused, however it is spelled."""
    with pytest.raises(NodeError) as exc_info:
        http.send(settings={}, method="GET", url=url, timeout=2)

    assert exc_info.value.retryable is False
    assert "Refusing to connect" in exc_info.value.message
    if address:
        assert exc_info.value.data["address"] == address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("::", False),
        ("224.0.0.1", False),
        ("2002:7f00:1::", False),
        ("fe80::1%eth0", False),
    ],
)
def test_is_public_address(address, public):
    assert http.is_public_address(address) is public


def test_every_redirect_hop_is_checked(server, monkeypatch):
    """A public-looking server may not redirect the client to a private address."""
    monkeypatch.setattr(netguard, "is_public_address", lambda address: address == "127.0.0.1")
    port = server.url.rsplit(":", 1)[1]
    server.reply("GET", "/same", status=302, headers={"Location": "/final"})
    server.reply("GET", "/final", body="done")
    server.reply("GET", "/escape", status=302, headers={"Location": f"http://127.0.0.2:{port}/admin"})

    assert http.send(settings={}, method="GET", url=f"{server.url}/same").text == "done"
    with pytest.raises(NodeError) as exc_info:
        http.send(settings={}, method="GET", url=f"{server.url}/escape")

    assert exc_info.value.data["address"] == "127.0.0.2"
    assert [request.path for request in server.requests] == ["/same", "/final", "/escape"]


def test_connection_is_pinned_to_the_checked_address(server, monkeypatch):
    """The client connects to the address it checked, keeping the original Host header (no DNS rebinding)."""
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    port = server.url.rsplit(":", 1)[1]
    server.reply("GET", "/", body="pinned")

    response = http.send(settings=ALLOW, method="GET", url=f"http://rebind.invalid:{port}/")

    assert response.text == "pinned"
    assert server.requests[0].headers["host"] == f"rebind.invalid:{port}"


def test_redirects_are_not_followed_when_disabled(server):
    server.reply("GET", "/moved", status=301, headers={"Location": "/elsewhere"})

    response = http.send(settings=ALLOW, method="GET", url=f"{server.url}/moved", follow_redirects=False)

    assert response.status == 301
    assert response.headers["location"] == "/elsewhere"


def test_redirect_loops_stop(server):
    server.reply("GET", "/loop", status=302, headers={"Location": "/loop"})

    with pytest.raises(NodeError) as exc_info:
        http.send(settings=ALLOW, method="GET", url=f"{server.url}/loop")

    assert exc_info.value.message == http.TOO_MANY_REDIRECTS.format(url=f"{server.url}/loop", limit=http.MAX_REDIRECTS)
    assert exc_info.value.retryable is False


def test_timeout_is_retryable_and_hides_the_query_string(server):
    """A slow server times out; the error names the URL without its (possibly secret) query."""
    server.reply("GET", "/slow", body="late", delay=1.0)

    with pytest.raises(NodeError) as exc_info:
        http.send(settings=ALLOW, method="GET", url=f"{server.url}/slow?token=s3cret", timeout=0.2)

    assert exc_info.value.message == http.REQUEST_TIMEOUT.format(url=f"{server.url}/slow", seconds=0.2)
    assert exc_info.value.retryable is True
    assert "s3cret" not in exc_info.value.message


def test_oversized_responses_are_refused(server, monkeypatch):
    monkeypatch.setattr(http, "MAX_RESPONSE_BYTES", 10)
    server.reply("GET", "/big", body=b"x" * 100)

    with pytest.raises(NodeError) as exc_info:
        http.send(settings=ALLOW, method="GET", url=f"{server.url}/big")

    assert exc_info.value.message == http.RESPONSE_TOO_LARGE.format(url=f"{server.url}/big", limit=10)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/file", "/relative/path", "http://", "not a url", "file:///etc/passwd"]
)
def test_only_absolute_http_urls_are_accepted(url):
    with pytest.raises(NodeError) as exc_info:
        http.send(settings=ALLOW, method="GET", url=url)

    assert exc_info.value.message == http.INVALID_URL.format(url=url)
    assert exc_info.value.retryable is False


def test_unknown_host_is_a_retryable_error():
    with pytest.raises(NodeError) as exc_info:
        http.send(settings=ALLOW, method="GET", url="http://does-not-exist.invalid/")

    assert exc_info.value.message == http.UNRESOLVABLE_HOST.format(host="does-not-exist.invalid")
    assert exc_info.value.retryable is True


def test_refused_connection_is_a_retryable_error(server):
    url = f"{server.url}/"
    server.stop()

    with pytest.raises(NodeError) as exc_info:
        http.send(settings=ALLOW, method="GET", url=url, timeout=2)

    assert exc_info.value.message.startswith(f"Request to {url} failed:")
    assert exc_info.value.retryable is True
