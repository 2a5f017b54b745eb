"""Engine benchmarks with a real worker on PostgreSQL + Redis, each against raw Celery in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python benchmarks/engine_bench.py [--chain 50] [--repeat 9] [--samples 50] [--pool solo]

It runs with production settings: DEBUG off unless the environment says otherwise, and a throwaway
SECRET_KEY when none is set. DEBUG on (Django then records every query) is not what a deployment runs and
was measured slower: the raw chain with a one-row commit per task took 12.3 ms a task against 5.4 ms.

The database is created and migrated if needed. One worker process is started
(`celery -A concertmaster worker --include benchmarks.engine_plugin`, on a queue of its own) and serves both
the engine and the baseline, so the ratios compare the engine with the floor of this very stack:

- per-node overhead: a chain of --chain no-op nodes vs a raw Celery chain of --chain no-op tasks
  (`celery.chain`, each task sending the next), time per hop from the first node (task) starting to the last one
  starting, engine and raw runs alternating, the median of the pairs' ratios; target <= 3x. The end-to-end time
  per node (the execution's start and finish included) is printed beside it;
- start latency: `execution_start()` to the trigger node running, vs `apply_async()` to a raw task running;
- throughput: executions/s of a 3-node workflow with 1, 10 and 100 concurrent starts, vs raw chains of 3;
- a 200-node workflow of mixed branches (parallel splits into AND-joins, if/else whose branch not taken is
  skipped, simple merges) end to end, vs a raw chain of as many tasks as nodes ran.

Times come from the clocks of the processes involved (same machine): the start is taken here, the end is the
execution's `finished_at` (or a raw task's own timestamp in Redis), so polling adds nothing.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}")
QUEUE = f"bench-{uuid.uuid4().hex[:8]}"
#: How often this process looks for a result. Times come from the clocks of the processes that did the work, so
#: polling adds no time, only load on the machine (Redis for raw tasks, PostgreSQL for executions): the same slow
#: rate for both.
POLL_SECONDS = 0.02
os.environ["CONCERTMASTER_BENCH_QUEUE"] = QUEUE


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ensure_database() -> None:
    """Create the benchmark database if it does not exist, then migrate it."""
    import psycopg
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("The engine benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
    params = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"]}
    if db["PASSWORD"]:
        params["password"] = db["PASSWORD"]
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    call_command("migrate", verbosity=0)


def start_worker(pool: str, concurrency: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")  # noqa: SIM115 (the process owns it until the end of the run)
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "concertmaster", "worker"),
            *("--include", "benchmarks.engine_plugin", "-Q", QUEUE, "-n", f"{QUEUE}@%h"),
            *("--pool", pool, "--concurrency", str(concurrency), "--without-mingle", "--without-gossip"),
            *("-l", "WARNING"),
        ],
        cwd=BASE_DIR,
        env=os.environ.copy(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


class Bench:
    """The measurements; the worker is running and the plugin is loaded in this process too."""

    def __init__(self) -> None:
        import redis
        from django.conf import settings

        from apps.orgs.models import Organization
        from apps.orgs.services import organization_create

        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.organization = Organization.objects.filter(slug="bench").first() or organization_create(
            name="Benchmarks", slug="bench"
        )

    # --- raw Celery -----------------------------------------------------------------------------------------

    def _await_key(self, key: str, timeout: float = 120.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.redis.get(key)
            if value is not None:
                return float(value)
            time.sleep(POLL_SECONDS)
        raise RuntimeError(f"raw task {key} did not run within {timeout}s (see the worker log)")

    def _send_chain(self, task, length: int, *args, first: str = "") -> tuple[float, str]:
        """Send a raw `celery.chain` of `length` (>= 2) `task(*args)`; returns (start time, the key its last task sets
        when it runs). With `first`, the first task sets that key when it runs."""
        from celery import chain

        done = f"bench:{uuid.uuid4().hex}"
        tasks = [task.si(*args, started_key=first), *(task.si(*args) for _ in range(length - 2))]
        start = time.time()
        chain(*tasks, task.si(*args, done_key=done)).apply_async()
        return start, done

    def _hop_seconds(self, first: str, done: str, length: int) -> float:
        """Seconds per hop of a chain of `length`, from its first task running to its last one running."""
        return (self._await_key(done) - self._await_key(first)) / (length - 1)

    def raw_chain(self, length: int) -> tuple[float, str]:
        """Send a raw chain of `length` no-op tasks; returns (start time, key its last task sets)."""
        from benchmarks.engine_plugin import noop

        return self._send_chain(noop, length)

    def raw_chain_seconds(self, length: int) -> float:
        start, done = self.raw_chain(length)
        return self._await_key(done) - start

    def raw_chain_hops(self, length: int) -> tuple[float, float]:
        """(end-to-end seconds from the call, seconds per hop) of a raw chain of `length` no-op tasks."""
        from benchmarks.engine_plugin import noop

        first = f"bench:{uuid.uuid4().hex}"
        start, done = self._send_chain(noop, length, first=first)
        return self._await_key(done) - start, self._hop_seconds(first, done, length)

    def raw_write_chain_hops(self, length: int, row_id: str) -> float:
        """Seconds per hop of a raw chain whose every task commits a one-row UPDATE."""
        from benchmarks.engine_plugin import write

        first = f"bench:{uuid.uuid4().hex}"
        _, done = self._send_chain(write, length, row_id, first=first)
        return self._hop_seconds(first, done, length)

    def database_latency(self) -> dict:
        """Round trip and durable-commit latency of this database, right now (the engine's unit costs)."""
        from django.db import connection, transaction

        with connection.cursor() as cursor:
            samples = []
            for _ in range(200):
                start = time.perf_counter()
                cursor.execute("SELECT 1")
                samples.append(time.perf_counter() - start)
            commits = []
            row = self.organization.pk
            for _ in range(100):
                start = time.perf_counter()
                with transaction.atomic():
                    cursor.execute("UPDATE orgs_organization SET updated_at = updated_at WHERE id = %s", [row])
                commits.append(time.perf_counter() - start)
        return {"round_trip_ms": statistics.median(samples) * 1000, "commit_ms": statistics.median(commits) * 1000}

    def raw_start_latency(self) -> float:
        from benchmarks.engine_plugin import noop

        key = f"bench:{uuid.uuid4().hex}"
        start = time.time()
        noop.apply_async(kwargs={"started_key": key})
        return self._await_key(key) - start

    # --- the engine -----------------------------------------------------------------------------------------

    def workflow(self, definition: dict, name: str):
        from apps.workflows.services import workflow_create

        return workflow_create(
            organization=self.organization, name=f"{name} {uuid.uuid4().hex[:6]}", definition=definition
        )

    def chain_workflow(self, length: int):
        nodes = [{"id": "start", "type": "manual", "config": {}}]
        nodes += [{"id": f"n{i}", "type": "bench.noop", "config": {}} for i in range(length - 1)]
        edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
        return self.workflow({"nodes": nodes, "edges": edges}, f"chain of {length}")

    def start(self, workflow):
        from apps.executions.services import execution_start

        return execution_start(workflow=workflow, trigger_data={"amount": 150})

    def await_finished(self, execution_ids: list, timeout: float = 300.0) -> list:
        from apps.executions.models import WorkflowExecution

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = list(WorkflowExecution.objects.filter(pk__in=execution_ids).values("status", "finished_at"))
            if all(row["finished_at"] is not None for row in rows):
                failed = [row for row in rows if row["status"] != "succeeded"]
                if failed:
                    raise RuntimeError(f"{len(failed)} benchmark execution(s) did not succeed: {failed[:3]}")
                return [row["finished_at"].timestamp() for row in rows]
            time.sleep(POLL_SECONDS)
        raise RuntimeError("executions did not finish in time (see the worker log)")

    def engine_seconds(self, workflow) -> float:
        start = time.time()
        execution = self.start(workflow)
        return self.await_finished([execution.pk])[0] - start

    def engine_chain_hops(self, workflow, length: int) -> tuple[float, float]:
        """(end-to-end seconds from the `execution_start()` call to the execution finished, seconds per hop from the
        first node starting to the last one starting) for a chain from `chain_workflow(length)`."""
        from apps.executions.models import NodeExecution

        start = time.time()
        execution = self.start(workflow)
        end = self.await_finished([execution.pk])[0]
        started = dict(
            NodeExecution.objects.filter(execution=execution, node_id__in=["start", f"n{length - 2}"]).values_list(
                "node_id", "started_at"
            )
        )
        hops = (started[f"n{length - 2}"] - started["start"]).total_seconds() / (length - 1)
        return end - start, hops

    def engine_start_latency(self, workflow) -> tuple[float, float]:
        """(seconds until the trigger node runs, seconds the `execution_start()` call itself took)."""
        from apps.executions.models import NodeExecution

        start = time.time()
        execution = self.start(workflow)
        call = time.time() - start
        while True:
            started = NodeExecution.objects.filter(execution=execution, node_id="start").values_list(
                "started_at", flat=True
            )[0]
            if started is not None:
                break
            time.sleep(POLL_SECONDS)
        self.await_finished([execution.pk])
        return started.timestamp() - start, call

    def engine_throughput(self, workflow, concurrent: int) -> float:
        from django.db import connection

        def one(_):
            try:
                return self.start(workflow).pk
            finally:
                connection.close()

        start = time.time()
        with ThreadPoolExecutor(max_workers=min(concurrent, 16)) as pool:
            ids = list(pool.map(one, range(concurrent)))
        return concurrent / (max(self.await_finished(ids)) - start)

    def raw_throughput(self, concurrent: int) -> float:
        sent = [self.raw_chain(3) for _ in range(concurrent)]
        start = sent[0][0]
        return concurrent / (max(self._await_key(done) for _, done in sent) - start)


def mixed_definition(size: int = 200) -> dict:
    """Blocks of: a split into three parallel no-ops joined by an AND-join, then an if/else (always true) whose
    two-node branches meet again in a simple merge. 11 nodes a block, 2 of them skipped."""
    nodes = [{"id": "start", "type": "manual", "config": {}}]
    edges: list[dict] = []

    def add(node_id: str, node_type: str = "bench.noop", config: dict | None = None) -> str:
        nodes.append({"id": node_id, "type": node_type, "config": config or {}})
        return node_id

    def link(source: str, target: str, port: str = "main") -> None:
        edges.append({"source": source, "target": target, "source_port": port})

    tail, block = "start", 0
    while len(nodes) + 11 <= size:
        split = add(f"split{block}")
        link(tail, split)
        join = add(f"join{block}")
        for branch in range(3):
            link(split, add(f"par{block}_{branch}"))
            link(f"par{block}_{branch}", join)
        check = add(f"check{block}", "if_else", {"condition": "{{ trigger.amount > 100 }}"})
        link(join, check)
        merge = add(f"merge{block}")
        for port in ("true", "false"):
            first, second = add(f"{port}{block}_a"), add(f"{port}{block}_b")
            link(check, first, port)
            link(first, second)
            link(second, merge)
        tail, block = merge, block + 1
    while len(nodes) < size:
        node_id = add(f"tail{len(nodes)}")
        link(tail, node_id)
        tail = node_id
    return {"nodes": nodes, "edges": edges}


def measure(args) -> dict:
    bench = Bench()
    results: dict = {"chain": args.chain, "repeat": args.repeat, "pool": args.pool, "concurrency": args.concurrency}
    results["load_average"] = os.getloadavg()[0]
    from django.conf import settings

    results["debug"] = settings.DEBUG
    results["database"] = bench.database_latency()

    chain_wf = bench.chain_workflow(args.chain)
    bench.engine_seconds(chain_wf)  # warm-up: imports, caches, connections on both sides
    bench.raw_chain_seconds(args.chain)
    # Engine and raw runs alternate, so that a change in the machine's speed during the run (this is a shared
    # virtual machine) falls on both; the ratio is the median of each pair's ratio. A hop is measured from the
    # first node (task) starting to the last one starting: the cost of one more node, without the execution's
    # start and finish (measured as start latency) or the raw chain's first send.
    engine_runs, raw_runs = [], []
    for _ in range(args.repeat):
        engine_runs.append(bench.engine_chain_hops(chain_wf, args.chain))
        raw_runs.append(bench.raw_chain_hops(args.chain))
    pair_ratios = [engine[1] / raw[1] for engine, raw in zip(engine_runs, raw_runs, strict=True)]
    results["per_node"] = {
        "engine_ms": statistics.median(hops for _, hops in engine_runs) * 1000,
        "raw_ms": statistics.median(hops for _, hops in raw_runs) * 1000,
        "ratio": statistics.median(pair_ratios),
        "pair_ratios": pair_ratios,
        "engine_end_to_end_ms": statistics.median(total for total, _ in engine_runs) * 1000 / args.chain,
        "raw_end_to_end_ms": statistics.median(total for total, _ in raw_runs) * 1000 / args.chain,
    }
    row = bench.start(chain_wf).pk
    bench.await_finished([row])
    write_hops = [bench.raw_write_chain_hops(args.chain, str(row)) for _ in range(args.repeat)]
    results["per_node"]["raw_write_ms"] = statistics.median(write_hops) * 1000

    three = bench.chain_workflow(3)
    engine_samples = [bench.engine_start_latency(three) for _ in range(args.samples)]
    engine_latency = [first_node for first_node, _ in engine_samples]
    raw_latency = [bench.raw_start_latency() for _ in range(args.samples)]
    results["start_latency"] = {
        "engine_p50_ms": percentile(engine_latency, 0.5) * 1000,
        "engine_p95_ms": percentile(engine_latency, 0.95) * 1000,
        "service_call_p50_ms": percentile([call for _, call in engine_samples], 0.5) * 1000,
        "raw_p50_ms": percentile(raw_latency, 0.5) * 1000,
        "raw_p95_ms": percentile(raw_latency, 0.95) * 1000,
    }

    results["throughput"] = {}
    for concurrent in (1, 10, 100):
        engine = bench.engine_throughput(three, concurrent)
        raw = bench.raw_throughput(concurrent)
        results["throughput"][concurrent] = {"engine_per_s": engine, "raw_per_s": raw}

    big = bench.workflow(mixed_definition(200), "200 nodes")
    bench.engine_seconds(big)  # warm-up (template caches)
    big_runs = []
    for _ in range(3):
        start = time.time()
        execution = bench.start(big)
        big_runs.append(bench.await_finished([execution.pk])[0] - start)
    from apps.executions.models import NodeExecution

    ran = NodeExecution.objects.filter(execution=execution, status="succeeded").count()
    skipped = NodeExecution.objects.filter(execution=execution, status="skipped").count()
    raw_big = statistics.median(bench.raw_chain_seconds(ran) for _ in range(3))
    results["two_hundred"] = {
        "seconds": statistics.median(big_runs),
        "ran": ran,
        "skipped": skipped,
        "raw_chain_seconds": raw_big,
    }
    return results


def report(results: dict) -> None:
    per_node = results["per_node"]
    database = results["database"]
    print(
        f"Engine benchmarks (worker: --pool {results['pool']} --concurrency {results['concurrency']}; "
        f"DEBUG {'on' if results['debug'] else 'off'})"
    )
    print(
        f"Machine: load average {results['load_average']:.1f}; PostgreSQL round trip "
        f"{database['round_trip_ms']:.2f} ms, durable one-row commit {database['commit_ms']:.2f} ms"
    )
    print(f"Per-node overhead, chain of {results['chain']} no-op nodes, median of {results['repeat']} runs:")
    print(f"  engine {per_node['engine_ms']:7.2f} ms/node   raw Celery chain {per_node['raw_ms']:6.2f} ms/task")
    print(
        f"  ratio {per_node['ratio']:.2f}x, median of the pairs' ratios (target <= 3x: "
        f"{'met' if per_node['ratio'] <= 3 else 'MISSED'}); pairs: "
        + ", ".join(f"{ratio:.2f}" for ratio in per_node["pair_ratios"])
    )
    print(
        f"  end to end, start and finish included: engine {per_node['engine_end_to_end_ms']:.2f} ms/node, raw "
        f"{per_node['raw_end_to_end_ms']:.2f} ms/task "
        f"({per_node['engine_end_to_end_ms'] / per_node['raw_end_to_end_ms']:.2f}x)"
    )
    print(
        f"  second baseline, raw chain whose tasks each commit a one-row UPDATE: "
        f"{per_node['raw_write_ms']:.2f} ms/task (engine {per_node['engine_ms'] / per_node['raw_write_ms']:.2f}x)"
    )
    latency = results["start_latency"]
    print("Start latency (call to first node running):")
    print(
        f"  engine p50 {latency['engine_p50_ms']:7.2f} ms  p95 {latency['engine_p95_ms']:7.2f} ms "
        f"(of which the execution_start() call: p50 {latency['service_call_p50_ms']:.2f} ms)"
    )
    print(f"  raw    p50 {latency['raw_p50_ms']:7.2f} ms  p95 {latency['raw_p95_ms']:7.2f} ms")
    print("Throughput, 3-node workflow (executions/s):")
    for concurrent, row in results["throughput"].items():
        ratio = row["raw_per_s"] / row["engine_per_s"]
        print(
            f"  {concurrent:>3} concurrent: engine {row['engine_per_s']:7.1f}/s   raw 3-task chains "
            f"{row['raw_per_s']:7.1f}/s   ({ratio:.1f}x)"
        )
    big = results["two_hundred"]
    print(
        f"200-node workflow: {big['seconds'] * 1000:.0f} ms end to end ({big['ran']} nodes ran, {big['skipped']} "
        f"skipped; {big['seconds'] * 1000 / big['ran']:.2f} ms per node run); raw chain of {big['ran']} tasks "
        f"{big['raw_chain_seconds'] * 1000:.0f} ms ({big['seconds'] / big['raw_chain_seconds']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=50, help="nodes in the chain (at least 2: a hop needs two)")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--pool", default="solo", choices=["solo", "prefork", "threads"])
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--json", type=Path, help="Also write the results to this file.")
    args = parser.parse_args()
    if args.chain < 2:
        parser.error("--chain must be at least 2 (the overhead is measured per hop between nodes)")
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("The engine benchmark runs on Redis: set REDIS_URL (and DATABASE_URL=postgres://...).")

    import django

    django.setup()
    import benchmarks.engine_plugin  # noqa: F401  (the no-op node, raw tasks and the routing, here too)

    ensure_database()
    log_path = BASE_DIR / "var" / "engine_bench_worker.log"
    worker = start_worker(args.pool, args.concurrency, log_path)
    try:
        results = measure(args)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        from concertmaster.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(QUEUE)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
