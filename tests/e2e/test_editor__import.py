"""The editor's Import dialog with an n8n export of several workflows: the created drafts are linked, each with
its per-node report, and the refused workflow is listed with its reason."""

import json
import re

from playwright.sync_api import Page, expect

from tests.e2e.test_editor import create_workflow
from tests.integrations import n8n_workflows

ONLY_AI = {
    "name": "Only AI",
    "nodes": [
        {
            "name": "Agent",
            "type": "@n8n/n8n-nodes-langchain.agent",
            "parameters": {},
            "position": [0, 0],
            "typeVersion": 1,
        }
    ],
    "connections": {},
}
HOME = {
    "nodes": [{"id": "log", "type": "log", "config": {"message": "home"}, "position": {"x": 0, "y": 0}}],
    "edges": [],
    "variables": {},
}


def test_an_n8n_export_of_several_shows_the_drafts_their_reports_and_the_refused(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: import from here", HOME)
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.get_by_role("button", name="Import", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Workflow JSON").fill(json.dumps([n8n_workflows.greeting_branch(), ONLY_AI]))
    dialog.get_by_test_id("import-submit").click()

    result = dialog.get_by_test_id("import-result")
    expect(result.get_by_role("status")).to_have_text("1 draft workflow created, 1 refused.")
    link = result.get_by_role("list", name="Created drafts").get_by_role("link", name="Greeting branch")
    expect(link).to_have_attribute("href", re.compile(r"^/workflows/[0-9a-f-]{36}/edit/$"))
    refused = result.get_by_role("list", name="Refused workflows")
    expect(refused).to_contain_text("Only AI")
    expect(refused).to_contain_text("No node could be translated into a trigger")
    created_report = result.get_by_role("list", name="Created drafts").locator("details")
    created_report.locator("summary").click()
    expect(created_report).to_contain_text("4 translated, 1 with changes")
    expect(created_report.locator('tr[data-outcome="translated_with_changes"]')).to_have_count(1)

    href = link.get_attribute("href")
    assert href != f"/workflows/{workflow_id}/edit/"
    link.click()
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    expect(page.locator(".cm-toolbar__title")).to_contain_text("Greeting branch")
    expect(page.get_by_test_id("workflow-status")).to_have_text("draft")
    assert page.errors == []
