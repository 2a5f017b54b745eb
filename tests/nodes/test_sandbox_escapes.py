"""The escape corpus: code that tries to get out of the sandbox, or to bring down the worker, ends in a clear
node error or a harmless result, and nothing it started or wrote survives the run.

Python cases run with every risky module the operator could allow (os, socket, ctypes, subprocess, ...):
the boundary is the kernel's (namespaces, seccomp, rlimits), not the curated import list. No case sends a
packet anywhere: a socket outside AF_UNIX is refused before it exists.
"""

from __future__ import annotations

import errno
import os
import socket
import uuid
from pathlib import Path

import pytest

import concertmaster.settings as project_settings
from apps.nodes.sandbox import Limits, SandboxError, pool
from tests.nodes.sandbox_helpers import PYTHON, js, needs_bwrap, python, sandboxes_left

pytestmark = [needs_bwrap, pytest.mark.slow]

SECRET = f"cm-secret-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _a_secret_in_the_worker_and_nothing_left_after(monkeypatch):
    monkeypatch.setenv("CM_ESCAPE_SECRET", SECRET)
    yield
    pool.close()
    assert sandboxes_left() == []


def fails(kind: str, code: str, *, limits: Limits | None = None, runner=python, **kwargs) -> SandboxError:
    with pytest.raises(SandboxError) as caught:
        runner(code, **({"limits": limits} if limits else {}), **kwargs)
    assert caught.value.kind == kind, caught.value.message
    assert caught.value.message
    return caught.value


# --- files, environment, processes of the host ------------------------------------------------------------


def test_etc_passwd_does_not_exist():
    error = fails("code", "return open('/etc/passwd').read()")

    assert "FileNotFoundError" in error.message


def test_the_environment_holds_nothing_of_the_worker():
    outcome = python("import os\nreturn dict(os.environ)")

    assert SECRET not in str(outcome.result)
    assert set(outcome.result) <= {"HOME", "LANG", "SANDBOX_MODULES", "PWD"}


def test_the_worker_s_code_and_settings_are_not_there():
    settings_file = Path(project_settings.__file__).resolve()

    error = fails("code", f"return open({str(settings_file)!r}).read()")

    assert "FileNotFoundError" in error.message


def test_the_root_holds_only_the_minimal_tree():
    outcome = python("import os\nreturn sorted(os.listdir('/'))")

    assert set(outcome.result) <= {"dev", "lib", "lib64", "proc", "root", "sandbox", "tmp", "usr"}
    assert "etc" not in outcome.result and "work" not in outcome.result


def test_the_worker_process_is_not_visible():
    host_pid = os.getpid()

    outcome = python(f"import os\nreturn [os.path.exists('/proc/{host_pid}/environ'), len(os.listdir('/proc'))]")

    pids = python("import os\nreturn [p for p in os.listdir('/proc') if p.isdigit()]").result
    assert all(int(pid) < 10 for pid in pids)  # only the sandbox's own PID namespace
    assert outcome.result[0] is False or host_pid < 10


def test_the_database_socket_of_the_machine_is_not_reachable():
    error = fails(
        "code", "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('/var/run/postgresql/.s.PGSQL.5432')"
    )

    assert "FileNotFoundError" in error.message


# --- network ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("10.0.0.1", 80), ("192.168.1.1", 443), ("192.0.2.1", 80), ("::1", 80)],
    ids=["loopback-postgres", "loopback-redis", "private-10", "private-192-168", "public", "loopback-v6"],
)
def test_internet_sockets_are_refused_before_they_exist(address):
    host, port = address
    family = "AF_INET6" if ":" in host else "AF_INET"
    code = f"import socket\ns = socket.socket(socket.{family})\ns.connect(({host!r}, {port}))"

    error = fails("code", code)

    assert "PermissionError" in error.message  # socket() answered EACCES: no packet was ever sent


def test_the_worker_s_abstract_unix_sockets_are_in_another_network_namespace():
    name = f"\0cm-escape-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(name)
        listener.listen()
        code = f"import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({name!r})\nreturn 'connected'"

        error = fails("code", code)

    assert "ConnectionRefusedError" in error.message


# --- processes ----------------------------------------------------------------------------------------------


def test_fork_is_refused():
    error = fails("code", "import os\nos.fork()")

    assert "PermissionError" in error.message


def test_spawning_a_program_is_refused():
    error = fails("code", "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'pass'])")

    assert "PermissionError" in error.message


def test_multiprocessing_is_refused():
    error = fails("code", "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\np.join()")

    assert "Error" in error.message


def test_a_thread_bomb_stops_at_the_thread_limit():
    code = (
        "import threading, time\n"
        "ts = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(500)]\n"
        "for t in ts:\n    t.start()"
    )

    error = fails("code", code)

    assert "can't start new thread" in error.message


