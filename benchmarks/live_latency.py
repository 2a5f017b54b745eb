"""Latency of live updates: from an event's commit to its receipt by WebSocket clients (PostgreSQL + Redis).

    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python benchmarks/live_latency.py [--clients 1,100,500] [--events 200] [--interval 0.02]

Three processes: one server (`manage.py serve --no-worker`, uvicorn, channels-redis), one client process
holding every WebSocket connection (the `websockets` client, all on `/ws/executions/<id>/`), and this
process, which plays the worker: it appends ExecutionEvent rows, one transaction each, and hands them on
commit to the engine's publisher thread exactly as the engine does (`runtime.publisher`, which sends what
has committed meanwhile in one message per group). The commit time is taken by an on_commit callback
registered before the hand-over, the receipt time by the client when it reads the frame (wall clock, same
machine).

Baseline, measured in the same run: Redis PUBLISH from this process to a subscriber in the client
process, the floor for any cross-process message on this broker. The target (issue 6): p95 < 50 ms at
100 clients on one server process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")

BASELINE_CHANNEL = "concertmaster-bench-baseline"


# --- the client process ----------------------------------------------------------------------------------


async def _client(url: str, token: str, expected: int, ready: asyncio.Event, received: list, connected: list):
    from websockets.asyncio.client import connect

    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_queue=None) as ws:
        json.loads(await ws.recv())  # the snapshot
        connected.append(1)
        ready.set()
        seen = 0
        while seen < expected:
            frame = await ws.recv()
            now = time.time()
            message = json.loads(frame)
            if message["type"] == "ping":
                continue
            received.append((message["seq"], now))
            seen += 1


async def _baseline_subscriber(redis_url: str, expected: int, received: list, ready: asyncio.Event) -> None:
    import redis.asyncio as redis

    client = redis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(BASELINE_CHANNEL)
    ready.set()
    while len(received) < expected:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None:
            received.append((int(message["data"]), time.time()))
    await pubsub.aclose()
    await client.aclose()


async def _client_main(args) -> None:
    """Open every connection, say READY, collect receipts, write them to --out."""
    received: list = []
    connected: list = []
    baseline: list = []
    baseline_ready = asyncio.Event()
    tasks = [asyncio.create_task(_baseline_subscriber(args.redis_url, args.events, baseline, baseline_ready))]
    for _ in range(args.clients):
        tasks.append(
            asyncio.create_task(_client(args.url, args.token, args.events, asyncio.Event(), received, connected))
        )
    deadline = time.monotonic() + 120
    while len(connected) < args.clients or not baseline_ready.is_set():
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(connected)} of {args.clients} clients connected")
        await asyncio.sleep(0.05)
    print("READY", flush=True)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.events * args.interval + 120)
    Path(args.out).write_text(json.dumps({"events": received, "baseline": baseline}))


# --- this process: setup, the producer, the report ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("The server did not start") from None
            time.sleep(0.1)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    quantiles = statistics.quantiles(samples_ms, n=100, method="inclusive")
    return {"p50": quantiles[49], "p95": quantiles[94], "p99": quantiles[98], "max": max(samples_ms)}


def _fixture():
    """An organization, a member with a JWT, and a running execution to append events to."""
    from django.contrib.auth import get_user_model
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.executions.models import WorkflowExecution
    from apps.orgs.services import membership_set, organization_create
    from apps.workflows.services import workflow_create

    suffix = os.urandom(4).hex()
    organization = organization_create(name="Latency benchmark", slug=f"bench-live-{suffix}")
    user = get_user_model().objects.create_user(f"bench-live-{suffix}", password=os.urandom(8).hex())
    membership_set(organization=organization, user=user, role="member")
    definition = {"nodes": [{"id": "start", "type": "manual", "config": {}}], "edges": []}
    workflow = workflow_create(organization=organization, name="latency", definition=definition)
    execution = WorkflowExecution.objects.create(
        organization=organization, workflow=workflow, version=workflow.latest_version, status="running"
    )
    return organization, user, execution, str(AccessToken.for_user(user))


def _produce(execution, count: int, interval: float) -> dict[int, float]:
    """Append and publish `count` events like the engine does; return each one's commit time."""
    from django.db import transaction
    from django.utils import timezone

    from apps.executions.engine.runtime import publisher
    from apps.executions.models import ExecutionEvent, WorkflowExecution

    committed: dict[int, float] = {}
    for seq in range(1, count + 1):
        with transaction.atomic():
            event = ExecutionEvent.objects.create(
                organization_id=execution.organization_id,
                execution=execution,
                seq=seq,
                type="node_succeeded",
                node_id=f"n{seq}",
                data={"output": {"i": seq}},
                at=timezone.now(),
            )
            WorkflowExecution.objects.filter(pk=execution.pk).update(last_seq=seq)
            transaction.on_commit(lambda seq=seq: committed.__setitem__(seq, time.time()))
            transaction.on_commit(lambda event=event: publisher.put([event]))
        time.sleep(interval)
    return committed


