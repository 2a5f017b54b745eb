"""Frame times of the editor: a 200-node workflow opened, panned and zoomed in headless Chromium.

    .venv/bin/python benchmarks/editor_frames.py [--runs 3]

The server is the browser tests' (`manage.py serve`, embedded mode, a scratch SQLite file with the demo
data and the 200-node workflow of tests/e2e/conftest.py). A `requestAnimationFrame` probe records every
frame while the canvas is panned three times (30 mouse steps each) and zoomed six wheel steps.

Baseline, measured in the same run and the same way: a one-node workflow. The figures depend on the
machine's load; this script prints them and never fails on them (the browser tests check what is not
timing: every node drawn, no page errors).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from tests.e2e.conftest import (  # noqa: E402 (the project root goes on the path first)
    BIG_WORKFLOW_SCRIPT,
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    USERNAME,
    free_port,
    manage,
    server_env,
    wait_until_up,
)

SMALL_WORKFLOW_SCRIPT = """
from apps.orgs.models import Organization
from apps.workflows.services import workflow_create
nodes = [{"id": "start", "type": "manual", "config": {}, "position": {"x": 0, "y": 0}}]
workflow = workflow_create(organization=Organization.objects.get(slug="demo"), name="One node",
                           definition={"nodes": nodes, "edges": [], "variables": {}})
print(workflow.pk)
"""

FRAME_PROBE = """() => {
    window.__frames = [];
    let last = performance.now();
    const tick = (now) => {
        window.__frames.push(now - last);
        last = now;
        if (window.__recording) requestAnimationFrame(tick);
    };
    window.__recording = true;
    requestAnimationFrame(tick);
}"""


def pan_and_zoom(page) -> list[float]:
    """Pan three times and zoom six wheel steps; the frame intervals recorded meanwhile, sorted."""
    page.evaluate(FRAME_PROBE)
    box = page.get_by_test_id("canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx in (300, -600, 300):
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.mouse.move(cx + dx, cy + dx / 3, steps=30)
        page.mouse.up()
    page.mouse.move(cx, cy)
    for delta in (-200, -200, -200, 300, 300, 300):
        page.mouse.wheel(0, delta)
        page.wait_for_timeout(60)
    return sorted(page.evaluate("() => { window.__recording = false; return window.__frames.slice(1); }"))


def measure(page, workflow_id: str, node_count: int) -> dict:
    page.goto(f"/workflows/{workflow_id}/edit/")
    page.locator(".react-flow__node").first.wait_for()
    opened_ms = page.evaluate("() => performance.now()")
    drawn = page.locator(".react-flow__node").count()
    frames = pan_and_zoom(page)
    return {
        "open_ms": opened_ms,
        "frames": len(frames),
        "p50": statistics.median(frames),
        "p95": frames[max(int(len(frames) * 0.95) - 1, 0)],
        "max": frames[-1],
        "drawn": drawn,
        "nodes": node_count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurements of each workflow (default 3)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as scratch:
        env = server_env(Path(scratch) / "bench.sqlite3")
        manage(env, "migrate", "--noinput")
        manage(env, "bootstrap_demo")
        big = manage(env, "shell", "-c", BIG_WORKFLOW_SCRIPT).strip().splitlines()[-1]
        small = manage(env, "shell", "-c", SMALL_WORKFLOW_SCRIPT).strip().splitlines()[-1]
        port = free_port()
        log = Path(scratch) / "server.log"
        with log.open("w") as out:
            server = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base_url}/static/editor/editor.css", server, log)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=base_url)
                page = context.new_page()
                page.goto("/admin/login/?next=/admin/")
                page.fill("#id_username", USERNAME)
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url("**/admin/")
                results = {"200 nodes": [], "1 node (baseline)": []}
                for _ in range(args.runs):
                    results["200 nodes"].append(measure(page, big, 200))
                    results["1 node (baseline)"].append(measure(page, small, 1))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=15)
    report(results)


def report(results: dict[str, list[dict]]) -> None:
    print(f"load average: {os.getloadavg()[0]:.1f}")
    medians = {}
    for name, runs in results.items():
        median = {
            key: statistics.median(run[key] for run in runs) for key in ("open_ms", "frames", "p50", "p95", "max")
        }
        medians[name] = median
        per_run = ", ".join(f"{run['p95']:.1f}" for run in runs)
        print(
            f"{name}: open {median['open_ms']:.0f} ms; {median['frames']:.0f} frames, p50 {median['p50']:.1f} ms, "
            f"p95 {median['p95']:.1f} ms, max {median['max']:.1f} ms (median of {len(runs)} runs; "
            f"p95 per run {per_run}; drawn {runs[0]['drawn']})"
        )
    big, small = medians["200 nodes"], medians["1 node (baseline)"]
    print(
        f"docs/benchmarks.md: | 200 nodes | open {big['open_ms']:.0f} ms | p50 {big['p50']:.1f} ms | "
        f"p95 {big['p95']:.1f} ms ({big['p95'] / small['p95']:.1f}x the 1-node p95 of {small['p95']:.1f} ms) | "
        f"max {big['max']:.1f} ms |"
    )


if __name__ == "__main__":
    main()
