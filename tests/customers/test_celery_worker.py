"""One end-to-end run through a real Celery worker on real Redis and PostgreSQL."""

import pytest

from customers.models import UsageMetric
from customers.tasks import usage_ingest_task
from tests.workers import running_worker, unique_queue, wait_for

TIMEOUT_SECONDS = 60


@pytest.fixture
def worker(tmp_path):
    with running_worker(queue=unique_queue("test-ingest"), log_path=tmp_path / "worker.log") as w:
        yield w


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_ingests_records_sent_through_redis(worker, make_customer):
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

    # Publish explicitly to the broker the worker was given.
    with usage_ingest_task.app.connection_for_write(worker.broker_url) as broker:
        usage_ingest_task.apply_async(
            args=[records], kwargs={"create_customers": True}, queue=worker.queue, connection=broker
        )

    wait_for(
        lambda: UsageMetric.objects.count() >= len(records),
        timeout=TIMEOUT_SECONDS,
        what="usage rows",
        workers=[worker],
    )

    assert sorted(customer.usage.values_list("value", flat=True)) == [
        float(d) for d in range(1, 11)
    ]
    assert UsageMetric.objects.get(customer__external_id="new-1").value == 5.0
