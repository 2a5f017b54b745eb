"""The triggers dialog of a workflow that starts with a schedule node: no cron asked, the node's cron shown."""

from playwright.sync_api import Page, expect

from .test_editor import create_workflow

SCHEDULE_WORKFLOW = {
    "nodes": [
        {
            "id": "tick",
            "type": "schedule",
            "config": {"cron": "30 6 * * 1-5", "timezone": "Europe/Paris"},
            "position": {"x": 0, "y": 0},
        },
        {"id": "note", "type": "log", "config": {"message": "tick"}, "position": {"x": 260, "y": 0}},
    ],
    "edges": [{"source": "tick", "target": "note"}],
    "variables": {},
}


def test_a_schedule_start_asks_no_cron_and_shows_the_nodes(logged_in_page: Page):
    page = logged_in_page
    workflow_id = create_workflow(page, "E2E: schedule node", SCHEDULE_WORKFLOW)
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.get_by_role("button", name="Triggers", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Kind").select_option("schedule")
    expect(dialog.get_by_test_id("schedule-from-node")).to_contain_text("schedule start node tick")
    expect(dialog.get_by_label("Cron (minute hour day month weekday)")).to_have_count(0)
    page.get_by_role("button", name="Add trigger").click()
    expect(dialog.get_by_test_id("trigger-schedule")).to_have_text(
        "Cron 30 6 * * 1-5 in Europe/Paris (the schedule node tick)"
    )
