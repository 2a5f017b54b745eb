"""Run untrusted code in a bubblewrap sandbox: one fresh interpreter per run, under namespaces, seccomp and
rlimits, killed at its deadline, on cancel, or when its answer grows past the output limit.

The sandbox sees a read-only minimal tree (the C libraries, the interpreter and its standard library, the
operator's extra package folders, the time zone database), an empty /proc of its own PID namespace, a
tmpfs /tmp of a fixed size as scratch, no environment, no network (unless the operator allows it), and
runs as user 65534 without capabilities. A pool keeps warm sandboxes that have started and imported
their modules but hold no job yet; each serves one run and is discarded (nothing is shared between runs).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .seccomp import filter_program, no_exec_program

CHILD = Path(__file__).with_name("child.py")
SANDBOX_CHILD = "/sandbox/child.py"
SANDBOX_LIB = "/sandbox/lib"
SANDBOX_PACKAGES = "/sandbox/packages"
POLL_SECONDS = 0.05
DEADLINE_GRACE_SECONDS = 0.5
STDERR_KEEP = 8192
#: Stands for the seccomp program's file descriptor in a command line until the sandbox is started.
SECCOMP_FD = "{seccomp-fd}"

MSG_UNAVAILABLE = (
    "The code sandbox is unavailable: {reason}. Code steps never run unsandboxed; install bubblewrap "
    "(apt-get install bubblewrap) or set CONCERTMASTER_SANDBOX_BWRAP."
)
MSG_TIMEOUT = "The code ran past its time limit of {seconds:g} seconds and was stopped."
MSG_CANCELLED = "The code was stopped: the node was cancelled."
MSG_CPU = "The code used more than {seconds:g} seconds of CPU time and was stopped."
MSG_KILLED = (
    "The code's sandbox was killed (SIGKILL): past its CPU limit of {seconds:g} seconds, or by the system's "
    "memory killer."
)
MSG_MEMORY = "The code used more memory than the limit of {mb:g} MB."
MSG_OUTPUT = "The code's answer is over the limit of {limit} bytes."
MSG_CRASHED = "The code's sandbox ended without an answer (exit status {status}){detail}."
MSG_PROTOCOL = "The code's sandbox gave an answer that cannot be read: {error}"


class SandboxError(Exception):
    """A run that produced no result: `kind` says why (unavailable, timeout, cancelled, cpu, memory, output,
    crashed, protocol, code, syntax, not_json); `logs` holds what the code printed before it failed."""

    def __init__(self, kind: str, message: str, *, logs: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.logs = logs


@dataclass(frozen=True)
class Limits:
    """What one run may use. `processes` bounds the threads too (V8 starts a few); new processes are refused
    by seccomp whatever it says."""

    memory_mb: int = 256
    cpu_seconds: int = 10
    wall_seconds: float = 30.0
    output_bytes: int = 1024 * 1024
    log_bytes: int = 64 * 1024
    scratch_mb: int = 16
    processes: int = 64
    open_files: int = 64

    def for_child(self) -> dict:
        return {
            "memory_bytes": self.memory_mb * 1024 * 1024,
            "heap_bytes": self.memory_mb * 1024 * 1024,
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": self.wall_seconds,
            "file_bytes": self.scratch_mb * 1024 * 1024,
            "processes": self.processes,
            "open_files": self.open_files,
        }


@dataclass(frozen=True)
class SandboxConfig:
    """The operator's choices: where bubblewrap and the interpreter are, network, extra packages, pool size."""

    bwrap: str = "bwrap"
    python: str = ""
    network: bool = False
    paths: tuple[str, ...] = ()
    #: Package folders made importable by their name (the JS engine's `py_mini_racer`), nothing beside them.
    packages: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    pool_size: int = 1


@dataclass(frozen=True)
class Outcome:
    result: Any
    logs: str
    #: Seconds from asking for a sandbox to the answer read (what a trivial step costs end to end).
    seconds: float = 0.0
    warm: bool = False


@dataclass(frozen=True)
class _Layout:
    executable: str
    binds: tuple[str, ...]
    hidden: tuple[str, ...]


@lru_cache(maxsize=8)
def _layout(python: str) -> _Layout:
    """What of the interpreter's installation the sandbox needs: its binary, standard library and libpython."""
    probe = (
        "import sys, sysconfig, json; p = sysconfig.get_paths(); "
        "print(json.dumps([sys.executable, p['stdlib'], p['platstdlib'], sysconfig.get_config_var('LIBDIR') or '',"
        " p['purelib'], p['platlib']]))"
    )
    found = subprocess.run([python, "-I", "-S", "-c", probe], capture_output=True, text=True, timeout=30, check=True)
    executable, stdlib, platstdlib, libdir, purelib, platlib = json.loads(found.stdout)
    executable = os.path.realpath(executable)
    binds = {executable, os.path.realpath(stdlib), os.path.realpath(platstdlib)}
    if libdir and not os.path.realpath(libdir).startswith("/usr/lib"):
        libs = [str(p) for p in Path(libdir).glob("libpython*.so*")]
        binds.update(os.path.realpath(p) for p in libs)
    hidden = {os.path.realpath(p) for p in (purelib, platlib) if os.path.isdir(p)}
    hidden = {p for p in hidden if any(p.startswith(b + "/") for b in binds)}
    return _Layout(executable=executable, binds=tuple(sorted(binds)), hidden=tuple(sorted(hidden)))


