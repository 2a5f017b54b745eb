"""The editor in a real browser against a real server and worker: build, validate, save, reload, run, inspect."""

import json
import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
# The README's screenshot is rewritten only when asked (CONCERTMASTER_SCREENSHOT=1), so a test run
# leaves the working tree clean; otherwise it goes to a scratch file.
SCREENSHOT = ROOT / ("docs/editor.png" if os.environ.get("CONCERTMASTER_SCREENSHOT") else "var/editor-test.png")
RUN_TIMEOUT_MS = 60_000


def node(page: Page, node_id: str):
    return page.locator(f'.react-flow__node[data-id="{node_id}"]')


def drop(page: Page, node_type: str, x: int, y: int) -> None:
    page.locator(f'[data-node-type="{node_type}"]').drag_to(
        page.get_by_test_id("canvas"), target_position={"x": x, "y": y}
    )


def connect(page: Page, source: str, target: str, source_port: str = "main") -> None:
    start = node(page, source).locator(f'.react-flow__handle.source[data-handleid="{source_port}"]').bounding_box()
    end = node(page, target).locator(".react-flow__handle.target").first.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


def record_execution_frames(page: Page) -> list[str]:
    """Collect what the execution WebSockets of `page` receive."""
    frames: list[str] = []

    def watch(socket):
        if "/ws/executions/" in socket.url:
            socket.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", watch)
    return frames


def test_build_validate_save_reload_run_and_inspect(logged_in_page: Page):
    page = logged_in_page
    page.fill("#id_name", "E2E: greet")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]+/edit/$"))
    editor_url = page.url
    expect(page.locator('[data-node-type="manual"]')).to_be_visible()

    # The palette searches across names and descriptions.
    page.fill(".cm-palette__search", "stringify")
    expect(page.locator(".cm-palette__item")).to_have_count(1)
    page.fill(".cm-palette__search", "")

    # A new workflow starts with its manual trigger; three more nodes come from the palette.
    expect(page.locator(".react-flow__node")).to_have_count(1)
    # Around the trigger, which the first fit puts in the middle of the canvas.
    drop(page, "json_stringify", 120, 120)
    drop(page, "json_parse", 120, 700)
    drop(page, "log", 600, 120)
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.get_by_test_id("dirty")).to_be_visible()

    connect(page, "start", "json_stringify")
    connect(page, "json_stringify", "json_parse")
    connect(page, "json_parse", "log")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    # Live checks: an edge closing a cycle is refused, and so is a second copy of an edge.
    connect(page, "log", "json_stringify")
    expect(page.get_by_test_id("toast")).to_have_text("This edge would create a cycle.")
    connect(page, "start", "json_stringify")
    expect(page.get_by_test_id("toast")).to_have_text("These two ports are already connected.")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    # Auto-layout (L) puts the chain in order, left to right.
    page.keyboard.press("l")
    page.wait_for_timeout(400)
    xs = [node(page, n).bounding_box()["x"] for n in ("start", "json_stringify", "json_parse", "log")]
    assert xs == sorted(xs)

    # Delete by keyboard, then undo brings the node and its edge back.
    node(page, "log").click()
    page.keyboard.press("Delete")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.locator(".react-flow__edge")).to_have_count(3)

    # The log node needs a message: validation marks the node and the field.
    page.get_by_role("button", name=re.compile("^Validate")).click()
    expect(node(page, "log").locator(".cm-node--invalid")).to_be_visible()
    node(page, "log").click()
    side = page.locator(".cm-side")
    expect(side.locator(".cm-form")).to_contain_text("message")
    expect(side.locator(".error-detail, .text-danger").first).to_be_visible()

    # Fix it through the form: an expression, marked as such.
    message = side.locator("textarea.cm-any").first
    message.fill("Hello {{ trigger.name }}")
    expect(side.locator(".cm-expr__badge")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Validate")).click()
    expect(page.get_by_test_id("toast")).to_have_text("The workflow is valid.")
    expect(node(page, "log").locator(".cm-node--invalid")).to_have_count(0)

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("toast")).to_contain_text("Saved as version 2")
    expect(page.get_by_test_id("dirty")).to_have_count(0)

    page.goto(editor_url)
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_contain_text("auto-layout")
    page.keyboard.press("Escape")
    for node_id in ("start", "json_stringify", "json_parse", "log"):
        expect(node(page, node_id)).to_be_visible()
    node(page, "log").click()
    expect(page.locator(".cm-side textarea.cm-any").first).to_have_value("Hello {{ trigger.name }}")

    page.get_by_role("button", name="▶ Run").click()
    page.get_by_label("Test input (JSON)").fill(json.dumps({"name": "Ada"}))
    frames = record_execution_frames(page)
    page.get_by_test_id("run-submit").click()
    for node_id in ("start", "json_stringify", "json_parse", "log"):
        expect(node(page, node_id).locator(".cm-node")).to_have_attribute(
            "data-status", "succeeded", timeout=RUN_TIMEOUT_MS
        )
    expect(page.get_by_test_id("execution-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    # The statuses came over the live channel: a snapshot first, then events.
    assert any('"type": "snapshot"' in f or '"type":"snapshot"' in f for f in frames), frames

    node(page, "log").click()
    page.get_by_role("tab", name="Last run").click()
    expect(page.get_by_test_id("node-output")).to_contain_text("Hello Ada")
    # The input is what json_parse handed on: the trigger's data, parsed back.
    expect(page.get_by_test_id("node-input")).to_contain_text("Ada")
    page.screenshot(path=str(SCREENSHOT))

    # Activate and deactivate; then restore the first version (the bare trigger) as the newest.
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_test_id("workflow-status")).to_have_text("active")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_test_id("workflow-status")).to_have_text("inactive")
    page.get_by_role("button", name="Versions").click()
    page.locator('tr[data-version="1"]').get_by_role("button", name="Restore").click()
    expect(page.locator(".react-flow__node")).to_have_count(1)
    expect(page.get_by_test_id("workflow-version")).to_have_text("v3")
    assert page.errors == []


