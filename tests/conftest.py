"""Shared fixtures: three personas (a CSM, another CSM, staff) and a customer factory, plus
the rule for tests that need a real service.

A test marked `postgres` needs DATABASE_URL to point at PostgreSQL; one marked `redis` needs
a Redis server at REDIS_URL. Locally such a test is skipped when its service is missing;
under CI=true it fails, so a broken CI machine can never pass by skipping.
"""

import os
import uuid

import pytest
from django.db import connection

from tests.factories import CustomerFactory, UserFactory, make_anomaly_of

# The API clients per persona and their customers, for the API tests in every package.
pytest_plugins = ["tests.api_clients"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing_service(item) -> str | None:
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    if item.get_closest_marker("redis"):
        url = os.environ.get("REDIS_URL")
        if not url:
            return "needs Redis: set REDIS_URL=redis://..."
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            return f"needs Redis at {url}: {exc}"
    if item.get_closest_marker("browser"):
        import importlib.util

        if not os.access("/usr/bin/chromium", os.X_OK):
            return "needs Chromium: apt-get install chromium"
        if importlib.util.find_spec("playwright") is None:
            return "needs Playwright for Python: pip install -e '.[test]'"
    return None


def pytest_runtest_setup(item):
    reason = _missing_service(item)
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def cache_of_its_own(settings):
    """Every test starts with an empty cache (throttle counts live there), under a key prefix
    of its own. Not cache.clear(): on Redis that is FLUSHDB, which would also drop the Celery
    queues of other test runs and workers sharing the database. Returns the prefix, for the
    server processes a test starts."""
    prefix = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    return prefix


@pytest.fixture
def csm(db):
    return UserFactory(
        username="alice", password="alice-pass-123", first_name="Alice", last_name="Owner"
    )


@pytest.fixture
def other_csm(db):
    return UserFactory(username="bob", password="bob-pass-123", first_name="Bob", last_name="Other")


@pytest.fixture
def staff(db):
    return UserFactory(username="olga", password="olga-pass-123", staff=True)


@pytest.fixture
def superuser(db):
    return UserFactory(
        username="root", email="root@example.com", password="root-pass-1", superuser=True
    )


@pytest.fixture
def make_customer(db):
    """The kit's CustomerFactory, numbered from 1 in each test ("Account 1", "acct-1")."""
    CustomerFactory.reset_sequence(1)
    return CustomerFactory


@pytest.fixture
def make_anomaly(db):
    """`make_anomaly(customer, **fields)`: the kit's UsageAnomalyFactory for one customer."""
    return make_anomaly_of


@pytest.fixture
def broker_down():
    """Point the Celery app at a port where no broker listens (a real refused connection),
    and back afterwards."""
    from config.celery import app

    before = app.conf.broker_url

    def forget_pools():
        # Only the app's references, never close(): kombu keeps one pool per broker URL for
        # the whole process, and a pool closed here stays closed for every later test that
        # sends to that URL ("Acquire on closed pool"), whichever order the tests run in.
        app._pool = None
        app.amqp._producer_pool = None

    forget_pools()
    app.conf.broker_url = "redis://127.0.0.1:9/0"  # the discard port: nothing listens
    yield
    forget_pools()
    app.conf.broker_url = before


@pytest.fixture
def tasks_run_eagerly():
    """Run Celery tasks in this thread when they are sent. Without this, work sent on commit
    would go to whatever broker the environment names (the filesystem broker under var/ on a
    laptop, the real Redis under CI) and wait there for a worker forever."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    # Services send tasks by name: the registry must hold them for a name to run in place.
    app.loader.import_default_modules()
    yield
    app.conf.task_always_eager = before
