"""Scans through real Celery workers on real Redis and PostgreSQL: the chunks of a run spread
over a prefork pool, and a worker killed in the middle of a chunk's write loses nothing and
doubles nothing once another worker picks the chunk up again.
"""

import datetime as dt
import time
import uuid

import pytest
import redis
from django.db import connection, transaction
from django.db.models import Count

from anomalies.models import ScanRun, UsageAnomaly
from anomalies.services import scans
from anomalies.tasks import scan_chunk_task
from customers.models import Customer, RiskSignal, UsageMetric
from tests import synth
from tests.workers import (
    ISOLATED_REDIS_DB,
    broker_keys_delete,
    redis_url,
    start_worker,
    tasks_routed,
    unique_queue,
    wait_for,
)

AS_OF = dt.date(2025, 6, 1)
DAYS = 150
METRICS = ("logins", "api_calls")
DROP_DAYS = 6
# Read by the workers (their settings come from the environment) and by this process.
WORKER_ENV = {"SCAN_HISTORY_DAYS": str(DAYS)}
VISIBILITY_TIMEOUT = 5


def _customer_id(index: int) -> uuid.UUID:
    # Ordered ids: customer i lands in chunk i // SCAN_CHUNK_CUSTOMERS.
    return uuid.UUID(int=index + 1)


def _usage_seed(n_customers: int, *, dropped: set[int]) -> None:
    """n customers with two metrics each, DAYS days up to AS_OF of steady weekly usage; the
    `dropped` ones lose 70 % of both metrics over the last DROP_DAYS days."""
    start = AS_OF - dt.timedelta(days=DAYS - 1)
    Customer.objects.bulk_create(
        Customer(id=_customer_id(i), name=f"Account {i}", external_id=f"acct-{i}")
        for i in range(n_customers)
    )
    rows = []
    for i in range(n_customers):
        for m, metric in enumerate(METRICS):
            values = synth.usage(DAYS, seed=1000 * i + m, level=500.0 * (1 + i % 5), start=start)
            if i in dropped:
                values = synth.scaled(values, slice(DAYS - DROP_DAYS, DAYS), 0.3)
            rows += [
                UsageMetric(
                    customer_id=_customer_id(i),
                    metric=metric,
                    date=start + dt.timedelta(days=d),
                    value=float(v),
                )
                for d, v in enumerate(values)
            ]
    UsageMetric.objects.bulk_create(rows, batch_size=5000)


def _expected_anomalies(dropped: set[int]) -> set[tuple]:
    first_day = AS_OF - dt.timedelta(days=DROP_DAYS - 1)
    return {(_customer_id(i), metric, "drop", first_day) for i in dropped for metric in METRICS}


def _anomalies() -> set[tuple]:
    rows = UsageAnomaly.objects.values_list(
        "customer_id", "metric_type", "anomaly_type", "start_date"
    )
    return set(rows)


def _duplicates() -> list[dict]:
    return list(
        UsageAnomaly.objects.values("customer_id", "metric_type", "anomaly_type", "start_date")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )


def _finished(run: ScanRun):
    run.refresh_from_db()
    return run if run.status not in ScanRun.ACTIVE_STATUSES else None


class ScanWorkers:
    """Prefork workers on a queue of the test's own, in a Redis database of its own, where
    this process sends its scan chunks."""

    def __init__(self, log_dir):
        self.queue = unique_queue("test-scan")
        self.broker_url = redis_url(ISOLATED_REDIS_DB)
        self.log_dir = log_dir
        self.started = []

    def start(self, name: str, *, concurrency: int, **env: str):
        worker = start_worker(
            queue=self.queue,
            broker_url=self.broker_url,
            log_path=self.log_dir / f"{name}.log",
            pool="prefork",
            concurrency=concurrency,
            env=WORKER_ENV | env,
        )
        self.started.append(worker)
        return worker

    def unacked(self) -> list[float]:
        """Delivery times of this queue's messages a worker took and did not acknowledge."""
        client = redis.Redis.from_url(self.broker_url)
        try:
            name = self.queue.encode()
            tags = [t for t, m in client.hgetall("unacked").items() if name in m]
            return sorted(client.zscore("unacked_index", t) for t in tags)
        finally:
            client.close()