def _produce_baseline(redis_url: str, count: int, interval: float) -> dict[int, float]:
    import redis

    client = redis.from_url(redis_url)
    sent: dict[int, float] = {}
    for seq in range(1, count + 1):
        sent[seq] = time.time()
        client.publish(BASELINE_CHANNEL, str(seq))
        time.sleep(interval)
    client.close()
    return sent


def _run_round(clients: int, args, token: str, execution, port: int, server_pid: int) -> dict:
    from apps.executions.models import ExecutionEvent, WorkflowExecution

    ExecutionEvent.objects.filter(execution=execution).delete()
    WorkflowExecution.objects.filter(pk=execution.pk).update(last_seq=0)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    command = [sys.executable, __file__, "--client", "--url", f"ws://127.0.0.1:{port}/ws/executions/{execution.pk}/"]
    command += ["--token", token, "--clients", str(clients), "--events", str(args.events)]
    command += ["--interval", str(args.interval), "--redis-url", os.environ["REDIS_URL"], "--out", out_path]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = client.stdout.readline().strip()
        if line != "READY":
            raise SystemExit(f"The client process failed to connect ({line!r})")
        server_cpu, client_cpu, started = _cpu_seconds(server_pid), _cpu_seconds(client.pid), time.monotonic()
        committed = _produce(execution, args.events, args.interval)
        sent = _produce_baseline(os.environ["REDIS_URL"], args.events, args.interval)
        # The client exits once every connection has every event; sample its CPU until then.
        client_cpu_now = client_cpu
        while client.poll() is None:
            try:
                client_cpu_now = _cpu_seconds(client.pid)
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        server_cpu = (_cpu_seconds(server_pid) - server_cpu) / elapsed
        client_cpu = (client_cpu_now - client_cpu) / elapsed
        if client.wait(timeout=args.events * args.interval * 2 + 180) != 0:
            raise SystemExit("The client process failed")
    finally:
        if client.poll() is None:
            client.kill()
    results = json.loads(Path(out_path).read_text())
    os.unlink(out_path)
    latencies = [(at - committed[seq]) * 1000 for seq, at in results["events"]]
    baseline = [(at - sent[seq]) * 1000 for seq, at in results["baseline"]]
    expected = clients * args.events
    return {"clients": clients, "live": _percentiles(latencies), "baseline": _percentiles(baseline),
            "received": len(latencies), "expected": expected, "server_cpu": server_cpu,
            "client_cpu": client_cpu}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,100,500")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between two events")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.clients = int(args.clients)
        asyncio.run(_client_main(args))
        return
    if not os.environ.get("REDIS_URL") or not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL (PostgreSQL) and REDIS_URL: this measures the production path.")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    organization, user, execution, token = _fixture()
    port = _free_port()
    log_path = Path(tempfile.gettempdir()) / f"live-latency-server-{port}.log"
    command = [sys.executable, str(BASE_DIR / "manage.py"), "serve", "--no-worker", "--port", str(port)]
    with log_path.open("w") as server_log:
        server = subprocess.Popen(command, stdout=server_log, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port)
            rounds = [_run_round(int(n), args, token, execution, port, server.pid) for n in args.clients.split(",")]
        except BaseException:
            print(f"The server's output is in {log_path}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=15)
            execution.delete()  # its version is protected while an execution pins it
            organization.delete()
            user.delete()
    print(f"Live latency, commit -> client receipt: {args.events} events, one every {args.interval * 1000:.0f} ms")
    print("  clients   p50 ms   p95 ms   p99 ms   max ms  received       CPU server/clients | pub/sub floor p50/p95 ms")
    for r in rounds:
        live, floor = r["live"], r["baseline"]
        print(
            f"  {r['clients']:>7} {live['p50']:8.1f} {live['p95']:8.1f} {live['p99']:8.1f} {live['max']:8.1f}"
            f"  {r['received']:>6}/{r['expected']:<6}  {r['server_cpu']:5.0%} / {r['client_cpu']:5.0%}"
            f"   | {floor['p50']:5.2f} / {floor['p95']:6.2f}"
            f"   (p50 {live['p50'] / floor['p50']:.0f}x the floor)"
        )
    at_100 = next((r for r in rounds if r["clients"] == 100), None)
    if at_100 is not None:
        verdict = "met" if at_100["live"]["p95"] < 50 else "MISSED"
        print(f"  target p95 < 50 ms at 100 clients: {verdict} ({at_100['live']['p95']:.1f} ms)")


if __name__ == "__main__":
    main()
