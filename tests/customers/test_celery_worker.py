"""One end-to-end run through a real Celery worker on real Redis and PostgreSQL."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from customers.models import UsageMetric
from customers.tasks import usage_ingest_task

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
TIMEOUT_SECONDS = 60


def _test_database_url() -> str:
    # The worker must write where this test reads: pytest-django's test database, not the
    # one DATABASE_URL names.
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


@pytest.fixture
def worker(tmp_path):
    queue = f"test-ingest-{uuid.uuid4().hex}"
    redis_url = os.environ["REDIS_URL"]
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(CELERY),
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                queue,
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield queue, process, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_ingests_records_sent_through_redis(worker, make_customer):
    queue, process, log_path = worker
    customer = make_customer(external_id="acct-1")
    records = [
        {
            "customer_external_id": "acct-1",
            "metric": "logins",
            "date": f"2024-03-{d:02}",
            "value": d,
        }
        for d in range(1, 11)
    ] + [{"customer_external_id": "new-1", "metric": "api_calls", "date": "2024-03-01", "value": 5}]

    # Publish explicitly to REDIS_URL, the broker the worker was given.
    with usage_ingest_task.app.connection_for_write(os.environ["REDIS_URL"]) as broker:
        usage_ingest_task.apply_async(
            args=[records], kwargs={"create_customers": True}, queue=queue, connection=broker
        )

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while UsageMetric.objects.count() < len(records):
        if process.poll() is not None:
            pytest.fail(f"worker exited with {process.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(
                f"no usage rows after {TIMEOUT_SECONDS}s; worker log:\n{log_path.read_text()}"
            )
        time.sleep(0.2)

    assert sorted(customer.usage.values_list("value", flat=True)) == [
        float(d) for d in range(1, 11)
    ]
    assert UsageMetric.objects.get(customer__external_id="new-1").value == 5.0