@pytest.mark.parametrize(
    "program", ["sys.executable", "'/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'"], ids=["interpreter", "loader"]
)
def test_replacing_the_interpreter_is_refused(program):
    error = fails("code", f"import os, sys\nos.execv({program}, [{program}, '--version'])")

    assert "PermissionError" in error.message


def test_killing_every_visible_process_reaches_only_the_sandbox():
    error = fails("code", "import os, signal\nos.kill(-1, signal.SIGKILL)")

    assert "ProcessLookupError" in error.message  # nothing else is there to signal
    assert Path(f"/proc/{os.getpid()}").exists()  # the worker (this test) lives on


def test_threads_left_running_do_not_outlive_the_answer():
    code = "import threading, time\nthreading.Thread(target=time.sleep, args=(120,)).start()\nreturn 'done'"

    assert python(code).result == "done"  # and the fixture finds no sandbox process left


# --- resources ----------------------------------------------------------------------------------------------


def test_a_huge_allocation_is_a_memory_error():
    error = fails("memory", "x = bytearray(8 * 1024 ** 3)", limits=Limits(memory_mb=128))

    assert "128 MB" in error.message


def test_growing_memory_stops_at_the_limit():
    fails("memory", "rows = []\nwhile True:\n    rows.append('x' * 1_000_000)", limits=Limits(memory_mb=128))


def test_a_busy_loop_stops_at_the_cpu_limit():
    error = fails("cpu", "while True:\n    pass", limits=Limits(cpu_seconds=1, wall_seconds=30))

    assert "CPU" in error.message


def test_filling_the_disk_stops_at_the_scratch_size_and_nothing_is_left_on_the_host():
    marker = f"cm-escape-{uuid.uuid4().hex}"
    code = f"with open('/tmp/{marker}', 'wb') as f:\n    while True:\n        f.write(b'x' * 1_000_000)"

    error = fails("code", code, limits=Limits(scratch_mb=2))

    assert "OSError" in error.message or "File too large" in error.message or "No space" in error.message
    assert not Path(f"/tmp/{marker}").exists()


def test_a_written_file_is_gone_with_its_run():
    marker = f"cm-escape-{uuid.uuid4().hex}"
    python(f"open('/tmp/{marker}', 'w').write('left behind?')\nreturn 1")

    outcome = python(f"import os\nreturn os.path.exists('/tmp/{marker}')")

    assert outcome.result is False
    assert not Path(f"/tmp/{marker}").exists()


def test_writing_outside_the_scratch_folder_is_refused():
    error = fails("code", "open('/usr/lib/escape', 'w')")

    assert "OSError" in error.message or "PermissionError" in error.message


def test_a_huge_answer_is_refused():
    error = fails("output", "return 'x' * 5_000_000", limits=Limits(output_bytes=1_000_000))

    assert "1000000 bytes" in error.message


def test_printing_a_flood_keeps_only_the_log_limit():
    outcome = python("for _ in range(100_000):\n    print('spam' * 10)\nreturn 'ok'", limits=Limits(log_bytes=1000))

    assert outcome.result == "ok"
    assert len(outcome.logs) < 1100


# --- interpreter tricks -------------------------------------------------------------------------------------

LIBC = "import ctypes, ctypes.util\nlibc = ctypes.CDLL(None, use_errno=True)\n"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("libc.unshare(0x10000000)", errno.EPERM),  # CLONE_NEWUSER
        ("libc.syscall(101, 16, 1, 0, 0)", errno.EPERM),  # ptrace(PTRACE_ATTACH, 1)
        ("libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)", errno.EPERM),
        ("libc.syscall(321, 0, 0, 0)", errno.EPERM),  # bpf
        ("libc.syscall(323, 0)", errno.EPERM),  # userfaultfd
        ("libc.syscall(425, 8, 0)", errno.EPERM),  # io_uring_setup
        ("libc.syscall(57)", errno.EPERM),  # fork
    ],
    ids=["unshare", "ptrace", "mount", "bpf", "userfaultfd", "io_uring", "fork-syscall"],
)
def test_ctypes_syscalls_are_refused_by_seccomp(call, expected):
    outcome = python(f"{LIBC}result = {call}\nreturn [result, ctypes.get_errno()]")

    assert outcome.result == [-1, expected]


def test_a_ctypes_crash_ends_the_run_with_a_clear_error():
    error = fails("crashed", "import ctypes\nctypes.string_at(0)")

    assert "without an answer" in error.message


