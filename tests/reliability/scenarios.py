"""The fault suite's scenarios: each runs `executions` chains on a running `Stack`, injects one fault, and
returns its `Figures`. The same functions serve the CLI (full figures, docs/reliability.md) and the CI tests
(short versions: fewer executions, shorter faults).

The fault's end is when the stopped part is started again (the worker, Redis, PostgreSQL, the whole stack,
beat), before it is ready: its own start-up time counts against the recovery.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from .harness import Figures, Stack, measure, wait_until

#: How long each counter call takes while the chains run: long enough that faults find work in flight.
CALL_SECONDS = 0.1


@dataclass
class Options:
    executions: int = 20
    #: How long the stopped part stays down (PostgreSQL: the outage; others: before the restart).
    down_seconds: float = 2.0
    #: How long after the fault's end to wait for every execution to finish before counting.
    wait_seconds: float = 90.0


def _note_ready(stack: Stack, figures: Figures, fault_end: float, what: str, wait: float) -> None:
    """Record how long after its start the restarted part answered (/health 200: a worker answers a ping): the
    part of the recovery that is start-up rather than the engine."""
    wait_until(stack.healthy, wait, "the stack's /health", poll=0.5)
    figures.notes.append(f"{what} ready (/health 200) {time.time() - fault_end:.1f} s after its start")


def _start_load(stack: Stack, options: Options, *, call_seconds: float = CALL_SECONDS) -> list[str]:
    stack.ensure_running()
    stack.counter.delay = call_seconds
    return stack.execute(options.executions)


def _some_progress(stack: Stack, executions: list[str]) -> None:
    """Wait until the chains are under way (calls made) with nodes still queued: the fault then hits work."""
    wait_until(lambda: stack.counter.total() >= max(2, len(executions) // 2), 60, "the chains to start")


def worker_sigkill_mid_node(stack: Stack, options: Options) -> Figures:
    """SIGKILL the worker (its pool processes too) while a node's HTTP call is in flight at the counter."""
    figures = Figures("worker SIGKILL mid-node", options.executions)
    executions = _start_load(stack, options, call_seconds=3.0)
    wait_until(lambda: stack.counter.in_flight >= 1, 60, "a node's call in flight")
    killed = time.time()
    stack.worker.kill()
    stack.counter.delay = CALL_SECONDS
    time.sleep(options.down_seconds)
    stack.worker.start()
    fault_end = time.time()
    figures.fault_seconds = fault_end - killed
    _note_ready(stack, figures, fault_end, "worker", options.wait_seconds)
    return measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)


def worker_sigkill_prefetched(stack: Stack, options: Options) -> Figures:
    """SIGKILL the worker while nodes are queued behind the running ones (the tasks it had reserved die with it
    unacknowledged: Redis gives them back only after its visibility timeout)."""
    figures = Figures("worker SIGKILL with prefetched tasks", options.executions)
    executions = _start_load(stack, options)
    _some_progress(stack, executions)
    wait_until(lambda: stack.queued_nodes() >= 2, 60, "queued nodes")
    killed = time.time()
    stack.worker.kill()
    time.sleep(options.down_seconds)
    stack.worker.start()
    fault_end = time.time()
    figures.fault_seconds = fault_end - killed
    _note_ready(stack, figures, fault_end, "worker", options.wait_seconds)
    return measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)


def redis_restart(stack: Stack, options: Options) -> Figures:
    """SIGKILL Redis (no persistence: every queued message is gone) and start it again on the same port."""
    figures = Figures("Redis restart without persistence", options.executions)
    executions = _start_load(stack, options)
    _some_progress(stack, executions)
    killed = time.time()
    stack.redis.kill()
    time.sleep(options.down_seconds)
    stack.start_redis()
    fault_end = time.time()
    figures.fault_seconds = fault_end - killed
    return measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)


def postgres_stopped(stack: Stack, options: Options) -> Figures:
    """Stop PostgreSQL (fast shutdown: every connection is cut) for `down_seconds`, then start it again."""
    figures = Figures(f"PostgreSQL stopped {options.down_seconds:.0f} s", options.executions)
    executions = _start_load(stack, options)
    _some_progress(stack, executions)
    stopped = time.time()
    stack.postgres.stop("fast")
    time.sleep(max(0.0, options.down_seconds - (time.time() - stopped)))
    stack.start_postgres()
    fault_end = time.time()
    figures.fault_seconds = fault_end - stopped
    return measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)


def whole_stack_killed(stack: Stack, options: Options) -> Figures:
    """SIGKILL beat, the worker, the web process and Redis, stop PostgreSQL in immediate mode (a crash: it
    recovers from its WAL at the next start), then start everything again."""
    figures = Figures("whole stack killed and restarted", options.executions)
    executions = _start_load(stack, options)
    _some_progress(stack, executions)
    killed = time.time()
    for process in (stack.beat, stack.worker, stack.web, stack.redis):
        process.kill()
    stack.postgres.stop("immediate")
    time.sleep(options.down_seconds)
    fault_end = time.time()
    stack.start_postgres()
    stack.start_redis()
    stack.web.start()
    stack.worker.start()
    stack.beat.start()
    figures.fault_seconds = fault_end - killed
    wait_until(stack.healthy, options.wait_seconds, "the restarted stack's /health", poll=0.5)
    figures.notes.append(f"/health 200 {time.time() - fault_end:.1f} s after the restart began")
    stack.wait_beat()
    figures.notes.append(f"beat running {time.time() - fault_end:.1f} s after")
    return measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)