@pytest.fixture
def scan_workers(tmp_path, settings):
    """Every worker started through it is stopped (or killed) at the end, whatever happened;
    it runs before the test database is emptied."""
    settings.SCAN_HISTORY_DAYS = DAYS
    workers = ScanWorkers(tmp_path)
    with tasks_routed([scan_chunk_task.name], queue=workers.queue, broker_url=workers.broker_url):
        try:
            yield workers
        finally:
            for worker in workers.started:
                worker.stop()
            broker_keys_delete(workers.broker_url, workers.queue)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_scan_runs_on_real_workers(scan_workers, settings):
    settings.SCAN_CHUNK_CUSTOMERS = 10
    dropped = {5, 17, 33}
    _usage_seed(40, dropped=dropped)
    worker = scan_workers.start("worker", concurrency=2)

    # No transaction is open: the chunks go to the broker as soon as the run is stored.
    run = scans.scan_start(trigger=ScanRun.Trigger.API, as_of=AS_OF)
    assert run.chunks_total == 4

    run = wait_for(lambda: _finished(run), timeout=90, what="finished scan", workers=[worker])
    assert run.status == ScanRun.Status.SUCCEEDED
    assert (run.chunks_done, run.customers_done, run.error_count) == (4, 40, 0)
    assert run.series_count == 40 * len(METRICS)
    assert list(run.chunks.values_list("status", "attempts")) == [("done", 1)] * 4
    assert _anomalies() == _expected_anomalies(dropped)
    assert run.anomalies_new == len(_expected_anomalies(dropped))
    assert RiskSignal.objects.count() == len(_expected_anomalies(dropped))


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_scan_leaves_no_duplicates(scan_workers, settings):
    settings.SCAN_CHUNK_CUSTOMERS = 3
    dropped = {7, 25, 44}  # chunks 2, 8 and 14 of 20
    _usage_seed(60, dropped=dropped)
    env = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT)}

    # The 20 chunks wait in the queue until a worker starts.
    run = scans.scan_start(trigger=ScanRun.Trigger.API, as_of=AS_OF)
    assert run.chunks_total == 20
    victim = run.chunks.get(index=2)

    # Hold inserts into risk signals: chunks 0 and 1 (no findings) complete, chunk 2 stops
    # in its write transaction, its anomalies inserted and not committed. Then kill worker A
    # (the main process and its pool child, like a machine dying).
    orphan = None
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {RiskSignal._meta.db_table} IN SHARE MODE")
            worker_a = scan_workers.start("worker-a", concurrency=1, **env)
            orphan = wait_for(
                lambda: _session_waiting_for(RiskSignal._meta.db_table),
                timeout=60,
                what="worker A waiting for the lock",
                workers=[worker_a],
            )
            done = run.chunks.filter(status="done").values_list("index", flat=True)
            assert sorted(done) == [0, 1]
            victim.refresh_from_db()
            assert (victim.status, victim.attempts) == ("running", 1)
            worker_a.kill()
            transaction.set_rollback(True)
    finally:
        # The dead worker's database session ends once it no longer waits on the lock (its
        # transaction rolls back); it must not outlive the test holding locks.
        ended = orphan is None or _session_ended(orphan)
    assert ended, f"database session {orphan} outlived its worker"

    # Its message stays in Redis, unacknowledged.
    unacked = scan_workers.unacked()
    assert len(unacked) == 1, unacked
    run.refresh_from_db()
    assert run.status == ScanRun.Status.RUNNING
    assert run.chunks_done == 2
    assert not UsageAnomaly.objects.exists()

    # Redis hands an unacknowledged message out again once it is older than the visibility
    # timeout, when a worker sweeps for such messages: at its start, then only every
    # unacked_restore_interval * unacked_restore_throttle (100 s by default). Start worker B
    # once the timeout has passed, so that its first sweep restores chunk 2.
    time.sleep(max(0.0, unacked[0] + VISIBILITY_TIMEOUT + 0.5 - time.time()))
    worker_b = scan_workers.start("worker-b", concurrency=2, **env)
    run = wait_for(lambda: _finished(run), timeout=120, what="finished scan", workers=[worker_b])

    assert run.status == ScanRun.Status.SUCCEEDED
    assert (run.chunks_done, run.customers_done, run.error_count) == (20, 60, 0)
    assert set(run.chunks.values_list("status", flat=True)) == {"done"}
    victim.refresh_from_db()
    assert victim.attempts == 2
    assert set(run.chunks.exclude(pk=victim.pk).values_list("attempts", flat=True)) == {1}
    assert _duplicates() == []
    assert _anomalies() == _expected_anomalies(dropped)
    assert run.anomalies_new == len(_expected_anomalies(dropped))
    assert RiskSignal.objects.count() == len(_expected_anomalies(dropped))
    assert not scan_workers.unacked()

    # A rescan of the same day finds the same events and creates nothing.
    again = scans.scan_start(trigger=ScanRun.Trigger.API, as_of=AS_OF, enqueue=False)
    again = scans.scan_run_sync(run=again)
    assert again.status == ScanRun.Status.SUCCEEDED
    assert again.anomalies_new == 0
    assert _anomalies() == _expected_anomalies(dropped)
    assert _duplicates() == []


def _session_waiting_for(table: str) -> int | None:
    """The pid of a database session waiting for a lock on `table` (pg_locks is live, unlike
    pg_stat_activity, which stays the same for the whole transaction)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _session_ended(pid: int, timeout: float = 10) -> bool:
    """Wait for a database session to end; end it if it is still there after `timeout`."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone() is None:
                return True
            time.sleep(0.1)
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    return False
