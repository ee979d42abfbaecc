"""Production settings: `check --deploy` is clean, and the app refuses to serve with the
development secret key. Both run in a subprocess so the environment is the production one."""

import os
import secrets
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
