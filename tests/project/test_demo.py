"""`bootstrap_demo` (run by `make run`): who can sign in and where the newcomer is sent."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.workflows.demo import (
    DEMO_MEMBER_PASSWORD,
    DEMO_MEMBER_USERNAME,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    DEMO_WORKFLOW_NAME,
)

pytestmark = pytest.mark.django_db


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap_demo", force=True, stdout=out)
    return out.getvalue()


def test_bootstrap_demo_sends_the_newcomer_to_the_sign_in_at_the_root():
    output = bootstrap()

    assert f"Sign in at http://127.0.0.1:8000/ as {DEMO_USERNAME} / {DEMO_PASSWORD}" in output
    assert f"{DEMO_MEMBER_USERNAME} / {DEMO_MEMBER_PASSWORD}" in output


def test_the_demo_member_has_no_staff_status_and_signs_in_to_the_demo_workflow(client):
    bootstrap()
    member = get_user_model().objects.get(username=DEMO_MEMBER_USERNAME)
    assert not member.is_staff and not member.is_superuser

    response = client.post("/accounts/login/", {"username": DEMO_MEMBER_USERNAME, "password": DEMO_MEMBER_PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/"
    assert DEMO_WORKFLOW_NAME in client.get("/").content.decode()


def test_the_demo_admin_signs_in_on_the_same_page(client):
    bootstrap()

    response = client.post("/accounts/login/", {"username": DEMO_USERNAME, "password": DEMO_PASSWORD})

    assert response.status_code == 302
    assert "/admin/" in client.get("/").content.decode()


def test_bootstrap_demo_is_idempotent_and_keeps_a_changed_member_password():
    bootstrap()
    member = get_user_model().objects.get(username=DEMO_MEMBER_USERNAME)
    member.set_password("changed-by-the-member-1")
    member.save()

    bootstrap()

    assert get_user_model().objects.filter(username=DEMO_MEMBER_USERNAME).count() == 1
    assert get_user_model().objects.get(username=DEMO_MEMBER_USERNAME).check_password("changed-by-the-member-1")
