"""Scan runs: the scope lock, stale runs, chunk bookkeeping, redelivered chunks, one
customer's bad data, churned customers and the portfolio guard."""

import datetime as dt

import pytest
from django.utils import timezone

from anomalies.models import DataQualityEvent, ScanChunk, ScanRun, UsageAnomaly
from anomalies.services import scans
from customers.models import UsageMetric

from .scan_data import AS_OF, N_DAYS, day, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db

LOW = slice(174, 180)


def _start(**kwargs):
    return scans.scan_start(trigger=ScanRun.Trigger.API, as_of=AS_OF, enqueue=False, **kwargs)


def _dropping(make_customer, seed=1, **fields):
    customer = make_customer(**fields)
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=seed), LOW, 0.35))
    return customer


def test_a_second_scan_of_the_same_scope_is_refused_while_the_first_is_queued(make_customer):
    customer = make_customer()
    first = _start()

    with pytest.raises(scans.ScanAlreadyRunning, match="already queued") as refused:
        _start()

    assert refused.value.run.pk == first.pk
    # Another scope (one customer) may run alongside; that scope is then locked in turn.
    one = _start(customer_ids=[customer.pk])
    assert (one.scope_key, one.scope) != (first.scope_key, first.scope)
    assert one.scope == {"customers": [str(customer.pk)]}
    with pytest.raises(scans.ScanAlreadyRunning) as refused:
        _start(customer_ids=[str(customer.pk)])
    assert refused.value.run.pk == one.pk
    assert ScanRun.objects.filter(status="queued").count() == 2


def test_a_finished_scan_releases_its_scope(make_customer):
    make_customer()
    first = scan()
    assert first.status == "succeeded"

    second = _start()

    assert second.status == "queued"


def test_stale_runs_are_expired_by_the_next_start(make_customer, settings):
    make_customer()
    stale = _start()
    minutes = settings.SCAN_STALE_MINUTES
    ScanRun.objects.filter(pk=stale.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(minutes=minutes + 1)
    )

    fresh = _start()

    stale.refresh_from_db()
    assert (stale.status, fresh.status) == ("failed", "queued")
    assert stale.finished_at is not None
    # A run whose heartbeat is recent is not expired.
    assert scans.scan_runs_expire_stale() == 0
    fresh.refresh_from_db()
    assert fresh.status == "queued"


def test_run_counts_chunks_and_timings(make_customer, settings):
    settings.SCAN_CHUNK_CUSTOMERS = 2
    customers = [_dropping(make_customer, seed=k) for k in range(5)]
    usage_store(customers[0], "logins", usage(N_DAYS, seed=9, level=300))

    run = _start()

    assert (run.customers_total, run.chunks_total, run.status) == (5, 3, "queued")
    chunks = list(run.chunks.order_by("index"))
    assert [len(c.customer_ids) for c in chunks] == [2, 2, 1]
    assert sorted(sum((c.customer_ids for c in chunks), [])) == sorted(str(c.pk) for c in customers)

    run = scans.scan_run_sync(run=run)

    assert run.status == "succeeded"
    assert (run.customers_done, run.chunks_done, run.series_count) == (5, 3, 6)
    assert (run.anomalies_new, run.anomalies_updated, run.anomalies_resolved) == (5, 0, 0)
    assert (run.error_count, run.errors) == (0, [])
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert run.duration is not None
    for chunk in run.chunks.all():
        assert (chunk.status, chunk.attempts) == ("done", 1)
        assert set(chunk.timings) == {"read", "read_usage", "detect", "write"}
        assert chunk.timings["read_usage"] <= chunk.timings["read"]
        assert all(seconds >= 0 for seconds in chunk.timings.values())
    assert sum(run.chunks.values_list("series_count", flat=True)) == 6
    assert UsageAnomaly.objects.count() == 5


def test_a_redelivered_chunk_is_skipped(make_customer):
    _dropping(make_customer)
    run = _start()
    chunk = run.chunks.get()

    first = scans.scan_chunk_run(chunk_id=chunk.pk)
    again = scans.scan_chunk_run(chunk_id=chunk.pk)

    assert (first.skipped, first.series, first.new) == (False, 1, 1)
    assert again == scans.ChunkOutcome(skipped=True)
    run.refresh_from_db()
    assert (run.status, run.chunks_done, run.customers_done) == ("succeeded", 1, 1)
    assert (run.series_count, run.anomalies_new) == (1, 1)
    assert ScanChunk.objects.get(pk=chunk.pk).attempts == 1
    assert UsageAnomaly.objects.count() == 1