def test_the_import_gate_can_be_bypassed_but_the_kernel_holds():
    """The curated list is a convenience: the original __import__ is reachable through the gate's closure, and
    the code then finds the same empty, read-only world."""
    code = (
        "original = __builtins__.__import__.__closure__[1].cell_contents\n"
        "os = original('os')\n"
        "return [sorted(os.listdir('/')), os.path.exists('/etc/passwd'), dict(os.environ).get('CM_ESCAPE_SECRET')]"
    )

    outcome = python(code, config=PYTHON)

    assert outcome.result[1] is False and outcome.result[2] is None


def test_gc_and_frames_reach_only_the_sandbox_s_own_objects():
    code = (
        "import gc, sys\n"
        "frames = []\n"
        "f = sys._getframe()\n"
        "while f:\n    frames.append(f.f_code.co_filename)\n    f = f.f_back\n"
        "texts = [o for o in gc.get_objects() if isinstance(o, dict) and 'CM_ESCAPE_SECRET' in o]\n"
        "return [frames, len(texts)]"
    )

    outcome = python(code)

    assert outcome.result[1] == 0
    assert all(name in ("<code>", "/sandbox/child.py") for name in outcome.result[0])


def test_an_import_hook_lives_and_dies_with_its_run():
    hook = (
        "import sys\n"
        "class Hook:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        raise ImportError('hooked')\n"
        "sys.meta_path.insert(0, Hook())\n"
        "return len(sys.meta_path)"
    )
    python(hook)

    outcome = python("import sys, json\nreturn [type(f).__name__ for f in sys.meta_path]")

    assert "Hook" not in outcome.result


def test_raising_the_limits_again_is_refused():
    code = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))"

    error = fails("code", code)

    assert "ValueError" in error.message or "PermissionError" in error.message


# --- JavaScript ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "return [{json: {fs: require('fs').readFileSync('/etc/passwd', 'utf8')}}]",
        "return [{json: {env: process.env}}]",
        "return [{json: {r: fetch('http://127.0.0.1:5432')}}]",
        "return [{json: {r: new XMLHttpRequest()}}]",
        "return [{json: {r: Deno.readTextFileSync('/etc/passwd')}}]",
    ],
    ids=["require-fs", "process-env", "fetch", "xhr", "deno"],
)
def test_javascript_has_no_io(code):
    error = fails("code", code, runner=js)

    assert "Error" in error.message


def test_javascript_dynamic_import_loads_nothing():
    """A module import is a promise nobody resolves: there is no loader, and the step does not wait for it."""
    outcome = js("let loaded = null; import('fs').then(m => { loaded = m; }); return [{json: {loaded}}]")

    assert outcome.result == [{"loaded": None}]


def test_javascript_global_reach_finds_only_the_engine():
    code = (
        "const g = this.constructor.constructor('return this')();\n"
        "return [{json: {process: typeof g.process, require: typeof g.require, fetch: typeof g.fetch}}]"
    )

    outcome = js(code)

    assert outcome.result == [{"process": "undefined", "require": "undefined", "fetch": "undefined"}]


def test_javascript_prototype_pollution_stays_in_its_run():
    js("Object.prototype.polluted = 'yes'; Array.prototype.map = () => 'broken'; return []")

    outcome = js("return [{json: {clean: ({}).polluted === undefined, map: [1].map(x => x + 1)}}]")

    assert outcome.result == [{"clean": True, "map": [2]}]


def test_javascript_replacing_json_cannot_forge_the_answer():
    outcome = js('JSON.stringify = () => \'{"result": "[1]"}\'; JSON.parse = () => 0; return [{json: {real: 1}}]')

    assert outcome.result == [{"real": 1}]


def test_javascript_infinite_loop_stops_at_the_time_limit():
    fails("timeout", "while (true) {}", runner=js, limits=Limits(wall_seconds=1, cpu_seconds=30))


def test_javascript_busy_loop_stops_at_the_cpu_limit():
    error = fails("cpu", "while (true) {}", runner=js, limits=Limits(cpu_seconds=1, wall_seconds=30))

    assert "CPU" in error.message


def test_javascript_memory_exhaustion_stops_at_the_heap_limit():
    error = fails(
        "memory",
        "const a = []; while (true) { a.push(new Array(1e6).fill('x')); }",
        runner=js,
        limits=Limits(memory_mb=128, wall_seconds=30),
    )

    assert "128 MB" in error.message


def test_javascript_huge_output_is_refused():
    fails("output", "return [{json: {s: 'x'.repeat(5e6)}}]", runner=js, limits=Limits(output_bytes=1_000_000))


def test_javascript_console_flood_keeps_only_the_log_limit():
    outcome = js("for (let i = 0; i < 1e5; i++) console.log('spam'); return []", limits=Limits(log_bytes=1000))

    assert outcome.result == []
    assert len(outcome.logs) < 1100
