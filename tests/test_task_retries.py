"""Retries, owned by config/celery.py's BaseTask: a transient error is retried with backoff, a
permanent one is not, and giving up is recorded.

The tasks run through Celery's `apply()`, which goes through the same autoretry wrapper and
failure handler as a worker does (retrying inline, without the waits). The error comes from
the service the task calls, replaced by one that fails its first calls and then does the
real work."""

import pytest
from celery.signals import task_retry
from django.db import IntegrityError, InterfaceError, OperationalError

from anomalies.models import ScanChunk, ScanRun
from anomalies.services import scans as anomaly_services
from anomalies.tasks import scan_all_task, scan_chunk_task
from customers import tasks as customer_tasks
from customers.models import UsageMetric

pytestmark = pytest.mark.django_db


class FailingFirst:
    """Calls `real` after raising `errors`, one per call."""

    def __init__(self, real, *errors):
        self.real, self.errors, self.calls = real, list(errors), 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.real(*args, **kwargs)


@pytest.fixture
def retry_waits():
    """The wait before each retry, in seconds, as Celery was asked for it."""
    waits = []

    def record(sender, request, reason, **kwargs):
        waits.append(reason.when)

    task_retry.connect(record)
    yield waits
    task_retry.disconnect(record)


@pytest.fixture
def chunk(make_customer):
    make_customer()
    run = anomaly_services.scan_start(trigger=ScanRun.Trigger.API, enqueue=False)
    return run.chunks.get()


def _chunk_run_failing(monkeypatch, *errors):
    failing = FailingFirst(anomaly_services.scan_chunk_run, *errors)
    monkeypatch.setattr(anomaly_services, "scan_chunk_run", failing)
    return failing


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        # A concurrent scan of an overlapping scope wrote the same open anomaly first.
        IntegrityError("duplicate key value violates unique constraint"),
    ],
    ids=type,
)
def test_a_scan_chunk_retries_a_transient_error_and_is_done(monkeypatch, chunk, error):
    failing = _chunk_run_failing(monkeypatch, error, error)

    result = scan_chunk_task.apply(args=(chunk.pk,))

    assert result.successful()
    assert failing.calls == 3
    chunk.refresh_from_db()
    assert (chunk.status, chunk.run.status) == (ScanChunk.Status.DONE, ScanRun.Status.SUCCEEDED)


@pytest.mark.parametrize(
    ("errors", "calls", "error"),
    [
        # A bug: retrying would fail the same way.
        ([ValueError("not a number")], 1, "ValueError: not a number"),
        (
            [OperationalError("the database is gone")] * 9,
            6,
            "OperationalError: the database is gone",
        ),
    ],
    ids=["a bug at once", "a lost connection after five retries"],
)
def test_a_scan_chunk_that_fails_for_good_is_recorded_and_ends_its_run(
    monkeypatch, chunk, errors, calls, error
):
    failing = _chunk_run_failing(monkeypatch, *errors)

    result = scan_chunk_task.apply(args=(chunk.pk,))

    assert result.failed()
    assert failing.calls == calls
    chunk.refresh_from_db()
    assert chunk.status == ScanChunk.Status.FAILED
    assert chunk.errors == [{"chunk": 0, "error": error}]
    # Its only chunk failed: the run is over, not waiting for a chunk that will never be done.
    assert chunk.run.status == ScanRun.Status.FAILED


def test_the_retries_back_off_with_jitter(monkeypatch, chunk, retry_waits):
    _chunk_run_failing(monkeypatch, *[OperationalError("the database is gone")] * 9)

    scan_chunk_task.apply(args=(chunk.pk,))

    # Each wait anywhere from 0 up to its doubling bound (BaseTask's 5 s, capped at 5 min).
    bounds = [5, 10, 20, 40, 80]
    assert all(0 <= wait <= bound for wait, bound in zip(retry_waits, bounds, strict=True))


def test_a_task_that_names_no_transient_errors_is_not_retried(monkeypatch, make_customer):
    make_customer()
    failing = FailingFirst(anomaly_services.scan_start, OperationalError("gone"))
    monkeypatch.setattr(anomaly_services, "scan_start", failing)

    result = scan_all_task.apply()

    assert result.failed()
    assert failing.calls == 1
    assert not ScanRun.objects.exists()


def _records():
    return [{"customer_external_id": "acme", "metric": "logins", "date": "2025-05-01", "value": 3}]


@pytest.mark.parametrize(
    "error",
    [OperationalError("server closed the connection"), InterfaceError("connection closed")],
    ids=type,
)
def test_an_ingest_retries_a_lost_connection(monkeypatch, make_customer, error):
    make_customer(external_id="acme")
    failing = FailingFirst(customer_tasks.usage_ingest, error)
    monkeypatch.setattr(customer_tasks, "usage_ingest", failing)

    result = customer_tasks.usage_ingest_task.apply(args=(_records(),))

    assert result.successful()
    assert failing.calls == 2
    assert UsageMetric.objects.get().value == 3.0


def test_an_ingest_does_not_retry_other_errors(monkeypatch, make_customer):
    make_customer(external_id="acme")
    failing = FailingFirst(customer_tasks.usage_ingest, IntegrityError("duplicate key"))
    monkeypatch.setattr(customer_tasks, "usage_ingest", failing)

    result = customer_tasks.usage_ingest_task.apply(args=(_records(),))

    assert result.failed()
    assert failing.calls == 1
    assert not UsageMetric.objects.exists()