def test_a_read_only_execution_page_follows_the_run(logged_in_page: Page):
    page = logged_in_page
    page.goto("/admin/")
    demo = page.evaluate(
        """async () => {
            const list = await (await fetch('/api/v1/workflows/?status=draft')).json();
            const wf = (list.results ?? list).find((w) => w.name === 'Greet and check an order');
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(`/api/v1/workflows/${wf.id}/execute/`, {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                body: JSON.stringify({input: {name: 'Grace', amount: 150}}),
            });
            return (await response.json()).id;
        }"""
    )
    page.goto(f"/executions/{demo}/")
    expect(page.get_by_test_id("execution-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(node(page, "big").locator(".cm-node")).to_have_attribute("data-status", "succeeded")
    expect(node(page, "small").locator(".cm-node")).to_have_attribute("data-status", "skipped")
    # Read-only: no palette, nothing to drag in, no save.
    expect(page.locator(".cm-palette")).to_have_count(0)
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    node(page, "greet").click()
    expect(page.get_by_test_id("node-output")).to_contain_text("Hello Grace")
    assert page.errors == []


APPROVAL_WORKFLOW = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "ask", "type": "wait_for_approval", "config": {"message": "Ship it?"}, "position": {"x": 260, "y": 0}},
        {"id": "ship", "type": "log", "config": {"message": "shipped"}, "position": {"x": 520, "y": -60}},
        {"id": "stop", "type": "log", "config": {"message": "stopped"}, "position": {"x": 520, "y": 60}},
    ],
    "edges": [
        {"source": "start", "target": "ask"},
        {"source": "ask", "source_port": "approved", "target": "ship"},
        {"source": "ask", "source_port": "rejected", "target": "stop"},
    ],
    "variables": {},
}


HOOK_WORKFLOW = {
    "nodes": [
        {"id": "hook", "type": "webhook", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "note", "type": "log", "config": {"message": "called"}, "position": {"x": 260, "y": 0}},
    ],
    "edges": [{"source": "hook", "target": "note"}],
    "variables": {},
}


def create_workflow(page: Page, name: str, definition: dict) -> str:
    return page.evaluate(
        """async ([name, definition]) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch('/api/v1/workflows/', {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                body: JSON.stringify({name, definition}),
            });
            const body = await response.json();
            if (!response.ok) throw new Error(JSON.stringify(body));
            return body.id;
        }""",
        [name, definition],
    )


