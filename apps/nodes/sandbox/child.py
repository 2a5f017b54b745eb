"""The program a sandboxed interpreter runs (inside bubblewrap; it imports nothing of the project).

`python -I -S -B child.py KIND [PATH ...]`: get ready for KIND ("python" or "js": import the curated
modules, or start V8), then read one job as JSON from stdin until EOF, lower the resource limits the job
names, run the user's code once and write one JSON answer to the stdout it started with. Prints go to a
bounded log, not to stdout. An empty stdin (the worker went away, or a warm sandbox was not needed) exits.

The answer: {"ok": true, "result": ..., "logs": "..."} or {"ok": false, "kind": ..., "error": ..., "logs"}.
"""

import ast
import builtins
import inspect
import io
import json
import os
import resource
import signal
import sys
import traceback

USER_MODULE = "__code__"
#: The standard library a code step may import (the operator adds more with CONCERTMASTER_SANDBOX_PYTHON_MODULES).
CURATED = frozenset(
    [
        "array",
        "base64",
        "binascii",
        "bisect",
        "calendar",
        "cmath",
        "collections",
        "copy",
        "csv",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "hashlib",
        "heapq",
        "hmac",
        "html",
        "itertools",
        "json",
        "math",
        "operator",
        "pprint",
        "random",
        "re",
        "secrets",
        "statistics",
        "string",
        "struct",
        "textwrap",
        "time",
        "typing",
        "unicodedata",
        "urllib",
        "uuid",
        "zlib",
        "zoneinfo",
        "ipaddress",
    ]
)
JS_BASELINE_BYTES = 768 * 1024 * 1024
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
ARGUMENTS = ("input", "items", "item", "index", "trigger", "nodes", "vars", "execution")
#: n8n's Python Code-node names: code that uses one gets them, and its answer is read as n8n items.
N8N_ARGUMENTS = ("_input", "_json", "_", "_vars", "_execution")


class Log(io.TextIOBase):
    """What the code prints, kept up to `limit` characters (the rest is counted, not kept)."""

    def __init__(self, limit):
        self.parts, self.size, self.limit, self.dropped = [], 0, limit, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(len(text) - max(room, 0), 0)
        return len(text)

    def text(self):
        tail = f"\n[{self.dropped} more characters of log dropped]" if self.dropped else ""
        return "".join(self.parts) + tail


def apply_limits(limits):
    """Lower soft and hard limits alike: the user's code cannot raise them again."""
    memory = limits["memory_bytes"]
    table = {
        resource.RLIMIT_CPU: (limits["cpu_seconds"], limits["cpu_seconds"] + 1),
        resource.RLIMIT_FSIZE: (limits["file_bytes"], limits["file_bytes"]),
        resource.RLIMIT_NOFILE: (limits["open_files"], limits["open_files"]),
        resource.RLIMIT_NPROC: (limits["processes"], limits["processes"]),
        resource.RLIMIT_CORE: (0, 0),
    }
    if limits.get("kind") == "js":
        # V8 reserves far more address space than it uses and maps ~600 MB of data segment at start: a JS step
        # is bounded by V8's heap limit, and the process by its data segment beyond that baseline.
        data = memory + JS_BASELINE_BYTES
        table[resource.RLIMIT_DATA] = (data, data)
    else:
        table[resource.RLIMIT_AS] = (memory, memory)
    for which, value in table.items():
        resource.setrlimit(which, value)


