"""Production settings: `check --deploy` is clean, and the app refuses to serve with the
development secret key. Both run in a subprocess so the environment is the production one."""

import contextlib
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY"}}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", **env_overrides})
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_deploy_check_is_clean_with_production_settings():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="tremor.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_flags_the_development_key():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        ALLOWED_HOSTS="tremor.example.com",
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_server_refuses_the_development_key_when_debug_is_off(module):
    result = _run(["-c", f"import {module}"], DEBUG="false")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_server_starts_with_a_real_key(module):
    result = _run(["-c", f"import {module}"], DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr


def _cache_settings(**env) -> str:
    code = (
        "from django.conf import settings; c = settings.CACHES['default']; "
        "print(c['BACKEND'], c.get('LOCATION'), c.get('KEY_PREFIX'))"
    )
    environment = {"REDIS_URL": "", **env}
    result = _run(["-c", f"import django; django.setup(); {code}"], **environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_cache_is_redis_whenever_there_is_one():
    # Throttle counts live in the cache: one per process would multiply every limit.
    redis_cache = "django.core.cache.backends.redis.RedisCache"
    assert _cache_settings(REDIS_URL="redis://10.0.0.5:6379/0") == (
        f"{redis_cache} redis://10.0.0.5:6379/0 tremor"
    )
    assert _cache_settings(
        REDIS_URL="redis://10.0.0.5:6379/0", CACHE_URL="redis://10.0.0.6:6379/2"
    ) == (f"{redis_cache} redis://10.0.0.6:6379/2 tremor")
    assert _cache_settings().startswith("django.core.cache.backends.locmem.LocMemCache")


def test_a_sqlite_connection_uses_wal_and_waits_for_the_write_lock(tmp_path):
    # `make run` shares one SQLite file between web, worker and beat: without WAL and a busy
    # time-out, beat logged "database is locked" during a CSV import.
    database = tmp_path / "tremor.sqlite3"
    code = (
        "from django.db import connection; c = connection.cursor(); "
        "print(c.execute('PRAGMA journal_mode').fetchone()[0], "
        "c.execute('PRAGMA busy_timeout').fetchone()[0], "
        "c.execute('PRAGMA synchronous').fetchone()[0])"
    )
    result = _run(
        ["-c", f"import django; django.setup(); {code}"], DATABASE_URL=f"sqlite:///{database}"
    )
    assert result.returncode == 0, result.stderr
    journal_mode, busy_timeout_ms, synchronous = result.stdout.split()
    assert journal_mode == "wal"
    assert int(busy_timeout_ms) == 20_000
    assert synchronous == "1"  # NORMAL
    # WAL is a property of the file, so any other process opening it (even plain sqlite3) has it.
    with contextlib.closing(sqlite3.connect(database)) as plain:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
