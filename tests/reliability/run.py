"""The fault suite from the shell: start a stack of its own, run scenarios, print the figures table.

    .venv/bin/python -m tests.reliability.run --scenario all --executions 20
    .venv/bin/python -m tests.reliability.run --scenario redis-restart --scenario postgres-stopped -n 10

Every scenario runs on the same stack, one after another (each first brings back whatever the previous one
left stopped). The table is Markdown, as docs/reliability.md publishes it.
"""

import argparse
import json
import sys
import time
from pathlib import Path

from .harness import Stack, table
from .scenarios import FULL_DOWN_SECONDS, SCENARIOS, Options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=[*SCENARIOS, "all"], help="repeat; default: all")
    parser.add_argument("-n", "--executions", type=int, default=20, help="executions per scenario (default 20)")
    parser.add_argument("--chain", type=int, default=10, help="http_request nodes per chain (default 10)")
    parser.add_argument("--down", type=float, help="seconds the stopped part stays down (default per scenario)")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait after the fault (default 120)")
    parser.add_argument("--code", type=Path, help="run the stack from this checkout (default: this one)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the stack's directory (logs) afterwards")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if not args.scenario or "all" in args.scenario else args.scenario

    began = time.monotonic()
    stack = Stack(chain_length=args.chain, code=args.code)
    print(f"stack in {stack.root}", file=sys.stderr)
    rows = []
    try:
        stack.start()
        print(f"stack started in {time.monotonic() - began:.0f} s", file=sys.stderr)
        for name in names:
            down = args.down if args.down is not None else FULL_DOWN_SECONDS.get(name, 2.0)
            options = Options(executions=args.executions, down_seconds=down, wait_seconds=args.wait)
            started = time.monotonic()
            figures = SCENARIOS[name](stack, options)
            rows.append(figures)
            print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr)
            print(table([figures]).splitlines()[-1], file=sys.stderr)
    finally:
        stack.close(keep=args.keep)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps([vars(figures) for figures in rows], indent=2))
    failed = [f.scenario for f in rows if f.lost or f.nodes_completed_twice or f.duplicate_side_effects]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
