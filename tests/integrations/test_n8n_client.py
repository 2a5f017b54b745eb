"""The n8n API client against local HTTP servers that answer like n8n, like a broken n8n, or like something else."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from apps.integrations import client as n8n_client
from apps.integrations.client import N8nClient, N8nError


class FakeN8n(BaseHTTPRequestHandler):
    """Pages of 2 workflows out of 5; `failures` 503 answers first; a wrong key is 401."""

    workflows = [{"id": str(i), "name": f"wf {i}", "nodes": [], "connections": {}} for i in range(5)]
    failures = 0
    seen: list = []

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        type(self).seen.append((parts.path, query))
        if type(self).failures > 0:
            type(self).failures -= 1
            return self._send(503, {"message": "busy"})
        if self.headers.get("X-N8N-API-KEY") != "good":
            return self._send(401, {"message": "unauthorized"})
        if parts.path == "/api/v1/workflows":
            start = int(query.get("cursor", ["0"])[0])
            page = self.workflows[start : start + 2]
            following = str(start + 2) if start + 2 < len(self.workflows) else None
            return self._send(200, {"data": page, "nextCursor": following})
        if parts.path.startswith("/api/v1/workflows/"):
            wanted = parts.path.rsplit("/", 1)[-1]
            found = [w for w in self.workflows if w["id"] == wanted]
            return self._send(200, found[0]) if found else self._send(404, {"message": "Not Found"})
        return self._send(404, {"message": "Not Found"})


class NotN8n(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b"<html>hello</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def serve():
    servers = []

    def start(handler):
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _reset():
    FakeN8n.failures = 0
    FakeN8n.seen = []


def _client(url, key="good", **kwargs):
    return N8nClient(base_url=url, api_key=key, allow_private=True, backoff_seconds=0.01, **kwargs)


def test_lists_every_page_with_the_cursor_and_the_largest_limit(serve):
    url = serve(FakeN8n)
    workflows = _client(url + "/api/v1/").list_workflows()
    assert [w["id"] for w in workflows] == ["0", "1", "2", "3", "4"]
    assert [q.get("cursor") for _, q in FakeN8n.seen] == [None, ["2"], ["4"]]
    assert all(q["limit"] == ["250"] for _, q in FakeN8n.seen)


def test_gets_one_workflow_and_names_a_missing_one(serve):
    url = serve(FakeN8n)
    assert _client(url).get_workflow("3")["name"] == "wf 3"
    with pytest.raises(N8nError) as error:
        _client(url).get_workflow("99")
    assert str(error.value) == n8n_client.NOT_FOUND.format(url=url, id="99")


def test_retries_503_with_backoff_then_succeeds(serve):
    url = serve(FakeN8n)
    FakeN8n.failures = 2
    assert _client(url).check() == {"ok": True, "url": url}
    assert len(FakeN8n.seen) == 3


def test_gives_up_after_the_attempts_with_the_status(serve):
    url = serve(FakeN8n)
    FakeN8n.failures = 10
    with pytest.raises(N8nError) as error:
        _client(url, attempts=3).check()
    assert str(error.value) == n8n_client.SERVER_ERROR.format(url=url, status=503, attempts=3)
    assert len(FakeN8n.seen) == 3


def test_a_refused_key_says_so(serve):
    url = serve(FakeN8n)
    with pytest.raises(N8nError) as error:
        _client(url, key="wrong").check()
    assert str(error.value) == n8n_client.KEY_REFUSED.format(url=url, status=401)


def test_a_server_that_is_not_n8n_says_so(serve):
    url = serve(NotN8n)
    with pytest.raises(N8nError) as error:
        _client(url).check()
    assert str(error.value) == n8n_client.NOT_N8N.format(url=url, detail="HTTP 200, text/html")


def test_a_wrong_url_fails_clearly():
    with pytest.raises(N8nError) as error:
        N8nClient(base_url="localhost:5678", api_key="k")
    assert str(error.value) == n8n_client.BAD_URL
    with pytest.raises(N8nError) as error:
        _client("http://127.0.0.1:9", attempts=2).check()  # nothing listens on the discard port
    assert str(error.value).startswith("Could not reach n8n at http://127.0.0.1:9")


def test_a_private_address_is_refused_unless_allowed(serve):
    url = serve(FakeN8n)
    with pytest.raises(N8nError) as error:
        N8nClient(base_url=url, api_key="good").check()
    assert "private, loopback" in str(error.value)
    assert FakeN8n.seen == []
