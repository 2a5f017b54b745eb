"""Whole runs in the production shape, ConcertMaster against raw Celery in one sitting (issue 15).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/run_bench.py [--runs 30] [--burst 100] [--chain 40]

Starts `manage.py serve --no-worker` (uvicorn; its connection pool on), a prefork `celery -A concertmaster worker
--concurrency 2`, and a prefork raw Celery worker (`benchmarks/raw_celery.py`, results on Redis, concurrency 2),
on the given PostgreSQL database (created and migrated if needed) and Redis. Measures, alternating raw and
ConcertMaster run by run:

- one run, trigger to result: raw `chain(noop, noop, noop).apply_async().get()` vs `POST execute?wait=30` of a
  manual trigger + three `set` nodes (p50/p95), and the same run in process (`execution_start` + `execution_wait`);
- start to first node running: `POST execute` sent to the first `set` node's `started_at` (API), and
  `execution_start` called to it (in process);
- a burst of --burst runs started at once: completions/s (raw: chains sent at once, results awaited);
- a chain of --chain nodes: time per node vs per raw task.

Prints the figures, the ratios, the machine's load average and the worker processes' RSS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ["RAW_BENCH_QUEUE"] = f"raw-bench-{uuid.uuid4().hex[:6]}"
# Runs faster than the throttles allow: the benchmark measures the path, not the rate limits.
os.environ.setdefault("CONCERTMASTER_THROTTLE_USER", "100000/min")
os.environ.setdefault("CONCERTMASTER_THROTTLE_ORGANIZATION", "100000/min")


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def chain_definition(length: int) -> dict:
    nodes = [{"id": "start", "type": "manual", "config": {}}]
    nodes += [{"id": f"n{i}", "type": "set", "config": {"values": {"i": i}}} for i in range(1, length + 1)]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


def spawn(argv: list[str], log: Path) -> subprocess.Popen:
    out = open(log, "w")  # noqa: SIM115 (the process owns it until the end)
    return subprocess.Popen(argv, cwd=BASE_DIR, env=os.environ.copy(), stdout=out, stderr=subprocess.STDOUT)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Bench:
    def __init__(self, args, base_url: str) -> None:
        from apps.orgs.services import api_key_create, organization_create
        from apps.workflows.services import workflow_create
        from benchmarks.raw_celery import noop

        self.args = args
        self.noop = noop
        org = organization_create(name="Run bench", slug=f"run-bench-{uuid.uuid4().hex[:6]}")
        _, raw_key = api_key_create(organization=org, name="bench")
        self.api = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {raw_key}"}, timeout=60)
        self.three = workflow_create(organization=org, name="three", definition=chain_definition(3))
        self.long = workflow_create(organization=org, name="long", definition=chain_definition(args.chain))

    # raw Celery
    def raw_run(self, length: int = 3) -> float:
        from celery import chain

        start = time.perf_counter()
        chain(self.noop.s(1), *(self.noop.s() for _ in range(length - 1))).apply_async().get(timeout=60)
        return time.perf_counter() - start

    def raw_burst(self, count: int) -> float:
        from celery import chain

        start = time.perf_counter()
        results = [chain(self.noop.s(1), self.noop.s(), self.noop.s()).apply_async() for _ in range(count)]
        for result in results:
            result.get(timeout=120)
        return count / (time.perf_counter() - start)

    # ConcertMaster
    def api_run(self) -> tuple[float, float]:
        from apps.executions.models import NodeExecution

        sent = time.time()
        start = time.perf_counter()
        response = self.api.post(f"/api/v1/workflows/{self.three.pk}/execute/?wait=30", json={"input": {}})
        elapsed = time.perf_counter() - start
        body = response.json()
        assert response.status_code == 200 and body["status"] == "succeeded", (response.status_code, body)
        first = NodeExecution.objects.get(execution_id=body["id"], node_id="n1").started_at.timestamp()
        return elapsed, first - sent

    def local_run(self, workflow=None) -> tuple[float, float, object]:
        from apps.executions.models import NodeExecution
        from apps.executions.services import execution_start
        from apps.executions.triggers import execution_wait

        workflow = workflow or self.three
        sent = time.time()
        start = time.perf_counter()
        execution = execution_start(workflow=workflow, trigger_data={})
        finished = execution_wait(execution_id=execution.pk, timeout=120)
        elapsed = time.perf_counter() - start
        assert finished.status == "succeeded", finished.status
        first = NodeExecution.objects.get(execution_id=execution.pk, node_id="n1").started_at.timestamp()
        return elapsed, first - sent, finished

    def cm_burst(self, count: int) -> float:
        from apps.executions.choices import EXECUTION_TERMINAL
        from apps.executions.models import WorkflowExecution
        from apps.executions.services import execution_start

        start = time.perf_counter()
        ids = [execution_start(workflow=self.three, trigger_data={}).pk for _ in range(count)]
        while WorkflowExecution.objects.filter(pk__in=ids).exclude(status__in=EXECUTION_TERMINAL).exists():
            time.sleep(0.02)
        return count / (time.perf_counter() - start)

    def measure(self) -> dict:
        runs = self.args.runs
        for _ in range(3):  # warm both sides (imports, connections, caches)
            self.raw_run()
            self.api_run()
            self.local_run()
        raw, api, api_first, local, local_first = [], [], [], [], []
        for _ in range(runs):
            raw.append(self.raw_run())
            elapsed, first = self.api_run()
            api.append(elapsed)
            api_first.append(first)
            raw.append(self.raw_run())
            elapsed, first, _ = self.local_run()
            local.append(elapsed)
            local_first.append(first)
        raw_burst = self.raw_burst(self.args.burst)
        cm_burst = self.cm_burst(self.args.burst)
        raw_burst = max(raw_burst, self.raw_burst(self.args.burst))
        cm_burst = max(cm_burst, self.cm_burst(self.args.burst))
        raw_chain, cm_chain = [], []
        for _ in range(3):
            raw_chain.append(self.raw_run(self.args.chain) / self.args.chain)
            _, _, finished = self.local_run(self.long)
            cm_chain.append((finished.finished_at - finished.started_at).total_seconds() / self.args.chain)
        return {
            "raw_p50_ms": pct(raw, 0.5) * 1000,
            "raw_p95_ms": pct(raw, 0.95) * 1000,
            "api_p50_ms": pct(api, 0.5) * 1000,
            "api_p95_ms": pct(api, 0.95) * 1000,
            "local_p50_ms": pct(local, 0.5) * 1000,
            "local_p95_ms": pct(local, 0.95) * 1000,
            "api_first_node_p50_ms": pct(api_first, 0.5) * 1000,
            "local_first_node_p50_ms": pct(local_first, 0.5) * 1000,
            "raw_burst_per_s": raw_burst,
            "cm_burst_per_s": cm_burst,
            "raw_chain_ms_per_task": statistics.median(raw_chain) * 1000,
            "cm_chain_ms_per_node": statistics.median(cm_chain) * 1000,
        }


def ensure_database() -> None:
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not os.environ.get("REDIS_URL"):
        raise SystemExit("Set DATABASE_URL=postgres://... and REDIS_URL: the production shape.")
    params = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"]}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)
    call_command("sync_node_types", verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--chain", type=int, default=40)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    import django

    django.setup()
    ensure_database()
    logs = BASE_DIR / "var"
    py = sys.executable
    web = spawn([py, "manage.py", "serve", "--no-worker", "--port", str(args.port)], logs / "run_bench_web.log")
    worker = spawn(
        [py, "-m", "celery", "-A", "concertmaster", "worker", "--concurrency", "2", "-l", "WARNING"],
        logs / "run_bench_worker.log",
    )
    raw_worker = spawn(
        [py, "-m", "celery", "-A", "benchmarks.raw_celery", "worker", "--concurrency", "2", "-l", "WARNING"],
        logs / "run_bench_raw_worker.log",
    )
    try:
        deadline = time.monotonic() + 400
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{args.port}/health", timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        time.sleep(3)  # the workers' start
        results = Bench(args, f"http://127.0.0.1:{args.port}").measure()
        results["worker_rss_mb"] = [round(rss_mb(pid), 1) for pid in children(worker.pid)]
        results["web_rss_mb"] = round(rss_mb(web.pid), 1)
    finally:
        for process in (web, worker, raw_worker):
            process.terminate()
        for process in (web, worker, raw_worker):
            process.wait(timeout=30)
    results["load_average"] = os.getloadavg()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def report(r: dict) -> None:
    print(f"load average at the end: {r['load_average']}")
    print(f"one run via API p50/p95: {r['api_p50_ms']:.1f}/{r['api_p95_ms']:.1f} ms")
    print(f"one run in process p50/p95: {r['local_p50_ms']:.1f}/{r['local_p95_ms']:.1f} ms")
    print(f"raw Celery chain of 3 p50/p95: {r['raw_p50_ms']:.1f}/{r['raw_p95_ms']:.1f} ms")
    print(f"  ratio API/raw p50: {r['api_p50_ms'] / r['raw_p50_ms']:.1f}x (goal <= 3x)")
    print(f"  ratio in-process/raw p50: {r['local_p50_ms'] / r['raw_p50_ms']:.1f}x")
    print(
        f"start -> first node running p50: API {r['api_first_node_p50_ms']:.1f} ms (goal <= 15), "
        f"in process {r['local_first_node_p50_ms']:.1f} ms"
    )
    print(
        f"burst: CM {r['cm_burst_per_s']:.1f}/s, raw {r['raw_burst_per_s']:.1f}/s, "
        f"ratio {r['cm_burst_per_s'] / r['raw_burst_per_s']:.2f} (goal >= 0.5)"
    )
    print(
        f"chain: CM {r['cm_chain_ms_per_node']:.2f} ms/node, raw {r['raw_chain_ms_per_task']:.2f} ms/task, "
        f"ratio {r['cm_chain_ms_per_node'] / r['raw_chain_ms_per_task']:.1f}x (goal <= 2x)"
    )
    print(f"worker children RSS MB: {r['worker_rss_mb']} (goal <= 150); web RSS MB: {r['web_rss_mb']}")


if __name__ == "__main__":
    main()