def test_bad_data_fails_that_customer_only(make_customer):
    good = _dropping(make_customer, seed=1)
    bad = _dropping(make_customer, seed=2)
    # The database allows it (inf >= 0); the engine refuses it.
    UsageMetric.objects.filter(customer=bad, date=day(100)).update(value=float("inf"))

    run = scan()

    assert (run.status, run.error_count, run.chunks_total) == ("partially_failed", 1, 1)
    [error] = run.errors
    assert error["customer_id"] == str(bad.pk)
    assert "is not a finite non-negative number" in error["error"]
    assert run.chunks.get().errors == [error]
    assert list(UsageAnomaly.objects.values_list("customer_id", "anomaly_type", "status")) == [
        (good.pk, "drop", "open")
    ]


def test_a_churned_customer_is_not_scanned_in_a_full_scan(make_customer):
    active = _dropping(make_customer, seed=1)
    _dropping(make_customer, seed=2, status="churned")

    run = scan()

    assert (run.customers_total, run.customers_done, run.series_count) == (1, 1, 1)
    assert list(UsageAnomaly.objects.values_list("customer_id", flat=True)) == [active.pk]


def test_a_portfolio_wide_fall_is_a_data_quality_event_not_anomalies(make_customer):
    # Twelve accounts whose api_calls all fall 85 % on days 170 and 171, then recover: an
    # outage of the analytics pipeline, not twelve customers deciding the same thing.
    for k in range(12):
        customer = make_customer()
        usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=k), slice(170, 172), 0.15))

    run = scan()

    assert run.series_count == 12
    assert not UsageAnomaly.objects.exists()
    event = DataQualityEvent.objects.get()
    assert (event.kind, event.start_date, event.end_date) == (
        "portfolio_outage",
        day(170),
        day(171),
    )
    assert (event.series_affected, event.affected_share) == (12, 1.0)
    assert (event.scan_run_id, event.customer_id, event.anomaly_id) == (run.pk, None, None)

    again = scan()

    assert (again.status, again.anomalies_new) == ("succeeded", 0)
    assert list(DataQualityEvent.objects.values_list("pk", flat=True)) == [event.pk]
    assert not UsageAnomaly.objects.exists()


def test_the_same_fall_on_one_account_is_an_anomaly(make_customer):
    # The control for the portfolio guard: alone, the same two days are a critical drop.
    customer = make_customer()
    usage_store(customer, "api_calls", scaled(usage(N_DAYS, seed=0), slice(170, 172), 0.15))

    scan()

    anomaly = UsageAnomaly.objects.get()
    assert (anomaly.anomaly_type, anomaly.start_date, anomaly.end_date) == (
        "drop",
        day(170),
        day(171),
    )
    assert not DataQualityEvent.objects.exists()


def test_an_integrity_error_other_than_the_scope_lock_is_raised_not_retried(make_customer):
    # A real constraint of the database (a trigger refusing chunks, standing in for any
    # integrity error while creating a run) must surface once, not be taken for "a scan of
    # this scope is running" and retried until the stack runs out.
    from django.db import IntegrityError, connection

    make_customer()
    table = ScanChunk._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "CREATE FUNCTION tremor_test_no_chunks() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'no chunks today' USING ERRCODE = '23505'; END $$ "
                "LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER tremor_test_no_chunks BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tremor_test_no_chunks()"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER tremor_test_no_chunks BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: no chunks today'); END"
            )

    with pytest.raises(IntegrityError, match="no chunks today"):
        _start()

    assert not ScanRun.objects.exists()


def test_the_scan_time_outs_must_nest(settings):
    from anomalies.checks import scan_timeouts_check

    assert scan_timeouts_check(None) == []
    settings.CELERY_VISIBILITY_TIMEOUT = settings.CELERY_TASK_TIME_LIMIT
    settings.SCAN_STALE_MINUTES = 30
    assert [e.id for e in scan_timeouts_check(None)] == ["anomalies.E001", "anomalies.E002"]


def test_a_run_is_stale_only_after_its_lost_chunk_could_have_been_redelivered(settings):
    # A worker killed mid-chunk: Redis redelivers the chunk after the visibility time-out,
    # and it may then run for up to the task time limit. The next nightly start must not
    # have failed the run before then.
    redelivered_and_done = settings.CELERY_VISIBILITY_TIMEOUT + settings.CELERY_TASK_TIME_LIMIT
    assert settings.SCAN_STALE_MINUTES * 60 > redelivered_and_done
