"""The editor's smaller behaviours in a real browser: read-only pages, clipboard across workflows, layout on
open, labelled any-value fields in the declared order, save conflicts, drafts and node wait times."""

import json
import re

from playwright.sync_api import Page, expect

from apps.nodes.registry import registry

from .conftest import manage
from .test_editor import RUN_TIMEOUT_MS, connect, create_workflow, node

VIEWER_SESSION_SCRIPT = """
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from apps.orgs.models import Organization
from apps.orgs.services import membership_set
user, _ = get_user_model().objects.get_or_create(username="e2e-viewer")
membership_set(organization=Organization.objects.get(slug="demo"), user=user, role="viewer")
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key)
"""

CHAIN = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "check", "type": "if_else", "config": {"condition": "{{ trigger.amount > 100 }}"}},
        {"id": "call", "type": "http_request", "config": {"method": "POST", "url": "https://example.com/hook"}},
        {"id": "note", "type": "log", "config": {"message": "done"}},
    ],
    "edges": [
        {"source": "start", "target": "check"},
        {"source": "check", "source_port": "true", "target": "call"},
        {"source": "call", "target": "note"},
    ],
    "variables": {"threshold": 100},
}


def stacked(definition: dict) -> dict:
    """The same graph with every node on one spot."""
    nodes = [{**n, "position": {"x": 40, "y": 40}} for n in definition["nodes"]]
    return {**definition, "nodes": nodes}


def test_a_viewer_opens_the_editor_read_only(logged_in_page: Page, live_server_info, browser):
    workflow_id = create_workflow(logged_in_page, "E2E: viewed", CHAIN)
    session_key = manage(live_server_info["env"], "shell", "-c", VIEWER_SESSION_SCRIPT).strip().splitlines()[-1]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server_info["base_url"])
    context.add_cookies([{"name": "sessionid", "value": session_key, "url": live_server_info["base_url"]}])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"/workflows/{workflow_id}/edit/")
        expect(page.get_by_test_id("read-only")).to_contain_text("Read-only")
        expect(page.get_by_test_id("read-only")).to_contain_text("You can view this workflow but not change it")
        expect(page.locator(".react-flow__node")).to_have_count(4)
        expect(page.locator(".cm-palette")).to_have_count(0)
        expect(page.get_by_text("Drag node types")).to_have_count(0)
        expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
        expect(page.get_by_label("Workflow variables (JSON)")).to_be_disabled()

        # Nothing moves (a drag pans the view instead), connects or goes away.
        def offset():
            note, call = node(page, "note").bounding_box(), node(page, "call").bounding_box()
            return round(note["x"] - call["x"]), round(note["y"] - call["y"])

        before = offset()
        box = node(page, "note").bounding_box()
        page.mouse.move(box["x"] + 60, box["y"] + 20)
        page.mouse.down()
        page.mouse.move(box["x"] + 260, box["y"] + 220, steps=10)
        page.mouse.up()
        assert offset() == before
        node(page, "note").click()
        page.keyboard.press("Delete")
        expect(page.locator(".react-flow__node")).to_have_count(4)
        connect(page, "start", "note")
        expect(page.locator(".react-flow__edge")).to_have_count(3)

        # The config form is shown, disabled.
        node(page, "call").click()
        page.get_by_role("tab", name="Config").click()
        expect(page.locator(".cm-side .cm-form")).to_be_visible()
        fields = page.locator(".cm-side .cm-form").locator("input, textarea, select")
        assert fields.count() > 3
        for i in range(fields.count()):
            expect(fields.nth(i)).to_be_disabled()
        assert errors == []
    finally:
        context.close()


