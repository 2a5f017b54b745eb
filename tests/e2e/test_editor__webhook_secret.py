"""The triggers dialog sets a sender's signing secret (write-only) that the webhook then verifies."""

import hashlib
import hmac
import json

from playwright.sync_api import Page, expect

from tests.e2e.test_editor import create_workflow

SECRET = "github-hook-secret-1"
GITHUB_HOOK = {
    "nodes": [
        {
            "id": "hook",
            "type": "webhook",
            "config": {"require_signature": True, "signature_scheme": "github"},
            "position": {"x": 0, "y": 0},
        },
        {"id": "note", "type": "log", "config": {"message": "called"}, "position": {"x": 260, "y": 0}},
    ],
    "edges": [{"source": "hook", "target": "note"}],
    "variables": {},
}


def api_post(page: Page, url: str) -> int:
    return page.evaluate(
        """async (url) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': csrf}});
            return response.status;
        }""",
        url,
    )


def test_a_senders_secret_set_in_the_dialog_verifies_its_calls(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: GitHub hook", GITHUB_HOOK)
    assert api_post(page, f"/api/v1/workflows/{workflow_id}/activate/") == 200
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.get_by_role("button", name="Triggers", exact=True).click()
    page.get_by_role("button", name="Add trigger").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("(signed calls only)")
    url = dialog.locator("code.cm-copy").first.inner_text()
    dialog.get_by_label("Sender's signing secret (replaces the current one)").fill(SECRET)
    dialog.get_by_role("button", name="Set secret").click()
    expect(dialog.get_by_role("status")).to_have_text("Signing secret saved.")
    expect(dialog.get_by_label("Sender's signing secret (replaces the current one)")).to_have_value("")

    body = json.dumps({"action": "opened"}).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": ""}
    wrong = page.request.post(url, data=body, headers={**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    signed = page.request.post(url, data=body, headers={**headers, "X-Hub-Signature-256": f"sha256={digest}"})

    assert wrong.status == 401, wrong.text()
    assert signed.status == 202, signed.text()
