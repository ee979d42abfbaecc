# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
# bash, not sh: `make serve` waits for the first of its processes to end (wait -n).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test install lint format check bench clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit("Tremor needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changes (the stamp's name carries its checksum).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Development server on embedded defaults: SQLite in var/, Celery over the filesystem
# broker (no Redis, no PostgreSQL), a worker and beat beside the web server. Ctrl-C stops all.
run: export DEBUG ?= true
run: install
	mkdir -p var/celery-queue var/celery-processed var/celery-control
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-stale
	-$(PY) manage.py scan_anomalies --sync -v0  # a fresh portfolio to look at; never blocks the start
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

# The whole suite: lint, Django's checks, migrations in sync, then pytest. Runs on SQLite when
# DATABASE_URL is unset; `.ci/run` points it at PostgreSQL and Redis.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
