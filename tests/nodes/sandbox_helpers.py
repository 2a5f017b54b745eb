"""Shared by the sandbox tests: configs, a job builder, and a look at what the test process left running."""

from __future__ import annotations

import os
from pathlib import Path

import py_mini_racer
import pytest

from apps.nodes.sandbox import Limits, SandboxConfig, SandboxError, run
from apps.nodes.sandbox.launcher import SANDBOX_CHILD, bwrap_path

#: Everything an operator could open up: the corpus shows the kernel boundary holds even then.
WIDE_MODULES = (
    "os",
    "sys",
    "socket",
    "ctypes",
    "subprocess",
    "gc",
    "inspect",
    "importlib",
    "threading",
    "signal",
    "resource",
    "shutil",
    "pathlib",
    "builtins",
    "multiprocessing",
    "errno",
    "io",
)
PYTHON = SandboxConfig(pool_size=0)
PYTHON_WIDE = SandboxConfig(pool_size=0, modules=WIDE_MODULES)
JS = SandboxConfig(pool_size=0, packages=(os.path.dirname(py_mini_racer.__file__),))
QUICK = Limits(wall_seconds=20, cpu_seconds=10)


def bwrap_missing() -> bool:
    try:
        bwrap_path(SandboxConfig())
    except SandboxError:
        return True
    return False


needs_bwrap = pytest.mark.skipif(bwrap_missing(), reason="bubblewrap is not installed (apt-get install bubblewrap)")


def job(code: str, data=None, *, mode: str = "once", context: dict | None = None) -> dict:
    return {"code": code, "mode": mode, "input": data, "context": context or {}}


def python(code: str, data=None, *, config: SandboxConfig = PYTHON_WIDE, limits: Limits = QUICK, **kwargs):
    return run("python", job(code, data, **kwargs), config=config, limits=limits)


def js(code: str, data=None, *, limits: Limits = QUICK, **kwargs):
    return run("js", job(code, data, **kwargs), config=JS, limits=limits)


def sandboxes_left() -> list[int]:
    """Processes descended from this one that are sandboxes (bwrap, or the child program)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = [], [os.getpid()]
    while stack:
        for pid in children.get(stack.pop(), []):
            stack.append(pid)
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"bwrap" in cmdline or SANDBOX_CHILD.encode() in cmdline:
                found.append(pid)
    return found
