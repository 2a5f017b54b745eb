"""The debug loop in a real browser (issue 18): pin a trigger payload, run one node, fix its config with
completion, run up to the last node, open a failed production execution in the editor, re-run it from the
failed node on the latest version, and see the diff between the two versions."""

import re

from playwright.sync_api import Page, expect

from .test_editor import RUN_TIMEOUT_MS, create_workflow, node

#: Version 1 divides by zero in `total`: a production run fails there; the editor fixes it as version 2.
DEBUG_WORKFLOW = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}},
        {
            "id": "greet",
            "type": "log",
            "config": {"message": "Hello {{ trigger.name }}"},
            "position": {"x": 260, "y": 0},
        },
        {
            "id": "total",
            "type": "log",
            "config": {"message": "{{ trigger.amount / 0 }}"},
            "position": {"x": 520, "y": 0},
        },
        {
            "id": "done",
            "type": "log",
            "config": {"message": "done: {{ nodes.total.output.message }}"},
            "position": {"x": 780, "y": 0},
        },
    ],
    "edges": [
        {"source": "start", "target": "greet"},
        {"source": "greet", "target": "total"},
        {"source": "total", "target": "done"},
    ],
    "variables": {},
}


def api_call(page: Page, method: str, url: str, body: dict | None = None) -> dict:
    return page.evaluate(
        """async ([method, url, body]) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(url, {
                method, headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                body: body === null ? undefined : JSON.stringify(body),
            });
            const answer = await response.json();
            if (!response.ok) throw new Error(JSON.stringify(answer));
            return answer;
        }""",
        [method, url, body],
    )


def status_of(page: Page, node_id: str):
    return node(page, node_id).locator(".cm-node")


def wait_finished(page: Page, status: str) -> None:
    expect(page.get_by_test_id("execution-status")).to_have_text(status, timeout=RUN_TIMEOUT_MS)