def test_triggers_pause_resume_approve_history_and_cancel(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: approval", APPROVAL_WORKFLOW)
    hook_id = create_workflow(page, "E2E: hook", HOOK_WORKFLOW)
    # Trigger settings: a webhook (of a workflow starting with a webhook node) shows its URL and, once, its
    # signing secret; a schedule its cron; each says whether it is live, here not while the workflow is a draft.
    page.goto(f"/workflows/{hook_id}/edit/")
    page.get_by_role("button", name="Triggers", exact=True).click()
    page.get_by_role("button", name="Add trigger").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("/hooks/")
    expect(dialog).to_contain_text("Signing secret, shown once: whsec_")
    expect(dialog).to_contain_text("Start node: hook")
    # The start node does not require a signature: every webhook has a secret, but unsigned calls are accepted.
    expect(dialog).to_contain_text("(unsigned)")
    page.keyboard.press("Escape")
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.get_by_role("button", name="Triggers", exact=True).click()
    dialog.get_by_label("Kind").select_option("schedule")
    dialog.get_by_label("Cron (minute hour day month weekday)").fill("*/5 * * * *")
    page.get_by_role("button", name="Add trigger").click()
    expect(dialog).to_contain_text("Cron */5 * * * * in UTC")
    expect(dialog.get_by_test_id("trigger-state")).to_have_text("waiting for the workflow")
    expect(dialog).to_contain_text("activate it to start runs from this trigger")
    page.keyboard.press("Escape")

    # The admin's "Run" link lands on the editor with the Run dialog open.
    page.goto(f"/workflows/{workflow_id}/edit/?run=1")
    page.get_by_test_id("run-submit").click()
    expect(node(page, "ask").locator(".cm-node")).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT_MS)
    page.get_by_role("link", name="Open execution page").click()
    page.wait_for_url(re.compile(r"/executions/[0-9a-f-]+/$"))
    expect(node(page, "ask").locator(".cm-node")).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("execution-status")).to_have_text("running")
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_test_id("execution-status")).to_have_text("paused")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_test_id("execution-status")).to_have_text("running")
    node(page, "ask").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("execution-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(node(page, "ship").locator(".cm-node")).to_have_attribute("data-status", "succeeded")
    expect(node(page, "stop").locator(".cm-node")).to_have_attribute("data-status", "skipped")

    # Back in the editor, the workflow's executions list it; "Show" colours the canvas with it.
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.get_by_role("button", name="Executions", exact=True).click()
    row = page.get_by_role("dialog").locator("tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("succeeded")
    row.get_by_role("button", name="Show").click()
    expect(node(page, "ship").locator(".cm-node")).to_have_attribute("data-status", "succeeded")

    # A second run waits for approval again; cancelling it from the editor's bar ends it.
    page.get_by_role("button", name="▶ Run").click()
    page.get_by_test_id("run-submit").click()
    expect(node(page, "ask").locator(".cm-node")).to_have_attribute("data-status", "waiting", timeout=RUN_TIMEOUT_MS)
    page.get_by_test_id("execution-bar").get_by_role("button", name="Cancel").click()
    expect(page.get_by_test_id("execution-status")).to_have_text("cancelled", timeout=RUN_TIMEOUT_MS)
    assert page.errors == []


def test_two_hundred_nodes_are_all_drawn_and_pan_and_zoom(logged_in_page: Page, live_server_info):
    """Every node of a 200-node workflow is drawn, and panning and zooming raise no page error. How fast is
    measured by benchmarks/editor_frames.py: a wall-clock budget here would fail under load."""
    page = logged_in_page
    page.goto(f"/workflows/{live_server_info['big_workflow_id']}/edit/")
    # The first fit shows the whole graph, so even with only visible nodes rendered all 200 are drawn.
    expect(page.locator(".react-flow__node")).to_have_count(200)
    before = page.locator(".react-flow__viewport").get_attribute("style")
    box = page.get_by_test_id("canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx in (300, -600, 300):
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + dx, cy + dx / 3, steps=30)
        page.mouse.up()
    page.mouse.move(cx, cy)
    for delta in (-200, -200, -200, 300):
        page.mouse.wheel(0, delta)
        page.wait_for_timeout(60)
    expect(page.locator(".react-flow__viewport")).not_to_have_attribute("style", before or "")
    expect(page.locator(".react-flow__node").first).to_be_attached()
    assert page.errors == []