def forbid_exec():
    """Load the second seccomp filter (no execve) handed over by the launcher; without it, stop here."""
    import base64
    import ctypes

    program = base64.b64decode(os.environ.pop("SANDBOX_NO_EXEC"))
    buffer = ctypes.create_string_buffer(program, len(program))

    class Program(ctypes.Structure):
        _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))

    libc = ctypes.CDLL(None, use_errno=True)
    fprog = Program(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the no-exec seccomp filter could not be loaded")


def answer(out, payload):
    try:
        data = json.dumps(payload, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        error = f"The code returned a value that is not JSON: {exc}"
        data = json.dumps({"ok": False, "kind": "not_json", "error": error, "logs": payload.get("logs", "")})
    out.write(data.encode())
    out.flush()


# --- Python ----------------------------------------------------------------------------------------------------


def ready_python(extra_modules):
    allowed = set(CURATED) | set(extra_modules)
    for name in sorted(allowed):
        try:
            __import__(name)
        except ImportError:
            continue
    original = builtins.__import__

    def gated(name, globals=None, locals=None, fromlist=(), level=0):
        if globals is not None and globals.get("__name__") == USER_MODULE:
            top = name.partition(".")[0]
            if level or top not in allowed:
                raise ImportError(f"Module {name!r} is not available in a code step.")
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = gated


class JsonObject(dict):
    """A JSON object whose keys read and write as attributes too (`item.json.total = 1`), as in n8n's Python."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def as_objects(value):
    if isinstance(value, dict):
        return JsonObject({key: as_objects(item) for key, item in value.items()})
    if isinstance(value, list):
        return [as_objects(item) for item in value]
    return value


class N8nItems:
    """`_input` / `_('node')`: items as `{json}` objects with all(), first(), last() and the current `item`."""

    def __init__(self, values, current=None):
        self._items = [JsonObject(json=as_objects(value)) for value in values]
        self.item = self._items[current] if current is not None and self._items else None

    def all(self):
        return self._items

    def first(self):
        return self._items[0] if self._items else None

    def last(self):
        return self._items[-1] if self._items else None


def n8n_values(context, values, current):
    """The n8n names for one call: `_input`, `_json` (the current item's data), `_('node')`, `_vars`, `_execution`."""
    nodes = context.get("nodes") or {}

    def node(name):
        if name not in nodes:
            raise KeyError(f'No output of node "{name}" in this run.')
        output = nodes[name].get("output")
        return N8nItems(output if isinstance(output, list) else [output], 0)

    items = N8nItems(values, current)
    current_item = items.item if current is not None else items.first()
    return {
        "_input": items,
        "_json": current_item["json"] if current_item is not None else JsonObject(),
        "_": node,
        "_vars": as_objects(context.get("vars") or {}),
        "_execution": context.get("execution"),
    }


def n8n_unwrap(value):
    return value["json"] if isinstance(value, dict) and "json" in value else value


def speaks_n8n(node):
    """`_input` or `_json` read, or `_('node')` called (a bare `_` is Python's throwaway name, not n8n's)."""
    if isinstance(node, ast.Name):
        return node.id in ("_input", "_json")
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"


def user_function(code):
    """`main` when the code defines one at the top level, else the code as the body of a function; and whether
    the code speaks n8n (uses one of its names)."""
    tree = ast.parse(code, filename="<code>")
    n8n = any(speaks_n8n(node) for node in ast.walk(tree))
    namespace = {"__name__": USER_MODULE, "__builtins__": builtins}
    if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
        exec(compile(tree, "<code>", "exec"), namespace)
        return namespace["main"], n8n
    args = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg=name) for name in ARGUMENTS + (N8N_ARGUMENTS if n8n else ())],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    body = tree.body or [ast.Pass()]
    function = ast.FunctionDef(name="main", args=args, body=body, decorator_list=[], returns=None)
    if "type_params" in ast.FunctionDef._fields:
        function.type_params = []
    module = ast.Module(body=[function], type_ignores=[])
    ast.fix_missing_locations(module)
    exec(compile(module, "<code>", "exec"), namespace)
    return namespace["main"], n8n


def call(function, values):
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return function(**values)
    return function(**{p.name: values[p.name] for p in parameters if p.name in values})


def run_python(job):
    function, n8n = user_function(job["code"])
    context = job["context"]
    data = job["input"]
    items = data if isinstance(data, list) else [data]
    base = {name: context.get(name) for name in ("trigger", "nodes", "vars", "execution")}
    if job["mode"] == "per_item":
        if not isinstance(data, list) and not n8n:
            raise TypeError(f"'per item' needs a list as input (got {type(data).__name__}).")
        results = []
        for i, item in enumerate(items):
            values = {**base, "input": item, "item": item, "index": i, "items": items}
            if n8n:
                values.update(n8n_values(context, items, i))
            results.append(call(function, values))
        return [n8n_unwrap(result) for result in results] if n8n else results
    values = {**base, "input": data, "items": items, "item": items[0] if items else None, "index": 0}
    if n8n:
        values.update(n8n_values(context, items, None))
    result = call(function, values)
    if not n8n:
        return result
    if result is None:
        return []
    return [n8n_unwrap(value) for value in (result if isinstance(result, list) else [result])]


def user_traceback(exc):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<code>"]
    lines = [f"  line {f.lineno}, in {f.name}" for f in frames[-5:]]
    return "\n".join(lines)


# --- JavaScript ------------------------------------------------------------------------------------------------

JS_PRELUDE = r"""
const __stringify = JSON.stringify, __parse = JSON.parse;  // kept: the code may replace JSON's methods
const __data = __parse(__DATA__);
const __logs = []; let __logSize = 0, __logDropped = 0;
const __log = (...a) => { const t = a.map(x => typeof x === 'string' ? x : String(__stringify(x))).join(' ');
  const room = __LOGMAX__ - __logSize;
  if (room > 0) { __logs.push(t.slice(0, room)); __logSize += Math.min(t.length, room) + 1; }
  __logDropped += Math.max(t.length - Math.max(room, 0), 0); };
const console = {log: __log, info: __log, warn: __log, error: __log, debug: __log};
const __items = (Array.isArray(__data.input) ? __data.input : [__data.input]).map(j => ({json: j}));
const __wrap = (value) => (Array.isArray(value) ? value : [value]).map(j => ({json: j}));
const $ = (name) => { const out = (__data.context.nodes || {})[name];
  if (out === undefined) throw new Error(`No output of node "${name}" in this run.`);
  const items = __wrap(out.output);
  return {all: () => items, first: () => items[0], last: () => items[items.length - 1], item: items[0],
    json: out.output}; };
const $node = new Proxy({}, {get: (t, name) => $(String(name))});
const $trigger = __data.context.trigger, $vars = __data.context.vars || {}, $execution = __data.context.execution;
const __user = function ($input, $json, items, item, $index) {
__CODE__
};
const __unwrap = (value) => (value !== null && typeof value === 'object' && 'json' in value) ? value.json : value;
const __run = () => {
  const all = __items;
  const input = (item) => ({all: () => all, first: () => all[0], last: () => all[all.length - 1], item});
  if (__data.mode === 'per_item') {
    return all.map((it, i) => { const r = __user(input(it), it.json, all, it, i);
      return r === undefined ? null : __unwrap(r); });
  }
  const r = __user(input(all[0]), all.length ? all[0].json : {}, all, all[0], 0);
  if (r === undefined || r === null) return [];
  return (Array.isArray(r) ? r : [r]).map(__unwrap);
};
let __result, __error = null;
try { __result = __stringify(__run()); } catch (e) { __error = (e && e.stack) ? String(e.stack) : String(e); }
__stringify({result: __result === undefined ? 'null' : __result, error: __error,
  logs: __logs.join('\n') + (__logDropped ? `\n[${__logDropped} more characters of log dropped]` : '')});
"""


def ready_js(paths):
    from py_mini_racer import MiniRacer

    return MiniRacer()


def run_js(engine, job, limits):
    from py_mini_racer import JSOOMException, JSTimeoutException

    data = json.dumps({"input": job["input"], "context": job["context"], "mode": job["mode"]})
    source = (
        JS_PRELUDE.replace("__DATA__", json.dumps(data))
        .replace("__LOGMAX__", str(job["log_bytes"]))
        .replace("__CODE__", job["code"])
    )
    engine.set_hard_memory_limit(limits["heap_bytes"])
    try:
        raw = engine.eval(source, timeout_sec=limits["wall_seconds"])
    except JSOOMException:
        return {"ok": False, "kind": "memory", "error": "The code used more memory than allowed."}
    except JSTimeoutException:
        return {"ok": False, "kind": "timeout", "error": "The code ran past its time limit."}
    if engine.was_hard_memory_limit_reached():
        return {"ok": False, "kind": "memory", "error": "The code used more memory than allowed."}
    try:
        outcome = json.loads(raw)
        _ = (outcome["error"], outcome["result"], outcome["logs"])  # the keys every answer has
    except (TypeError, ValueError, KeyError):
        return {"ok": False, "kind": "code", "error": "The code broke the step's own answer (it replaced built-ins)."}
    if outcome["error"] is not None:
        return {"ok": False, "kind": "code", "error": outcome["error"], "logs": outcome["logs"]}
    return {"ok": True, "result": json.loads(outcome["result"]), "logs": outcome["logs"]}


# --- main ------------------------------------------------------------------------------------------------------


def main():
    kind, paths = sys.argv[1], sys.argv[2:]
    sys.path[:0] = paths
    out = os.fdopen(os.dup(1), "wb")
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    extra = os.environ.get("SANDBOX_MODULES", "").split()
    forbid_exec()
    engine = ready_js(paths) if kind == "js" else ready_python(extra)
    raw = sys.stdin.buffer.read()
    if not raw:
        return
    job = json.loads(raw)
    del raw
    limits = job["limits"]
    apply_limits({**limits, "kind": kind})
    # The launcher stops the run at its wall-clock limit; should the launcher be gone, SIGALRM ends it soon after.
    signal.alarm(int(limits["wall_seconds"]) + 5)
    # Python runs its handlers between bytecodes only: V8 would not notice; its process ends by the default action.
    signal.signal(signal.SIGXCPU, signal.SIG_DFL if kind == "js" else (lambda *_: os._exit(128 + signal.SIGXCPU)))
    log = Log(job["log_bytes"])
    if kind == "js":
        answer(out, run_js(engine, job, limits))
        return
    sys.stdout = sys.stderr = log
    try:
        result = run_python(job)
    except MemoryError:
        answer(
            out, {"ok": False, "kind": "memory", "error": "The code used more memory than allowed.", "logs": log.text()}
        )
    except SyntaxError as exc:
        answer(
            out,
            {"ok": False, "kind": "syntax", "error": f"SyntaxError: {exc.msg} (line {exc.lineno})", "logs": log.text()},
        )
    except BaseException as exc:  # the user's code failed: report it, whatever it was
        where = user_traceback(exc)
        message = f"{type(exc).__name__}: {exc}" + (f"\n{where}" if where else "")
        answer(out, {"ok": False, "kind": "code", "error": message, "logs": log.text()})
    else:
        answer(out, {"ok": True, "result": result, "logs": log.text()})


if __name__ == "__main__":
    main()
    # Threads the code left running must not keep the sandbox alive past its answer.
    os._exit(0)
