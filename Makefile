# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
# bash, not sh: `make serve` waits for the first of its processes to end (wait -n).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Installs come from the lock files (pinned, with hashes; `make lock` writes them from
# pyproject.toml): run.txt is what running needs, test.txt adds the test and check tools.
RUN_LOCK := requirements/run.txt
TEST_LOCK := requirements/test.txt
# A stamp's name carries the checksum of pyproject.toml and its lock, so a changed lock (or a
# changed package list for the editable install) installs again; an unchanged one is a no-op.
RUN_STAMP := $(VENV)/.installed-run-$(shell cat pyproject.toml $(RUN_LOCK) | cksum | cut -d' ' -f1)
TEST_STAMP := $(VENV)/.installed-test-$(shell cat pyproject.toml $(TEST_LOCK) | cksum | cut -d' ' -f1)
# Bytecode for the installed packages on every core (-j0), not for their own test suites. A
# file that does not compile is skipped, as pip's own compile step skips it.
COMPILE_PACKAGES = $(PY) -m compileall -qq -j0 -x '/site-packages/.+/tests?/' \
	"$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
# When this make began, for the times `make run` reports.
STARTED := $(shell date +%s)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test screenshots install install-run lock typecheck lint format check bench clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Tremor needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# The lock first (hash-checked, no resolving), then the project itself without dependencies:
# everything it needs is already pinned in the lock. pip would compile every file it installs
# to bytecode, one after the other, the test suites of pandas, scipy and statsmodels included
# (a third of the files); compiled afterwards on every core without those, the install took
# 12 s of CPU instead of 16-19 s, and 46-53 s instead of 55-60 s on a busy 2-core machine.
# Compiled up front at all because a process started without .pyc files compiles what it
# imports each time where PYTHONDONTWRITEBYTECODE is set (as in Docker images and CI): 25 s
# instead of 6 s for `manage.py check`, and `make run` starts six processes.
$(RUN_STAMP): pyproject.toml $(RUN_LOCK) | $(PY)
	@echo "make run: installing the packages into $(VENV) from $(RUN_LOCK) (first start only)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r $(RUN_LOCK)
	$(PY) -m pip install --quiet --no-compile --no-deps -e .
	$(COMPILE_PACKAGES)
	rm -f $(VENV)/.installed-run-*
	touch $(RUN_STAMP)
	@echo "make run: installed in $$(( $$(date +%s) - $(STARTED) )) s"

# The test lock holds the run lock's pins (it is compiled with run.txt as a constraint), so a
# test install also stands for a run install.
$(TEST_STAMP): pyproject.toml $(TEST_LOCK) $(RUN_LOCK) | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(TEST_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(TEST_STAMP) $(RUN_STAMP)

install-run: $(RUN_STAMP)

install: $(TEST_STAMP)

# Rewrite the locks from pyproject.toml after changing a dependency there (or to take newer
# releases within its bounds: `make lock LOCK_ARGS=--upgrade`). One universal lock for
# Python 3.11 and up on every platform; run.txt first, and test.txt keeps its pins.
LOCK_ARGS ?=
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
lock: install
	$(UV_COMPILE) -o $(RUN_LOCK)
	$(UV_COMPILE) --extra test -c $(RUN_LOCK) -o $(TEST_LOCK)

# Development server on embedded defaults: SQLite in var/, Celery over the filesystem
# broker (no Redis, no PostgreSQL), a worker and beat beside the web server. Ctrl-C stops all.
# Each step says what it does and how long it took (bash's SECONDS counts from the start of
# its recipe line); seed and scan skip Django's system checks, which migrate has just run.
run: export DEBUG ?= true
run: install-run
	@mkdir -p var/celery-queue var/celery-processed var/celery-control
	@echo "make run: migrating the database"
	@$(PY) manage.py migrate --noinput && echo "make run: migrated in $${SECONDS} s"
	@echo "make run: loading the demo data (once a day: a later start the same day keeps it)"
	@$(PY) manage.py seed_demo --if-stale --skip-checks && echo "make run: demo data in $${SECONDS} s"
	@echo "make run: scanning the accounts for anomalies"
	@# A fresh portfolio to look at from the first page; a failed scan never blocks the start.
	@-$(PY) manage.py scan_anomalies --sync --skip-checks && echo "make run: scanned in $${SECONDS} s"
	@echo "make run: ready after $$(( $$(date +%s) - $(STARTED) )) s; starting the server"
	@$(MAKE) --no-print-directory serve

# The three processes of `make run` (web server, Celery worker, beat), on an installed and
# migrated project. Ctrl-C or TERM stops each of them once and exits: the trap clears itself
# before it signals (a trap that signalled its own process group would re-enter itself), and
# runserver's autoreloader child is stopped with its parent.
serve: export DEBUG ?= true
serve: export SITE_URL ?= http://$(HOST):$(PORT)
serve:
	@mkdir -p var/celery-queue var/celery-processed var/celery-control
	@echo ""
	@echo "  Tremor is starting at http://$(HOST):$(PORT)/ (demo logins above; Ctrl-C stops it)"
	@echo ""
	@pids=""; \
	stop() { trap - INT TERM EXIT; \
	  for pid in $$pids; do pkill -TERM -P $$pid 2>/dev/null; kill -TERM $$pid 2>/dev/null; done; \
	  wait; exit 0; }; \
	trap stop INT TERM EXIT; \
	$(VENV)/bin/celery -A config worker --loglevel=warning --pool=solo & pids="$$pids $$!"; \
	$(VENV)/bin/celery -A config beat --loglevel=warning --schedule var/celerybeat-schedule \
	  & pids="$$pids $$!"; \
	$(PY) manage.py runserver $(HOST):$(PORT) & pids="$$pids $$!"; \
	wait -n

# The whole suite: lint, Django's checks, migrations in sync, type checks, then pytest. Runs
# on SQLite when DATABASE_URL is unset; `.ci/run` points it at PostgreSQL and Redis.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Refresh the README's screenshots in docs/screenshots from the browser journeys (the recent
# demo's portfolio and customer page, the accounts list, the follow-ups, the insights page).
# `make test` saves its own in var/screenshots and never touches these.
screenshots: install
	TREMOR_SCREENSHOTS=$(CURDIR)/docs/screenshots $(VENV)/bin/pytest -q -p no:cacheprovider \
	  "tests/browser/test_csm_journey.py::test_csm_journey[recent]" \
	  tests/browser/test_accounts_and_ask.py tests/browser/test_followups.py \
	  tests/browser/test_insights_page.py

# Type checks alone (the files and settings are in pyproject.toml's [tool.mypy]).
typecheck: install
	$(VENV)/bin/mypy

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache
