"""Members sign in on the product's own pages (no staff status needed); the admin stays for staff."""

import json

import pytest
from django.conf import settings
from django.urls import reverse

from tests.executions.factories import WorkflowExecutionFactory
from tests.orgs.factories import UserFactory
from tests.workflows.factories import WorkflowFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"  # what UserFactory sets


def sign_in(client, user, password: str = PASSWORD, next_url: str | None = None):
    url = reverse("login") + (f"?next={next_url}" if next_url else "")
    data = {"username": user.username, "password": password, **({"next": next_url} if next_url else {})}
    return client.post(url, data)


def test_login_url_is_the_products_sign_in():
    assert reverse(settings.LOGIN_URL) == "/accounts/login/"
    assert reverse(settings.LOGIN_REDIRECT_URL) == "/"


def test_sign_in_page_is_styled_like_the_product(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "site/site.css" in html
    assert "favicon.svg" in html
    assert 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html


def test_a_member_without_staff_status_signs_in_and_lands_home(client, user):
    assert not user.is_staff

    response = sign_in(client, user)

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_wrong_password_is_refused_on_the_page(client, user):
    response = sign_in(client, user, password="wrong")

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_follows_next_to_the_editor(client, organization, user):
    workflow = WorkflowFactory(organization=organization)
    editor = reverse("workflow-edit", kwargs={"pk": workflow.pk})

    response = sign_in(client, user, next_url=editor)

    assert response.status_code == 302 and response["Location"] == editor
    assert client.get(editor).status_code == 200


def test_sign_in_refuses_a_next_on_another_host(client, user):
    response = sign_in(client, user, next_url="https://evil.example/")

    assert response["Location"] == "/"


@pytest.mark.parametrize("page", ["home", "editor", "new", "execution", "password_change"])
def test_anonymous_visitors_are_sent_to_sign_in_with_next(client, organization, page):
    workflow = WorkflowFactory(organization=organization)
    execution = WorkflowExecutionFactory(workflow=workflow)
    url = {
        "home": "/",
        "editor": reverse("workflow-edit", kwargs={"pk": workflow.pk}),
        "new": reverse("workflow-new"),
        "execution": reverse("execution-page", kwargs={"pk": execution.pk}),
        "password_change": reverse("password_change"),
    }[page]

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"


def test_editor_and_execution_pages_open_for_a_non_staff_member(client, organization, user):
    workflow = WorkflowFactory(organization=organization)
    execution = WorkflowExecutionFactory(workflow=workflow)
    sign_in(client, user)

    assert client.get(reverse("workflow-edit", kwargs={"pk": workflow.pk})).status_code == 200
    assert client.get(reverse("execution-page", kwargs={"pk": execution.pk})).status_code == 200
    assert client.get(reverse("workflow-new")).status_code == 200


def test_a_signed_in_visitor_of_the_sign_in_page_goes_home(client, user):
    client.force_login(user)

    response = client.get(reverse("login"))

    assert response.status_code == 302 and response["Location"] == "/"


def test_sign_out_is_a_post(client, user):
    client.force_login(user)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert client.get("/").status_code == 302


def test_every_product_page_offers_sign_out_as_a_form(client, user):
    client.force_login(user)

    html = client.get("/").content.decode()

    assert f'<form method="post" action="{reverse("logout")}">' in html


def test_password_change(client, user):
    client.force_login(user)
    assert client.get(reverse("password_change")).status_code == 200

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "a-Longer-pass-42", "new_password2": "a-Longer-pass-42"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert client.get(reverse("password_change_done")).status_code == 200
    user.refresh_from_db()
    assert user.check_password("a-Longer-pass-42")
    assert client.get("/").status_code == 200, "the member stays signed in after the change"


def test_password_change_names_the_wrong_field(client, user):
    client.force_login(user)

    response = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "a-Longer-pass-42", "new_password2": "a-Longer-pass-42"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"old_password"}


def test_the_admin_still_refuses_members_without_staff_status(client, user):
    client.force_login(user)

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_admins_logout_keeps_its_own_page(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(reverse("admin:logout"))

    assert response.status_code == 200
    assert "Log in again" in response.content.decode()


def test_the_admin_login_still_serves_staff(client):
    staff = UserFactory(is_staff=True, is_superuser=True)

    response = client.post(
        reverse("admin:login"), {"username": staff.username, "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 302 and response["Location"] == "/admin/"


def _editor_config(response) -> dict:
    html = response.content.decode()
    marker = '<script id="editor-config" type="application/json">'
    start = html.index(marker) + len(marker)
    return json.loads(html[start : html.index("</script>", start)])


def test_the_editor_links_home_and_the_admin_only_for_staff(client, organization, user):
    workflow = WorkflowFactory(organization=organization)
    staff = UserFactory(is_staff=True, is_superuser=True)
    editor = reverse("workflow-edit", kwargs={"pk": workflow.pk})

    client.force_login(user)
    member_urls = _editor_config(client.get(editor))["urls"]
    client.force_login(staff)
    staff_urls = _editor_config(client.get(editor))["urls"]

    assert member_urls["home"] == staff_urls["home"] == "/"
    assert member_urls["admin_workflow"] is None
    assert staff_urls["admin_workflow"] == reverse("admin:workflows_workflow_change", args=[workflow.pk])


def test_the_new_workflow_page_leads_back_home_not_to_the_admin(client, user):
    client.force_login(user)

    html = client.get(reverse("workflow-new")).content.decode()

    assert reverse("admin:index") not in html
    assert 'href="/"' in html