def test_the_execution_page_says_it_is_read_only(logged_in_page: Page):
    page = logged_in_page
    short = {**CHAIN, "nodes": CHAIN["nodes"][:2], "edges": CHAIN["edges"][:1]}
    workflow_id = create_workflow(page, "E2E: run view", short)
    execution_id = page.evaluate(
        """async (id) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(`/api/v1/workflows/${id}/execute/`, {
                method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                body: JSON.stringify({input: {amount: 5}}),
            });
            return (await response.json()).id;
        }""",
        workflow_id,
    )
    page.goto(f"/executions/{execution_id}/")
    expect(page.get_by_test_id("execution-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("read-only")).to_contain_text("Read-only")
    expect(page.get_by_test_id("read-only")).to_contain_text("Execution view")
    expect(page.locator(".cm-palette")).to_have_count(0)
    expect(page.get_by_text("Drag node types")).to_have_count(0)
    expect(page.get_by_label("Workflow variables (JSON)")).to_be_disabled()
    # How long it ran (and, from servers that report it, waited) is on the node and in its details.
    expect(node(page, "check").get_by_test_id("node-timing")).to_have_text(re.compile(r"\d+(\.\d+)? m?s"))
    node(page, "check").click()
    page.get_by_role("tab", name="Config").click()
    expect(page.locator(".cm-side textarea.cm-any")).to_be_disabled()
    assert page.errors == []


def test_nodes_stacked_on_one_spot_are_laid_out_when_opened(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: stacked", stacked(CHAIN))
    page.goto(f"/workflows/{workflow_id}/edit/")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    boxes = {n: node(page, n).bounding_box() for n in ("start", "check", "call", "note")}
    xs = [boxes[n]["x"] for n in ("start", "check", "call", "note")]
    assert xs == sorted(xs) and len(set(xs)) == 4, boxes
    # Laying out on open is not an edit.
    expect(page.get_by_test_id("dirty")).to_have_count(0)
    assert page.errors == []


def test_config_forms_keep_the_declared_order_and_label_any_value_fields(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: forms", CHAIN)
    page.goto(f"/workflows/{workflow_id}/edit/")
    node(page, "call").click()
    form = page.locator(".cm-side .cm-form")
    expect(form).to_be_visible()
    # The order the class declares, not what the database kept (jsonb reorders keys: run with
    # E2E_DATABASE_URL=postgres://... to check that too).
    declared = list(registry.get("http_request").config_schema["properties"])
    ids = form.locator("[id^='cfg-call_']").evaluate_all("(elements) => elements.map((e) => e.id)")
    shown = []
    for element_id in ids:
        rest = element_id.removeprefix("cfg-call_")
        names = [name for name in declared if rest == name or rest.startswith(f"{name}_")]
        if names and max(names, key=len) not in shown:
            shown.append(max(names, key=len))
    assert shown == [name for name in declared if name in shown], shown
    assert shown[:3] == ["method", "url", "headers"], shown
    # `json` takes any value: labelled, several lines, JSON parsed when it parses.
    json_box = form.get_by_label("json", exact=True)
    expect(json_box).to_be_visible()
    assert int(json_box.get_attribute("rows")) >= 3
    json_box.fill('{"amount": 5,\n "ok": true}')
    expect(json_box).to_have_value('{"amount": 5,\n "ok": true}')
    node(page, "check").click()
    condition = page.locator(".cm-side .cm-form").get_by_label("condition")
    expect(condition).to_have_value("{{ trigger.amount > 100 }}")
    assert int(condition.get_attribute("rows")) >= 3
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("dirty")).to_have_count(0)
    stored = page.evaluate(
        "async (id) => (await (await fetch(`/api/v1/workflows/${id}/`)).json()).definition", workflow_id
    )
    call = next(n for n in stored["nodes"] if n["id"] == "call")
    assert call["config"]["json"] == {"amount": 5, "ok": True}
    assert page.errors == []


def test_copy_in_one_workflow_and_paste_in_another(logged_in_page: Page, live_server_info):
    page = logged_in_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_info["base_url"])
    source_id = create_workflow(page, "E2E: copy from", CHAIN)
    target_id = create_workflow(page, "E2E: paste into", {**CHAIN, "nodes": CHAIN["nodes"][:1], "edges": []})
    page.goto(f"/workflows/{source_id}/edit/")
    node(page, "call").click()
    page.keyboard.down("Shift")
    node(page, "note").click()
    page.keyboard.up("Shift")
    page.keyboard.press("Control+c")
    expect(page.get_by_test_id("toast")).to_have_text("Copied 2 nodes.")
    copied = json.loads(page.evaluate("() => navigator.clipboard.readText()"))
    assert [n["id"] for n in copied["nodes"]] == ["call", "note"]
    assert copied["edges"] == [{"source": "call", "target": "note"}]

    page.goto(f"/workflows/{target_id}/edit/")
    expect(page.locator(".react-flow__node")).to_have_count(1)
    page.locator(".react-flow__pane").click(position={"x": 30, "y": 30})
    page.keyboard.press("Control+v")
    expect(page.get_by_test_id("toast")).to_have_text("Pasted 2 nodes.")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    expect(node(page, "call")).to_be_visible()
    expect(page.get_by_test_id("dirty")).to_be_visible()
    # Pasting again gives fresh ids; undoing both pastes is clean again (nothing differs from the save).
    page.keyboard.press("Control+v")
    expect(page.locator(".react-flow__node")).to_have_count(5)
    expect(node(page, "http_request")).to_be_visible()
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    expect(page.locator(".react-flow__node")).to_have_count(1)
    expect(page.get_by_test_id("dirty")).to_have_count(0)

    # Text that is not nodes is refused with a message.
    page.evaluate("() => navigator.clipboard.writeText('just some words')")
    page.keyboard.press("Control+v")
    expect(page.get_by_test_id("toast")).to_have_text("The clipboard holds no ConcertMaster nodes: nothing pasted.")
    expect(page.locator(".react-flow__node")).to_have_count(1)
    assert page.errors == []


def patch_workflow(page: Page, workflow_id: str, definition: dict) -> int:
    """A save made elsewhere (another tab, an API client): no If-Match, so it always lands."""
    return page.evaluate(
        """async ([id, definition]) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch(`/api/v1/workflows/${id}/`, {
                method: 'PATCH', headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
                body: JSON.stringify({definition}),
            });
            return response.status;
        }""",
        [workflow_id, definition],
    )


def test_a_save_conflict_offers_to_reload_or_keep_editing(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: conflict", CHAIN)
    page.goto(f"/workflows/{workflow_id}/edit/")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    if_match = []
    page.on("request", lambda r: r.method == "PATCH" and if_match.append(r.headers.get("if-match")))
    # Someone else saves (a different variable) after this editor opened the workflow.
    assert patch_workflow(page, workflow_id, {**CHAIN, "variables": {"threshold": 7}}) == 200

    node(page, "note").click()
    page.keyboard.press("Delete")
    page.get_by_role("button", name="Save", exact=True).click()
    banner = page.get_by_test_id("conflict")
    expect(banner).to_contain_text("Someone else saved this workflow since you opened it")
    assert re.fullmatch(r'"\d+"', if_match[-1] or ""), if_match
    banner.get_by_role("button", name="Keep editing").click()
    expect(banner).to_have_count(0)
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("dirty")).to_be_visible()

    page.get_by_role("button", name="Save", exact=True).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("conflict").get_by_role("button", name="Reload").click()
    # The other save is what is shown now, and saving from here works again.
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.get_by_test_id("dirty")).to_have_count(0)
    expect(page.get_by_label("Workflow variables (JSON)")).to_have_value(re.compile(r'"threshold": 7'))
    node(page, "note").click()
    page.keyboard.press("Delete")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("toast")).to_contain_text("Saved")
    expect(page.get_by_test_id("conflict")).to_have_count(0)
    assert page.errors == []


