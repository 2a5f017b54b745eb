# The two commands: `make run` (the platform, embedded by default) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-reliability lint format venv venv-prod clean

# `make run` installs what running needs (prod.txt); `make test` adds the test and lint tools (dev.txt).
$(VENV)/.installed-prod: requirements/base.txt requirements/prod.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/prod.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-prod requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

venv-prod: $(VENV)/.installed-prod

venv: $(VENV)/.installed-dev

run: venv-prod
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py serve --host $(HOST) --port $(PORT)

# Tests that run a real ASGI server beside a real worker get a process of their own, as in production:
# the channel layer and the event-loop handoff are process-wide and earlier in-process workers leave theirs.
# The rest runs in PYTEST_WORKERS processes (pytest-xdist, a test file per process at a time; 0 = one process),
# except the browser tests (tests/e2e): a server and a Chromium each, they run one file after another, each file
# in a pytest process of its own (on PostgreSQL + Redis the viewer test timed out after other browser files had run
# in the same process, and passed alone: docs/decisions.md).
PYTEST_WORKERS ?= 2
test: venv
	$(PY) -m pytest -m "not own_process" -n $(PYTEST_WORKERS) --dist loadfile --ignore=tests/e2e $(PYTEST_ARGS)
	for file in tests/e2e/test_*.py; do $(PY) -m pytest -m "not own_process" $$file $(PYTEST_ARGS) || exit 1; done
	$(PY) -m pytest -m own_process $(PYTEST_ARGS)

# The fault suite (tests/reliability, docs/reliability.md): its own PostgreSQL, Redis, web process, worker and
# beat, one fault per scenario; a few minutes. Not part of `make test` (the tests run only with -m reliability).
test-reliability: venv
	$(PY) -m pytest -m reliability tests/reliability $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var
