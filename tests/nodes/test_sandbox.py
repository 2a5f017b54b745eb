"""The code sandbox itself: a run, its limits, its stops, the pool, and the same launcher as an unprivileged user."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from apps.nodes.sandbox import Limits, SandboxConfig, SandboxError, pool, run
from apps.nodes.sandbox.launcher import MSG_UNAVAILABLE
from tests.nodes.sandbox_helpers import PYTHON, QUICK, job, js, needs_bwrap, python, sandboxes_left

pytestmark = [needs_bwrap, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _nothing_survives():
    yield
    pool.close()
    assert sandboxes_left() == []


def test_a_function_body_gets_the_input_and_the_context_and_returns_json():
    outcome = python(
        "print('total', sum(input))\nreturn {'sum': sum(input), 'who': trigger['who'], 'k': vars['k']}",
        [1, 2, 3],
        context={"trigger": {"who": "ann"}, "vars": {"k": 7}},
        config=PYTHON,
    )

    assert outcome.result == {"sum": 6, "who": "ann", "k": 7}
    assert outcome.logs == "total 6\n"


def test_main_gets_only_the_names_it_asks_for_and_per_item_runs_it_once_per_item():
    code = "import math\ndef main(input, index):\n    return {'root': math.isqrt(input['n']), 'at': index}"

    outcome = python(code, [{"n": 16}, {"n": 81}], mode="per_item", config=PYTHON)

    assert outcome.result == [{"root": 4, "at": 0}, {"root": 9, "at": 1}]


def test_per_item_needs_a_list():
    with pytest.raises(SandboxError) as caught:
        python("return 1", {"a": 1}, mode="per_item", config=PYTHON)

    assert caught.value.kind == "code"
    assert "'per item' needs a list" in caught.value.message


def test_a_module_outside_the_curated_list_is_refused_by_name():
    with pytest.raises(SandboxError) as caught:
        python("import os\nreturn 1", config=PYTHON)

    assert caught.value.kind == "code"
    assert "Module 'os' is not available in a code step." in caught.value.message


def test_the_code_s_exception_names_its_line_and_keeps_what_it_printed():
    with pytest.raises(SandboxError) as caught:
        python("print('before')\nx = 1\nraise ValueError('bad row')", config=PYTHON)

    assert caught.value.kind == "code"
    assert caught.value.message.startswith("ValueError: bad row")
    assert "line 3, in main" in caught.value.message
    assert caught.value.logs == "before\n"


def test_a_syntax_error_is_reported_with_its_line():
    with pytest.raises(SandboxError) as caught:
        python("x = (\nreturn 1", config=PYTHON)

    assert caught.value.kind == "syntax"
    assert "line" in caught.value.message


def test_a_value_that_is_not_json_is_refused():
    with pytest.raises(SandboxError) as caught:
        python("return {1, 2}", config=PYTHON)

    assert caught.value.kind == "not_json"
    assert "not JSON" in caught.value.message


def test_printed_logs_are_cut_at_their_limit():
    outcome = python("print('x' * 10000)\nreturn 1", config=PYTHON, limits=Limits(log_bytes=100))

    assert outcome.logs.startswith("x" * 100)
    assert "more characters of log dropped" in outcome.logs


def test_the_wall_clock_limit_stops_a_sleeping_run():
    with pytest.raises(SandboxError) as caught:
        python("import time\ntime.sleep(60)", limits=Limits(wall_seconds=1))

    assert caught.value.kind == "timeout"


def test_the_node_deadline_stops_the_run_before_the_sandbox_limit():
    """The sandbox's own limit is a day: only the node's deadline (1 s) can end this run."""
    errors: list[SandboxError] = []

    def sleeper():
        try:
            run(
                "python",
                job("import time\ntime.sleep(86400)"),
                config=SandboxConfig(pool_size=0, modules=("time",)),
                limits=Limits(wall_seconds=86400),
                deadline=time.monotonic() + 1,
            )
        except SandboxError as error:
            errors.append(error)

    thread = threading.Thread(target=sleeper, daemon=True)
    thread.start()
    thread.join(timeout=300)  # a liveness bound, not a speed check: without the deadline it would run a day

    assert not thread.is_alive()
    assert [error.kind for error in errors] == ["timeout"]


def test_cancelling_kills_the_running_code():
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()

    with pytest.raises(SandboxError) as caught:
        run(
            "python",
            job("while True:\n    pass"),
            config=PYTHON,
            limits=Limits(wall_seconds=60, cpu_seconds=60),
            cancelled=stop.is_set,
        )

    assert caught.value.kind == "cancelled"


def test_without_bubblewrap_the_step_fails_and_never_runs_unsandboxed(tmp_path):
    marker = tmp_path / "ran"
    config = SandboxConfig(pool_size=0, bwrap=str(tmp_path / "no-such-bwrap"))

    with pytest.raises(SandboxError) as caught:
        run("python", job(f"open({str(marker)!r}, 'w')"), config=config, limits=QUICK)

    assert caught.value.kind == "unavailable"
    assert caught.value.message == MSG_UNAVAILABLE.format(reason=f"{str(tmp_path / 'no-such-bwrap')!r} was not found")
    assert not marker.exists()


def test_a_warm_sandbox_serves_one_run_and_a_fresh_one_replaces_it():
    config = SandboxConfig(pool_size=1)
    first = run("python", job("return 1"), config=config, limits=QUICK)
    # The replacement started after the first run; it serves the second, and the second's state is its own.
    second = run("python", job("return 2"), config=config, limits=QUICK)

    assert (first.result, first.warm) == (1, False)
    assert (second.result, second.warm) == (2, True)
    waiting = [proc for idle in pool._idle.values() for proc in idle]
    assert len(waiting) == 1  # one warm sandbox waits for the next run
    assert waiting[0].poll() is None


def test_a_network_allowed_by_the_operator_reaches_a_local_server():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=5)\ns.close()\nreturn 'ok'"
        config = SandboxConfig(pool_size=0, network=True, modules=("socket",))

        outcome = run("python", job(code), config=config, limits=QUICK)

    assert outcome.result == "ok"


def test_javascript_follows_the_n8n_code_node_conventions():
    code = (
        "console.log('n', $input.all().length);\n"
        "const first = $input.first().json;\n"
        "return items.map((item, i) => ({json: {v: item.json.v * 2, first: first.v, i, k: $vars.k,"
        " prev: $('fetch').first().json.ok}}));"
    )

    outcome = js(code, [{"v": 1}, {"v": 2}], context={"vars": {"k": 3}, "nodes": {"fetch": {"output": {"ok": True}}}})

    assert outcome.result == [
        {"v": 2, "first": 1, "i": 0, "k": 3, "prev": True},
        {"v": 4, "first": 1, "i": 1, "k": 3, "prev": True},
    ]
    assert outcome.logs == "n 2"


def test_javascript_per_item_gets_json_and_index():
    outcome = js("return {json: {doubled: $json.v * 2, at: $index}}", [{"v": 5}, {"v": 6}], mode="per_item")

    assert outcome.result == [{"doubled": 10, "at": 0}, {"doubled": 12, "at": 1}]


def test_a_javascript_error_is_reported_with_its_message():
    with pytest.raises(SandboxError) as caught:
        js("throw new TypeError('no rows')")

    assert caught.value.kind == "code"
    assert "TypeError: no rows" in caught.value.message


def _unprivileged_python() -> str | None:
    """A Python an unprivileged user can run (the venv's may live under /root, closed to others)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3") or ""):
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).resolve().parts[1] != "root":
            return str(Path(candidate).resolve())
    return None