def test_a_save_with_problems_is_a_draft_marked_on_the_nodes(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: draft", CHAIN)
    page.goto(f"/workflows/{workflow_id}/edit/")
    node(page, "note").click()
    message = page.locator(".cm-side").get_by_label("message")
    message.fill("")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("draft-state")).to_have_text(re.compile(r"^Saved as draft — \d+ problems?$"))
    expect(page.get_by_test_id("dirty")).to_have_count(0)
    expect(node(page, "note").locator(".cm-node--invalid")).to_be_visible()
    message.fill("back again")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_test_id("toast")).to_contain_text("Saved as version")
    expect(page.get_by_test_id("draft-state")).to_have_count(0)
    expect(node(page, "note").locator(".cm-node--invalid")).to_have_count(0)
    assert page.errors == []


DELAYED = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "pause", "type": "delay", "config": {"seconds": 2}, "position": {"x": 260, "y": 0}},
        {"id": "after", "type": "log", "config": {"message": "later"}, "position": {"x": 520, "y": 0}},
    ],
    "edges": [{"source": "start", "target": "pause"}, {"source": "pause", "target": "after"}],
    "variables": {},
}


def test_a_delay_shows_how_long_it_waited_beside_how_long_it_ran(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: delayed", DELAYED)
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.get_by_role("button", name="▶ Run").click()
    page.get_by_test_id("run-submit").click()
    expect(page.get_by_test_id("execution-status")).to_have_text("succeeded", timeout=RUN_TIMEOUT_MS)
    timing = node(page, "pause").get_by_test_id("node-timing")
    expect(timing).to_have_text(re.compile(r"^ran \d+ ms · waited [2-9]\.\d s$"))
    node(page, "pause").click()
    page.get_by_role("tab", name="Last run").click()
    expect(page.get_by_test_id("run-timing")).to_have_text(re.compile(r"ran \d+ ms · waited [2-9]\.\d s"))
    assert page.errors == []
