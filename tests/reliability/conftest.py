"""The fault suite's fixtures: one stack of its own for the session (tests/reliability/harness.py).

Tests marked `reliability` run only when asked for (`pytest -m reliability`, `make test-reliability`): they start
PostgreSQL, Redis, a web process, a worker and beat of their own and take minutes, so `make test` leaves them
out whatever its own `-m` says.
"""

import shutil

import pytest

from .harness import Figures, Stack, table

#: The figures of every scenario run in this session, printed at the end.
FIGURES: list[Figures] = []


def pytest_collection_modifyitems(config, items):
    if "reliability" in (config.option.markexpr or ""):
        return
    selected = [item for item in items if item.get_closest_marker("reliability") is None]
    if len(selected) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in selected])
        items[:] = selected


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.write_sep("=", "fault suite figures")
        terminalreporter.write_line(table(FIGURES))


@pytest.fixture(scope="session")
def stack():
    missing = [tool for tool in ("redis-server", "pg_config") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the fault suite needs {', '.join(missing)} on PATH")
    stack = Stack(chain_length=5)
    try:
        stack.start()
    except Exception:
        print(stack.logs_tail())
        stack.close()
        raise
    yield stack
    stack.close()