def test_pin_run_one_fix_run_up_to_debug_rerun_on_latest_and_diff(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: debug loop", DEBUG_WORKFLOW)
    # A production run (no test flag) of version 1 fails at `total`.
    failed = api_call(
        page, "POST", f"/api/v1/workflows/{workflow_id}/execute/?wait=30", {"input": {"name": "Bob", "amount": 5}}
    )
    assert failed["status"] == "failed", failed

    page.goto(f"/workflows/{workflow_id}/edit/")
    expect(page.locator(".react-flow__node")).to_have_count(4)

    # 1. Pin a trigger payload on the start node: typed JSON, checked for validity, then a badge on the canvas.
    node(page, "start").click()
    page.get_by_role("tab", name="Pinned data").click()
    pin_box = page.get_by_label("Pinned output (JSON)")
    pin_box.fill('{"name": "Ada", amount: 3}')
    expect(page.get_by_test_id("pin-error")).to_contain_text("Not valid JSON")
    pin_box.fill('{"name": "Ada", "amount": 3}')
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(node(page, "start").get_by_test_id("pin-badge")).to_be_visible()
    expect(page.get_by_test_id("toast")).to_have_text("Pinned the output of start.")
    # The pin is stored with the draft: the API shows it, and a reload keeps the badge.
    assert api_call(page, "GET", f"/api/v1/workflows/{workflow_id}/")["pins"] == {"start": {"name": "Ada", "amount": 3}}
    page.reload()
    expect(node(page, "start").get_by_test_id("pin-badge")).to_be_visible()
    expect(node(page, "greet").get_by_test_id("pin-badge")).to_have_count(0)

    # 2. Run one node from its toolbar: `greet` alone, its input from the pinned trigger; its log in the panel.
    node(page, "greet").click()
    page.get_by_test_id("node-toolbar").get_by_role("button", name="Run node", exact=True).click()
    expect(page.get_by_test_id("execution-kind")).to_have_text("test: greet alone")
    wait_finished(page, "succeeded")
    expect(status_of(page, "greet")).to_have_attribute("data-status", "succeeded")
    expect(status_of(page, "done")).not_to_have_attribute("data-status", "succeeded")
    page.get_by_role("tab", name="Last run").click()
    expect(page.get_by_test_id("node-output")).to_contain_text("Hello Ada")
    expect(page.get_by_test_id("node-logs")).to_contain_text("Hello Ada")

    # 3. Run `total` alone (Shift+Enter): it fails; fix its config, completing `trigger.am` from the pin.
    node(page, "total").click()
    page.keyboard.press("Shift+Enter")
    expect(page.get_by_test_id("execution-kind")).to_have_text("test: total alone")
    wait_finished(page, "failed")
    expect(status_of(page, "total")).to_have_attribute("data-status", "failed")
    page.get_by_role("tab", name="Config").click()
    message = page.locator(".cm-side textarea.cm-any").first
    # The server renders the field over the pinned trigger as the run would: here, the error it would hit.
    expect(page.get_by_test_id("expression-error")).to_contain_text("division")
    message.fill("")
    message.press_sequentially("{{ trigger.am")
    expect(page.get_by_test_id("completions")).to_contain_text("amount")
    message.press("Tab")
    expect(message).to_have_value("{{ trigger.amount")
    message.press_sequentially(" * 2 }}")
    expect(message).to_have_value("{{ trigger.amount * 2 }}")
    expect(page.get_by_test_id("expression-preview")).to_have_text("→ 6")
    expect(page.get_by_test_id("dirty")).to_be_visible()

    # 4. Run up to the last node (Ctrl+Shift+Enter): saved first (version 2), then the whole chain, pins used.
    node(page, "done").click()
    page.keyboard.press("Control+Shift+Enter")
    expect(page.get_by_test_id("execution-kind")).to_have_text("test: up to done")
    wait_finished(page, "succeeded")
    expect(page.get_by_test_id("workflow-version")).to_have_text("v2")
    for node_id in ("start", "greet", "total", "done"):
        expect(status_of(page, node_id)).to_have_attribute("data-status", "succeeded")
    page.get_by_role("tab", name="Last run").click()
    expect(page.get_by_test_id("node-output")).to_contain_text("done: 6")

    # 5. Open the failed production execution in the editor: its data becomes the pins of the nodes that ran.
    page.once("dialog", lambda dialog: dialog.accept())  # replace the current pins
    page.get_by_role("button", name="Executions", exact=True).click()
    row = page.get_by_role("dialog").locator(f'tr[data-execution="{failed["id"]}"]')
    row.get_by_role("button", name="Debug in editor").click()
    expect(status_of(page, "total")).to_have_attribute("data-status", "failed", timeout=RUN_TIMEOUT_MS)
    expect(node(page, "greet").get_by_test_id("pin-badge")).to_be_visible()
    expect(node(page, "total").get_by_test_id("pin-badge")).to_have_count(0)
    pins = api_call(page, "GET", f"/api/v1/workflows/{workflow_id}/")["pins"]
    assert pins["start"] == {"name": "Bob", "amount": 5}, pins
    assert set(pins) == {"start", "greet"}, pins

    # 6. Re-run it from the failed node on the latest version: a new execution, linked to the failed one.
    node(page, "total").click()
    page.get_by_role("tab", name="Last run").click()
    expect(page.get_by_test_id("node-error")).to_be_visible()
    page.get_by_role("button", name="Re-run from here on latest version").click()
    expect(page.get_by_test_id("execution-source")).to_contain_text(f"re-run of {failed['id'][:8]} from total on v2")
    wait_finished(page, "succeeded")
    expect(status_of(page, "done")).to_have_attribute("data-status", "succeeded")
    node(page, "total").click()
    expect(page.get_by_test_id("node-output")).to_contain_text("10")

    # 7. The diff between the two versions: the changed node listed with its config change, marked on the canvas.
    page.get_by_role("button", name="Compare v1 → v2").click()
    dialog = page.get_by_role("dialog", name="Version history")
    changed = dialog.locator('[data-testid="diff-changed"][data-node="total"]')
    expect(changed).to_contain_text("/config/message")
    expect(changed).to_contain_text("trigger.amount * 2")
    # Only the node whose config was edited: opening another node's form (defaults it lacks) is not an edit.
    expect(dialog.locator('[data-testid="diff-changed"]')).to_have_count(1)
    page.keyboard.press("Escape")
    expect(status_of(page, "total")).to_have_attribute("data-diff", "changed")
    expect(status_of(page, "start")).not_to_have_attribute("data-diff", re.compile("."))
    expect(page.get_by_test_id("diff-banner")).to_contain_text("from v1 to v2")
    page.get_by_test_id("diff-banner").get_by_role("button", name="Clear").click()
    expect(node(page, "total").get_by_test_id("diff-badge")).to_have_count(0)
    assert page.errors == []


def test_unpin_and_rerun_choices_on_the_execution_page(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: debug page", DEBUG_WORKFLOW)
    api_call(page, "PATCH", f"/api/v1/workflows/{workflow_id}/", {"pins": {"greet": {"message": "pinned"}}})
    failed = api_call(
        page, "POST", f"/api/v1/workflows/{workflow_id}/execute/?wait=30", {"input": {"name": "Cy", "amount": 1}}
    )
    assert failed["status"] == "failed", failed

    # Unpin from the side panel: the badge goes and the draft's pins are empty.
    page.goto(f"/workflows/{workflow_id}/edit/")
    expect(node(page, "greet").get_by_test_id("pin-badge")).to_be_visible()
    node(page, "greet").click()
    page.get_by_test_id("node-toolbar").get_by_role("button", name="Pin data").click()
    expect(page.get_by_label("Pinned output (JSON)")).to_have_value('{\n  "message": "pinned"\n}')
    page.get_by_role("button", name="Unpin").click()
    expect(node(page, "greet").get_by_test_id("pin-badge")).to_have_count(0)
    assert api_call(page, "GET", f"/api/v1/workflows/{workflow_id}/")["pins"] == {}

    # The execution page offers the same re-run choices and opens the new execution's page.
    page.goto(f"/executions/{failed['id']}/")
    expect(page.get_by_test_id("execution-status")).to_have_text("failed", timeout=RUN_TIMEOUT_MS)
    page.get_by_label("Re-run from").select_option("trigger")
    page.get_by_role("button", name=re.compile(r"^Re-run on v1$")).click()
    page.wait_for_url(re.compile(r"/executions/(?!" + failed["id"] + r")[0-9a-f-]+/$"))
    wait_finished(page, "failed")
    expect(page.get_by_test_id("execution-source")).to_contain_text(f"re-run of {failed['id'][:8]} from trigger on v1")
    # "Debug in editor" from the execution page lands in the editor with that execution shown.
    page.get_by_role("link", name="Debug in editor").click()
    page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]+/edit/$"))
    expect(status_of(page, "total")).to_have_attribute("data-status", "failed", timeout=RUN_TIMEOUT_MS)
    expect(node(page, "greet").get_by_test_id("pin-badge")).to_be_visible()
    assert page.errors == []
