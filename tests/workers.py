"""Real Celery workers and gunicorn servers for tests: subprocesses on real Redis that write to
pytest-django's test database, always stopped (or killed) whatever the test does.

Each worker listens on a queue of its own, so a test only ever sees the tasks it sent, even
with another worker (a developer's, another test run's) on the same Redis.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import gunicorn
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
CELERY = Path(sys.executable).with_name("celery")
GUNICORN = Path(sys.executable).with_name("gunicorn")
# Tests that shorten the broker's visibility timeout use this Redis database rather than
# REDIS_URL's: a worker restores every unacknowledged message of its database older than
# the timeout, and must not redeliver the tasks of workers that are not the test's.
ISOLATED_REDIS_DB = 15
_BROKER_ENV = ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL")


def test_database_url() -> str:
    """pytest-django's test database, where a worker must write for the test to read."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def redis_url(db: int | None = None) -> str:
    """REDIS_URL, or the same server with another database number."""
    url = os.environ["REDIS_URL"]
    if db is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def unique_queue(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


@dataclass
class Process:
    """A subprocess in a session of its own, its output in `log_path`."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once: a machine dying, no cleanup,
        nothing acknowledged."""
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it takes longer than `timeout`; also
        kills the pool processes a dead parent could leave behind."""
        if self.alive():
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.process, signal.SIGKILL)
        self.process.wait(timeout=10)


@dataclass
class Worker(Process):
    queue: str
    broker_url: str


@dataclass
class Server(Process):
    url: str


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    # The worker was started in a session of its own: its pid is its process group's id.
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def start_worker(
    *,
    queue: str,
    log_path: Path,
    broker_url: str | None = None,
    pool: str = "solo",
    concurrency: int = 1,
    env: dict[str, str] | None = None,
) -> Worker:
    """Start `celery -A config worker` on `queue` in a process group of its own (so prefork
    children can be killed with it). Prefer `running_worker`, which always stops it."""
    broker_url = broker_url or redis_url()
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": test_database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    for key in _BROKER_ENV:
        environment.pop(key, None)
    environment["CELERY_BROKER_URL"] = broker_url
    environment |= env or {}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "config",
                "worker",
                f"--pool={pool}",
                f"--concurrency={concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                queue,
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Worker(process=process, queue=queue, broker_url=broker_url, log_path=log_path)


@contextmanager
def running_worker(**options) -> Iterator[Worker]:
    """A started worker, stopped on the way out, its queue's keys removed from Redis."""
    worker = start_worker(**options)
    try:
        yield worker
    finally:
        worker.stop()
        broker_keys_delete(worker.broker_url, worker.queue)


def wait_for(condition, *, timeout: float, what: str, workers=(), interval: float = 0.2):
    """Poll `condition` until it returns something truthy and return that; fail the test
    after `timeout` seconds, or as soon as one of `workers` died, with their logs."""
    import pytest

    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        for worker in workers:
            if not worker.alive():
                pytest.fail(
                    f"waiting for {what}: worker exited with {worker.process.returncode}:\n"
                    f"{worker.log()}"
                )
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.log_path.name}\n{w.log()}" for w in workers)
            pytest.fail(f"no {what} after {timeout}s\n{logs}")
        time.sleep(interval)


@contextmanager
def tasks_routed(tasks, *, queue: str, broker_url: str) -> Iterator[None]:
    """Make this process send `tasks` (names) to `queue` on `broker_url`, as code under test
    calls them (`.delay()`), and put the app's configuration back afterwards."""
    from config.celery import app

    saved_conf = {key: app.conf[key] for key in ("broker_url", "task_routes")}
    # Celery reads these variables before its configuration.
    saved_env = {key: os.environ.pop(key) for key in _BROKER_ENV if key in os.environ}

    def reconfigure(**conf):
        app.conf.update(conf)
        # The app caches its connection pool, producer pool and routing table on first use;
        # kombu keeps the pools themselves, per broker URL.
        app._pool = None
        app.amqp._producer_pool = None
        app.amqp.__dict__.pop("router", None)
        app.amqp.flush_routes()

    reconfigure(broker_url=broker_url, task_routes={name: {"queue": queue} for name in tasks})
    try:
        yield
    finally:
        os.environ.update(saved_env)
        reconfigure(**saved_conf)


def broker_keys_delete(broker_url: str, queue: str) -> None:
    """Remove what kombu left in Redis for a test's queue: the queue, its bindings, and its
    messages still waiting for an acknowledgement (a test that failed half-way)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    name = queue.encode()
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        for key in client.scan_iter(match="_kombu.binding_deadlines*"):
            if client.type(key) == b"zset":
                members = [m for m in client.zrange(key, 0, -1) if name in m]
                if members:
                    client.zrem(key, *members)
        tags = [tag for tag, message in client.hgetall("unacked").items() if name in message]
        if tags:
            client.hdel("unacked", *tags)
            client.zrem("unacked_index", *tags)
    finally:
        client.close()


@contextmanager
def running_gunicorn(*, log_path: Path, workers: int, env: dict[str, str]) -> Iterator[Server]:
    """`gunicorn config.wsgi` with `workers` processes on a free loopback port, on the test
    database and the test settings (production ones over plain HTTP), `env` added to its
    environment; ready when it answers, stopped on the way out. Its access log in `log_path`
    starts each line with the pid of the worker that answered."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": test_database_url(),
        # config/wsgi.py refuses the development key with DEBUG off.
        "SECRET_KEY": secrets.token_urlsafe(50),
        "PYTHONUNBUFFERED": "1",
    }
    options = [
        f"--workers={workers}",
        f"--bind=127.0.0.1:{port}",
        "--access-logfile=-",
        '--access-logformat=%(p)s "%(r)s" %(s)s',
    ]
    if gunicorn.version_info >= (27,):
        # Else it opens ~/.gunicorn/gunicorn.ctl, one path for every gunicorn on the machine.
        options.append("--no-control-socket")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(GUNICORN), "config.wsgi", *options],
            cwd=ROOT,
            env=environment | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(process=process, log_path=log_path, url=f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: _answers(server.url), timeout=60, what="gunicorn", workers=[server])
        yield server
    finally:
        server.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/accounts/login/", timeout=5) as response:  # noqa: S310
            return response.status == 200
    except OSError:  # refused, reset or timed out while the workers boot
        return False