def beat_killed(stack: Stack, options: Options) -> Figures:
    """SIGKILL beat (the reaper's clock) while the chains run, start it again after `down_seconds`."""
    figures = Figures("beat killed", options.executions)
    executions = _start_load(stack, options, call_seconds=0.5)  # the chains outlast beat's absence
    _some_progress(stack, executions)
    killed = time.time()
    stack.beat.kill()
    time.sleep(options.down_seconds)
    stack.beat.start()
    fault_end = time.time()
    figures.fault_seconds = fault_end - killed
    stack.wait_beat()
    figures.notes.append(f"beat running {time.time() - fault_end:.1f} s after its start")
    return measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)


DELIVERIES = 50


def duplicate_webhooks(stack: Stack, options: Options) -> Figures:
    """Each of `executions` webhook messages delivered 50 times at once with the same Idempotency-Key (a
    sender retrying): one execution per message, each side effect once."""
    figures = Figures(f"{DELIVERIES} duplicate webhook deliveries", options.executions)
    stack.ensure_running()
    stack.counter.delay = CALL_SECONDS
    url = f"{stack.base_url}/hooks/{stack.ids['webhook_token']}"
    started = time.time()
    messages = [f"reliability-{started:.0f}-{i}" for i in range(options.executions)]
    calls = [message for message in messages for _ in range(DELIVERIES)]

    peak = _ConnectionPeak(stack)
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=25)) as client:

        def deliver(message: str) -> tuple[str, int, str, float]:
            response = client.post(url, json={"message": message}, headers={"Idempotency-Key": message})
            retry_after = float(response.headers.get("Retry-After") or 1)
            return message, response.status_code, response.json().get("execution_id", ""), retry_after

        with peak, ThreadPoolExecutor(max_workers=25) as pool:
            answers = list(pool.map(deliver, calls))
        statuses = Tally(answer[1] for answer in answers)
        per_message = {message: {a[2] for a in answers if a[0] == message and a[2]} for message in messages}
        # A sender retries what was not taken (a 503 says when), as webhook senders do, until it is.
        retries, deadline = 0, time.time() + options.wait_seconds
        for message in [m for m, ids in per_message.items() if not ids]:
            while not per_message[message] and time.time() < deadline:
                _, _, execution, retry_after = deliver(message)
                retries += 1
                per_message[message] |= {execution} - {""}
                if not execution:
                    time.sleep(min(retry_after, 5))
    fault_end = time.time()
    figures.notes.append("answers " + ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items())))
    figures.notes.append(f"peak PostgreSQL connections {peak.peak}")
    if retries:
        figures.notes.append(f"{retries} retries of messages no copy of which was taken")
    executions = sorted({e for ids in per_message.values() for e in ids})
    created = stack.query(
        "SELECT count(*) FROM executions_workflowexecution WHERE workflow_id = %s AND created_at >= to_timestamp(%s)",
        (stack.ids["webhook"], started - 1),
    )[0][0]
    figures.extra_executions = created - len(messages)
    figures.notes.append(f"{created} executions for {len(messages)} messages")
    figures.fault_seconds = fault_end - started
    measure(stack, figures, executions, fault_end, wait_seconds=options.wait_seconds)
    figures.lost += sum(1 for ids in per_message.values() if not ids)
    return figures


class _ConnectionPeak:
    """Samples the stack's PostgreSQL connection count in the background while in use."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.peak, self.running = stack, 0, False

    def _sample(self) -> None:
        while self.running:
            with contextlib.suppress(Exception):
                count = self.stack.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
                self.peak = max(self.peak, count[0][0])
            time.sleep(0.2)

    def __enter__(self):
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()


def poison_node(stack: Stack, options: Options) -> Figures:
    """One execution whose node SIGKILLs its worker process on every run, among `executions` healthy ones:
    it must end failed after a bounded number of runs, and the others must not suffer."""
    figures = Figures("poison node (kills its worker process)", options.executions + 1)
    executions = _start_load(stack, options)
    stack.poison_marker.unlink(missing_ok=True)
    started = time.time()
    (poison,) = stack.django("start", {"workflow": stack.ids["poison"], "count": 1})["executions"]
    executions.append(poison)
    figures = measure(stack, figures, executions, started, expect_failed=(poison,), wait_seconds=options.wait_seconds)
    status = stack.statuses([poison])[poison]
    runs = stack.poison_marker.read_text().count(poison) if stack.poison_marker.exists() else 0
    figures.poison_runs = runs
    figures.poison_status = status
    if status != "failed":
        figures.lost += 1
    finished = stack.query("SELECT finished_at FROM executions_workflowexecution WHERE id = %s", (poison,))[0][0]
    figures.notes.append(
        f"poison execution {status} after {runs} runs"
        + (f", {finished.timestamp() - started:.1f} s" if finished is not None else "")
    )
    figures.fault_seconds = (finished.timestamp() if finished else time.time()) - started
    return figures


SCENARIOS = {
    "worker-sigkill-mid-node": worker_sigkill_mid_node,
    "worker-sigkill-prefetched": worker_sigkill_prefetched,
    "redis-restart": redis_restart,
    "postgres-stopped": postgres_stopped,
    "whole-stack": whole_stack_killed,
    "beat-killed": beat_killed,
    "duplicate-webhooks": duplicate_webhooks,
    "poison-node": poison_node,
}
#: Down time of the full figures (docs/reliability.md) where it is not the default.
FULL_DOWN_SECONDS = {"postgres-stopped": 30.0, "beat-killed": 20.0}
