"""Unknown URLs: the API's JSON error shape under /api/ (and /hooks/), Django's own 404 page elsewhere, in both
the embedded mode (DEBUG on, where Django would answer its HTML debug page) and production (DEBUG off)."""

import pytest

from apps.core.views import NOT_FOUND

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete", "options"]


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", ["/api/v1/no-such-thing/", "/api/nothing", "/api/v2/workflows/", "/hooks/a/b"])
def test_unknown_api_url_is_a_json_404_for_any_method(client, debug, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"type": "not_found", "detail": NOT_FOUND, "errors": []}


def test_unknown_api_url_is_a_json_404_when_signed_in(client, user, debug):
    client.force_login(user)

    response = client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["type"] == "not_found"


def test_api_url_without_its_slash_still_redirects(client, user, debug):
    """APPEND_SLASH keeps working for a known endpoint written without its trailing slash."""
    client.force_login(user)

    response = client.get("/api/v1/workflows")

    assert response.status_code == 301
    assert response["Location"] == "/api/v1/workflows/"


def test_api_url_without_its_slash_on_a_write_is_a_json_404_naming_the_right_url(client, user, debug):
    """Django cannot redirect a POST without losing its body: a JSON 404 names the URL to use instead."""
    client.force_login(user)

    response = client.post("/api/v1/workflows", data={}, content_type="application/json")

    assert response.status_code == 404
    assert response.json()["detail"] == NOT_FOUND + " " + "Did you mean /api/v1/workflows/ (with a trailing slash)?"


def test_unknown_non_api_url_keeps_django_404(client, debug):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_known_api_urls_still_answer(client, user, debug):
    client.force_login(user)

    assert client.get("/api/v1/workflows/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
