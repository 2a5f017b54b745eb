"""Start-up cost of a trivial code step: a fresh sandbox per run (cold) and a warm one from the pool.

    .venv/bin/python benchmarks/sandbox_startup.py [--runs 20]

Each run is `return 1` (Python) or `return [{json: {}}]` (JavaScript) through `apps.nodes.sandbox.run`, timed from
asking for a sandbox to the answer read. Cold: pool size 0 (bubblewrap, the interpreter and its imports per run).
Warm: pool size 1, with a pause between runs so the replacement sandbox is ready, as between two steps of a real
workflow. Baselines in the same run: the bare interpreter (`python -I -S -c pass`) and bubblewrap around it.
Prints medians and 90th percentiles; never fails on them (the figures depend on the machine's load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

import py_mini_racer  # noqa: E402

from apps.nodes.sandbox import Limits, SandboxConfig, pool, run  # noqa: E402
from apps.nodes.sandbox.launcher import _default_python, _layout, bwrap_path  # noqa: E402

PAUSE = {"python": 0.5, "js": 2.0}  # longer than each start-up under load
JOBS = {
    "python": {"code": "return 1", "mode": "once", "input": None, "context": {}},
    "js": {"code": "return [{json: {}}]", "mode": "once", "input": [], "context": {}},
}


def timed(fn, runs: int, pause: float = 0.0) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.monotonic()
        fn()
        samples.append((time.monotonic() - started) * 1000)
        time.sleep(pause)
    return samples


def line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"{name:<34} median {statistics.median(samples):7.1f} ms   p90 {p90:7.1f} ms   (n={len(samples)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    python = _layout(_default_python()).executable
    bwrap = bwrap_path(SandboxConfig())
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(line("bare interpreter", timed(lambda: subprocess.run([python, "-I", "-S", "-c", "pass"]), runs)))
    wrapped = [bwrap, "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", python, "-I", "-S", "-c", "pass"]
    print(line("bubblewrap + bare interpreter", timed(lambda: subprocess.run(wrapped), runs)))
    packages = (os.path.dirname(py_mini_racer.__file__),)
    for kind in ("python", "js"):
        for size, label in ((0, "cold"), (1, "warm")):
            config = SandboxConfig(pool_size=size, packages=packages if kind == "js" else ())
            run(kind, JOBS[kind], config=config, limits=Limits())  # fills the pool, warms the caches

            def once(kind=kind, config=config) -> None:
                run(kind, JOBS[kind], config=config, limits=Limits())

            print(line(f"{kind} trivial step, {label}", timed(once, runs, PAUSE[kind] if size else 0.0)))
            pool.close()


if __name__ == "__main__":
    main()