def bwrap_path(config: SandboxConfig) -> str:
    found = shutil.which(config.bwrap)
    if not found:
        raise SandboxError("unavailable", MSG_UNAVAILABLE.format(reason=f"{config.bwrap!r} was not found"))
    return found


def command(config: SandboxConfig, kind: str, *, scratch_mb: int) -> list[str]:
    """The bubblewrap command line of one sandbox (SECCOMP_FD is replaced by the filter's fd when started)."""
    layout = _layout(config.python or _default_python())
    argv = [bwrap_path(config), "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534"]
    if config.network:
        argv.append("--share-net")
    # --die-with-parent: bubblewrap and the code die with the worker (thread) that started them, even mid-run.
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    argv += ["--ro-bind", "/usr/lib", "/usr/lib", "--ro-bind-try", "/usr/lib64", "/usr/lib64"]
    argv += ["--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
    for path in layout.binds:
        argv += ["--ro-bind", path, path]
    for path in layout.hidden:
        argv += ["--tmpfs", path]
    argv += ["--ro-bind-try", "/usr/share/zoneinfo", "/usr/share/zoneinfo"]
    argv += ["--ro-bind", str(CHILD), SANDBOX_CHILD]
    inside = []
    for index, path in enumerate(config.paths):
        argv += ["--ro-bind", os.path.realpath(path), f"{SANDBOX_LIB}/{index}"]
        inside.append(f"{SANDBOX_LIB}/{index}")
    for path in config.packages:
        argv += ["--ro-bind", os.path.realpath(path), f"{SANDBOX_PACKAGES}/{os.path.basename(path.rstrip('/'))}"]
    if config.packages:
        inside.append(SANDBOX_PACKAGES)
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(scratch_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    argv += ["--chdir", "/tmp", "--clearenv", "--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8"]
    argv += ["--setenv", "SANDBOX_MODULES", " ".join(config.modules), "--seccomp", SECCOMP_FD]
    argv += ["--setenv", "SANDBOX_NO_EXEC", base64.b64encode(no_exec_program()).decode()]
    return [*argv, "--", layout.executable, "-I", "-S", "-B", SANDBOX_CHILD, kind, *inside]


def _default_python() -> str:
    import sys

    return getattr(sys, "_base_executable", None) or sys.executable


def _spawn(argv: list[str], network: bool) -> subprocess.Popen:
    program = filter_program(network=network)
    fd = os.memfd_create("seccomp", os.MFD_CLOEXEC)
    try:
        os.write(fd, program)
        os.lseek(fd, 0, os.SEEK_SET)
        return subprocess.Popen(
            [str(fd) if part == SECCOMP_FD else part for part in argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(fd,),
            start_new_session=True,
            env={},
        )
    finally:
        os.close(fd)


class _Pool:
    """Warm sandboxes by command line, per process (a forked worker starts its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple, list[subprocess.Popen]] = {}
        self._pid = os.getpid()

    def take(self, argv: list[str], network: bool, size: int) -> tuple[subprocess.Popen, bool]:
        key = (tuple(argv), network)
        with self._lock:
            if self._pid != os.getpid():
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.setdefault(key, [])
            while idle:
                proc = idle.pop()
                if proc.poll() is None:
                    return proc, True
                _reap(proc)
        return _spawn(argv, network), False

    def refill(self, argv: list[str], network: bool, size: int) -> None:
        key = (tuple(argv), network)
        with self._lock:
            idle = self._idle.setdefault(key, [])
            while len(idle) < size:
                idle.append(_spawn(argv, network))

    def close(self) -> None:
        """Stop every warm sandbox (tests; a worker's own exit closes their stdin, which ends them)."""
        with self._lock:
            procs = [p for idle in self._idle.values() for p in idle]
            self._idle = {}
        for proc in procs:
            _kill(proc)


pool = _Pool()


def _reap(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    proc.wait()


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL bubblewrap's process group; the sandboxed process dies with it (--die-with-parent) and with it
    its PID namespace, so nothing it started survives."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    _reap(proc)


def run(
    kind: str,
    job: dict,
    *,
    config: SandboxConfig,
    limits: Limits,
    deadline: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Run one job in a fresh sandbox; its result or a SandboxError. `deadline` (monotonic) cuts the wall time
    short (the node's timeout); `cancelled()` is asked every 50 ms."""
    started = time.monotonic()
    wall = limits.wall_seconds
    if deadline is not None:
        # A moment past the node's deadline: the engine reports its own timeout and gives up (which stops the run
        # at once through `cancelled`); this bound holds where no engine watches.
        wall = max(min(wall, deadline - started + DEADLINE_GRACE_SECONDS), 0.0)
    argv = command(config, kind, scratch_mb=limits.scratch_mb)
    payload = json.dumps({**job, "limits": {**limits.for_child(), "wall_seconds": wall}, "log_bytes": limits.log_bytes})
    proc, warm = pool.take(argv, config.network, config.pool_size)
    try:
        out, err = _exchange(proc, payload.encode(), started + wall, limits, cancelled)
    except SandboxError:
        _kill(proc)
        raise
    finally:
        if config.pool_size > 0:
            pool.refill(argv, config.network, config.pool_size)
    status = proc.wait()
    _reap(proc)
    answer = _read_answer(out, err, status, limits)
    if not answer.get("ok"):
        raise SandboxError(answer.get("kind", "code"), str(answer.get("error", "")), logs=answer.get("logs", ""))
    seconds = time.monotonic() - started
    return Outcome(result=answer.get("result"), logs=answer.get("logs", ""), seconds=seconds, warm=warm)


def _exchange(
    proc: subprocess.Popen, payload: bytes, deadline: float, limits: Limits, cancelled: Callable[[], bool]
) -> tuple[bytes, bytes]:
    """Send the job, collect stdout (bounded) and stderr (its head) until both close, or raise."""
    out, err = bytearray(), bytearray()
    cap = limits.output_bytes + limits.log_bytes * 4 + 4096
    selector = selectors.DefaultSelector()
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None  # started with pipes
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        os.set_blocking(stream.fileno(), False)
    selector.register(proc.stdin, selectors.EVENT_WRITE)
    selector.register(proc.stdout, selectors.EVENT_READ)
    selector.register(proc.stderr, selectors.EVENT_READ)
    view, open_reads = memoryview(payload), 2
    try:
        while open_reads:
            now = time.monotonic()
            if now >= deadline:
                raise SandboxError("timeout", MSG_TIMEOUT.format(seconds=limits.wall_seconds))
            if cancelled():
                raise SandboxError("cancelled", MSG_CANCELLED)
            for key, _ in selector.select(min(POLL_SECONDS, deadline - now)):
                if key.fileobj is proc.stdin:
                    view = _send(proc, selector, view)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    open_reads -= 1
                elif key.fileobj is proc.stdout:
                    out += chunk
                    if len(out) > cap:
                        raise SandboxError("output", MSG_OUTPUT.format(limit=limits.output_bytes))
                elif len(err) < STDERR_KEEP:
                    err += chunk
    finally:
        selector.close()
    return bytes(out), bytes(err)


def _send(proc: subprocess.Popen, selector: selectors.BaseSelector, view: memoryview) -> memoryview:
    assert proc.stdin is not None  # started with a pipe
    try:
        written = os.write(proc.stdin.fileno(), view[:65536])
    except BrokenPipeError:
        written = len(view)
    view = view[written:]
    if not view:
        selector.unregister(proc.stdin)
        proc.stdin.close()
    return view


def _read_answer(out: bytes, err: bytes, status: int, limits: Limits) -> dict:
    if not out and status in (-signal.SIGXCPU, 128 + signal.SIGXCPU):
        raise SandboxError("cpu", MSG_CPU.format(seconds=limits.cpu_seconds))
    if not out and status in (-signal.SIGKILL, 128 + signal.SIGKILL):
        raise SandboxError("crashed", MSG_KILLED.format(seconds=limits.cpu_seconds))
    if not out:
        detail = err.decode(errors="replace").strip()[-500:]
        if "MemoryError" in detail or "Cannot allocate memory" in detail:
            raise SandboxError("memory", MSG_MEMORY.format(mb=limits.memory_mb))
        raise SandboxError("crashed", MSG_CRASHED.format(status=status, detail=f": {detail}" if detail else ""))
    if len(out) > limits.output_bytes + limits.log_bytes * 4 + 1024:
        raise SandboxError("output", MSG_OUTPUT.format(limit=limits.output_bytes))
    try:
        answer = json.loads(out)
    except ValueError as exc:
        raise SandboxError("protocol", MSG_PROTOCOL.format(error=exc)) from None
    if not isinstance(answer, dict):
        raise SandboxError("protocol", MSG_PROTOCOL.format(error="not an object"))
    if answer.get("ok") and len(json.dumps(answer.get("result"))) > limits.output_bytes:
        raise SandboxError("output", MSG_OUTPUT.format(limit=limits.output_bytes))
    if answer.get("kind") == "memory":
        answer["error"] = MSG_MEMORY.format(mb=limits.memory_mb)
    return answer
