# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint format check bench clean

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
	mkdir -p var/celery-queue var/celery-processed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-stale
	-$(PY) manage.py scan_anomalies --sync -v0  # a fresh portfolio to look at; never blocks the start
	@echo ""
	@echo "  Tremor is starting at http://$(HOST):$(PORT)/ (demo logins above; Ctrl-C stops it)"
	@echo ""
	@trap 'kill 0' INT TERM EXIT; \
	$(VENV)/bin/celery -A config worker --loglevel=warning --pool=solo & \
	$(VENV)/bin/celery -A config beat --loglevel=warning & \
	$(PY) manage.py runserver $(HOST):$(PORT)

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