@pytest.fixture
def open_folder():
    """A folder `nobody` can read (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="cm-sandbox-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root to switch to nobody")
def test_the_launcher_works_as_an_unprivileged_user(open_folder):
    """The same launcher, run by `nobody`: bubblewrap takes an unprivileged user namespace instead of root's.

    The launcher and pyseccomp are copied where `nobody` can read them (the checkout may be in root's home)."""
    interpreter = _unprivileged_python()
    if interpreter is None:
        pytest.skip("no Python outside /root for nobody to run")
    import pyseccomp

    from apps.nodes import sandbox

    shutil.copytree(Path(sandbox.__file__).parent, open_folder / "cmsandbox", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(pyseccomp.__file__, open_folder / "pyseccomp.py")  # one module
    script = open_folder / "launch.py"
    script.write_text(
        "import json\n"
        "from cmsandbox import Limits, SandboxConfig, SandboxError, run\n"
        f"config = SandboxConfig(pool_size=0, python={interpreter!r}, modules=('os',))\n"
        'code = \'import os\\nreturn {"uid": os.getuid(), "root": sorted(os.listdir("/")), "sum": sum(input)}\'\n'
        "out = run('python', {'code': code, 'mode': 'once', 'input': [1, 2], 'context': {}}, config=config,"
        " limits=Limits())\n"
        "try:\n"
        "    run('python', {'code': 'open(\"/etc/passwd\")', 'mode': 'once', 'input': None, 'context': {}},"
        " config=config, limits=Limits())\n"
        "except SandboxError as exc:\n"
        "    denied = exc.message\n"
        "print(json.dumps({'result': out.result, 'denied': denied}))\n"
    )
    for path in open_folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)

    done = subprocess.run(
        [shutil.which("runuser"), "-u", "nobody", "--", interpreter, "-B", str(script)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(open_folder)},
        cwd=open_folder,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["result"]["uid"] == 65534
    assert answer["result"]["sum"] == 3
    assert "etc" not in answer["result"]["root"]
    assert "FileNotFoundError" in answer["denied"]


def test_the_sandbox_interpreter_is_the_worker_s_own_by_default():
    assert sys.version_info >= (3, 11)
    outcome = python("import sys\nreturn list(sys.version_info[:2])")

    assert outcome.result == list(sys.version_info[:2])


def test_an_operator_package_folder_is_importable_read_only(open_folder):
    (open_folder / "pricing.py").write_text("def net(gross):\n    return round(gross / 1.2, 2)\n")
    config = SandboxConfig(pool_size=0, paths=(str(open_folder),), modules=("pricing",))
    code = (
        "import pricing\ntry:\n    open(pricing.__file__, 'a')\nexcept OSError as exc:\n    ro = type(exc).__name__\n"
        "return [pricing.net(12), ro]"
    )

    outcome = run("python", job(code), config=config, limits=QUICK)

    assert outcome.result == [10.0, "OSError"]


def test_a_killed_worker_takes_its_running_sandbox_along():
    """The launcher (standing in for a worker) is SIGKILLed mid-run: bubblewrap and the code die with it."""
    project = Path(__file__).resolve().parents[2]
    script = (
        "from apps.nodes.sandbox import Limits, SandboxConfig, run\n"
        "run('python', {'code': 'import time\\ntime.sleep(600)', 'mode': 'once', 'input': None, 'context': {}},"
        " config=SandboxConfig(pool_size=0, modules=('time',)), limits=Limits(wall_seconds=600, cpu_seconds=600))\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", script], cwd=project)
    try:
        deadline = time.monotonic() + 60
        started: list[int] = []
        while not started and time.monotonic() < deadline:
            started = [pid for pid in sandboxes_left() if b"child.py" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            time.sleep(0.05)
        assert started, "the sandbox never started"
        everything = sandboxes_left()
    finally:
        launcher.kill()
        launcher.wait()

    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in everything) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = [pid for pid in everything if Path(f"/proc/{pid}").exists() and b"Z" not in _state(pid)]
    assert alive == []


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return b"Z"


def test_python_speaking_n8n_gets_its_names_and_its_items_are_unwrapped():
    """Code that uses n8n's Python names (`_input`, `_json`, `_('node')`, `_vars`) runs as an n8n Code node."""
    once = "for item in _input.all():\n    item.json.total = item.json.qty * 2\nreturn _input.all()"
    per_item = "_input.item.json.seen = _json['qty'] > 1\nreturn _input.item"
    other = "return [{'json': {'prev': _('fetch').first().json.ok, 'k': _vars.k}}]"
    rows = [{"qty": 1}, {"qty": 3}]
    context = {"vars": {"k": 3}, "nodes": {"fetch": {"output": {"ok": True}}}}

    assert python(once, rows, config=PYTHON).result == [{"qty": 1, "total": 2}, {"qty": 3, "total": 6}]
    assert python(per_item, rows, mode="per_item", config=PYTHON).result == [
        {"qty": 1, "seen": False},
        {"qty": 3, "seen": True},
    ]
    assert python(other, rows, context=context, config=PYTHON).result == [{"prev": True, "k": 3}]


def test_python_without_n8n_names_returns_its_value_as_is():
    """A bare `_` (Python's throwaway name) does not make code n8n's."""
    assert python("for _ in range(2):\n    pass\nreturn [{'json': 1}]", config=PYTHON).result == [{"json": 1}]
