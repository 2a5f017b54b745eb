"""What browsers fetch besides the pages: a favicon everywhere, and API docs that load nothing from other hosts."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from apps.core.views import DOCS_CONTENT_SECURITY_POLICY
from tests.orgs.factories import UserFactory

pytestmark = pytest.mark.django_db

URL_ATTRIBUTES = {"src", "href", "action", "srcset", "data", "poster"}
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""")


class _Links(HTMLParser):
    """Every URL an HTML page names: in attributes, and absolute ones in inline scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._inline = False

    def handle_starttag(self, tag, attrs):
        self.urls.extend(value for name, value in attrs if name in URL_ATTRIBUTES and value)
        self._inline = tag in ("script", "style")

    def handle_endtag(self, tag):
        self._inline = False

    def handle_data(self, data):
        if self._inline:
            self.urls.extend(ABSOLUTE_URL.findall(data))


def urls_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def external(urls: list[str]) -> list[str]:
    return [url for url in urls if url.startswith(("http:", "https:", "//")) and "//testserver/" not in url]


# --- favicon --------------------------------------------------------------------------------------


def test_favicon_ico_leads_to_a_real_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code in (200, 301, 302)
    if response.status_code != 200:
        response = client.get(response["Location"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:4] == b"\0\0\1\0"


def test_the_svg_favicon_is_served(client):
    response = client.get("/static/favicon.svg")

    assert response.status_code == 200
    assert b"<svg" in b"".join(response.streaming_content)


def test_the_admin_login_links_the_favicon(client):
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/admin/login/").content.decode()


@pytest.mark.parametrize("url", ["/admin/", "/admin/workflows/workflow/", "/admin/orgs/organization/add/"])
def test_admin_pages_link_the_favicon(client, url):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    html = client.get(url).content.decode()

    assert '<link rel="icon" href="/static/favicon.svg"' in html


@pytest.mark.parametrize("url", ["/accounts/login/", "/api/docs/", "/api/redoc/"])
def test_product_and_docs_pages_link_a_local_favicon(client, url):
    icons = [u for u in urls_in(client.get(url).content.decode()) if "favicon" in u]

    assert icons and not external(icons)


# --- API docs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_request_nothing_from_other_hosts(client, url):
    response = client.get(url)

    assert response.status_code == 200
    urls = urls_in(response.content.decode())
    assert any(u.startswith("/static/drf_spectacular_sidecar/") for u in urls), urls
    assert external(urls) == []


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_pages_keep_the_browser_on_this_site(client, url):
    """What the bundles fetch at run time (Redoc's logo from cdn.redoc.ly) is blocked by the page's policy."""
    policy = client.get(url)["Content-Security-Policy"]

    assert policy == DOCS_CONTENT_SECURITY_POLICY
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    for directive in ("default-src", "img-src", "font-src", "connect-src", "script-src", "style-src"):
        assert "https:" not in directives[directive] and "*" not in directives[directive]


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_scripts_and_styles_are_served_here(client, url):
    local = [u for u in urls_in(client.get(url).content.decode()) if u.startswith("/static/")]

    for asset in local:
        assert client.get(asset).status_code == 200, asset


def test_swagger_ui_sends_nothing_to_the_validator(client):
    html = client.get("/api/docs/").content.decode()

    assert '"validatorUrl": null' in html


def test_redoc_uses_the_system_fonts(client):
    html = client.get(reverse("redoc")).content.decode()

    assert "fonts.googleapis.com" not in html
    assert "system-ui" in html
