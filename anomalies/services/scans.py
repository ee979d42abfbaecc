"""Scans: start a run, process its chunks, finish it.

A scan is a ScanRun split into ScanChunks of customers. `scan_start` claims the scope (the
database refuses a second active run of one scope) and creates the chunks; each chunk is then
processed by `scan_chunk_run` (a Celery task in production, a loop with `sync`), which reads,
detects and writes its customers in one transaction together with its own "done" mark, so a
chunk redelivered after a worker died is either redone from scratch or skipped.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from config import celery_app
from customers.models import Customer
from customers.validators import NOTE_MAX_LENGTH

from .. import scan_inputs, scan_isolation, scan_results
from ..detection import Finding, SeriesBatch, detect
from ..detection_settings import config_key
from ..models import DataQualityEvent, Direction, ScanChunk, ScanRun, scan_scope_key
from . import health as health_services

logger = logging.getLogger(__name__)

# A chunk whose worker died this many times is failed rather than redelivered once more.
MAX_CHUNK_ATTEMPTS = 3
# Sent by name: this module never imports the tasks module, which imports it.
SCAN_CHUNK_TASK = "anomalies.tasks.scan_chunk_task"


class ScanAlreadyRunning(Exception):
    def __init__(self, run: ScanRun):
        super().__init__(f"a scan of this scope is already {run.status} (run {run.pk})")
        self.run = run


def scan_runs_expire_stale(*, now: dt.datetime | None = None) -> int:
    """Fail queued or running scans whose heartbeat stopped: their workers died, and they must
    not hold their scope's lock forever. The next scan redoes their work."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=settings.SCAN_STALE_MINUTES)
    return ScanRun.objects.filter(
        status__in=ScanRun.ACTIVE_STATUSES, heartbeat_at__lt=cutoff
    ).update(status=ScanRun.Status.FAILED, finished_at=now)


def scan_start(
    *,
    trigger: str,
    user=None,
    customer_ids: Sequence | None = None,
    as_of: dt.date | None = None,
    enqueue: bool = True,
) -> ScanRun:
    """Create a scan of all active customers (customer_ids None) or of the given ones, and
    (with `enqueue`) send its chunks to the workers once the transaction commits.

    Raises ScanAlreadyRunning when a scan of the same scope is queued or running, and
    ScanNotQueued (the run marked failed) when the broker cannot take its chunks.
    """
    scan_runs_expire_stale()
    scope_key = scan_scope_key(customer_ids)
    customers = Customer.objects.exclude(status=Customer.Status.CHURNED)
    if customer_ids is not None:
        customers = Customer.objects.filter(pk__in=list(customer_ids))
    ids = [str(pk) for pk in customers.order_by("pk").values_list("pk", flat=True)]
    # Even chunks: a tiny last chunk would be too small for the engine's portfolio guard,
    # which judges "many accounts fell on the same day" within the series it is given.
    n_chunks = -(-len(ids) // settings.SCAN_CHUNK_CUSTOMERS)
    chunks = [list(part) for part in np.array_split(np.array(ids, dtype=object), max(n_chunks, 1))]
    chunks = [c for c in chunks if c]
    # The scope's active run may finish between our refused insert and the read that names
    # it: then the scope is free and the insert is tried again, a bounded number of times.
    for _ in range(SCOPE_CLAIM_ATTEMPTS):
        try:
            run, chunk_ids = _run_create(
                trigger=trigger,
                user=user,
                scope_key=scope_key,
                ids=ids,
                chunks=chunks,
                customer_ids=customer_ids,
                as_of=as_of,
            )
            break
        except IntegrityError as exc:
            if not _is_scope_conflict(exc):
                raise
            active = ScanRun.objects.filter(
                scope_key=scope_key, status__in=ScanRun.ACTIVE_STATUSES
            ).first()
            if active is not None:
                raise ScanAlreadyRunning(active) from None
    else:
        latest = ScanRun.objects.filter(scope_key=scope_key).first()
        # Every refused insert met a run of this scope, so one exists (it finished since).
        assert latest is not None
        raise ScanAlreadyRunning(latest)
    if enqueue and chunk_ids:
        # Inside the caller's transaction the chunks exist for a worker only once it commits;
        # outside one, on_commit runs at once and a broker's refusal reaches the caller.
        transaction.on_commit(lambda: scan_enqueue(run_id=run.pk, chunk_ids=chunk_ids))
    run.refresh_from_db()
    return run


# How often a scan start retries claiming a scope whose active run just finished.
SCOPE_CLAIM_ATTEMPTS = 3
SCOPE_CONSTRAINT = "scan_one_active_per_scope"


def _is_scope_conflict(exc: IntegrityError) -> bool:
    """Only the scope lock's violation means "a scan of this scope is active"; any other
    integrity error is a bug to surface, not a conflict to retry."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == SCOPE_CONSTRAINT
    # SQLite names the columns of a violated partial unique index, not the index.
    message = str(exc)
    return SCOPE_CONSTRAINT in message or "anomalies_scanrun.scope_key" in message


def _run_create(*, trigger, user, scope_key, ids, chunks, customer_ids, as_of):
    with transaction.atomic():
        run = ScanRun.objects.create(
            trigger=trigger,
            triggered_by=user if user is not None and user.is_authenticated else None,
            scope_key=scope_key,
            scope={"customers": "all"} if customer_ids is None else {"customers": ids},
            as_of=as_of or timezone.localdate(),
            customers_total=len(ids),
            chunks_total=len(chunks),
            heartbeat_at=timezone.now(),
        )
        created = ScanChunk.objects.bulk_create(
            [ScanChunk(run=run, index=i, customer_ids=c) for i, c in enumerate(chunks)]
        )
        if not chunks:
            _run_finish(run.pk)
    return run, [c.pk for c in created]


class ScanNotQueued(Exception):
    """The broker did not take a scan's chunks; the run is marked failed, so its scope is free
    for a retry."""

    def __init__(self, run_id, cause: BaseException):
        super().__init__(
            "The scan could not be queued: the task queue is unavailable "
            f"({type(cause).__name__}). Try again in a few minutes."
        )
        self.run_id = run_id


def scan_enqueue(*, run_id, chunk_ids: list[int]) -> None:
    """Send a run's chunks to the workers. When the broker refuses (down, unreachable, full),
    the run is failed at once rather than left queued, which would lock its scope until it
    went stale; chunks already sent still run and do their (idempotent) work."""
    sent = 0
    try:
        for chunk_id in chunk_ids:
            # By name: the registered task where this process loaded it (so an eager test
            # runs it in place), a plain message to the broker where it did not.
            celery_app.signature(SCAN_CHUNK_TASK, args=(chunk_id,)).apply_async(
                retry=True, retry_policy=settings.CELERY_ENQUEUE_RETRY_POLICY
            )
            sent += 1
    except Exception as exc:  # kombu's OperationalError, socket errors, redis errors
        logger.error("scan %s: queued %d of %d chunks: %s", run_id, sent, len(chunk_ids), exc)
        error = {
            "customer_id": "",
            "metric": "",
            "stage": "enqueue",
            "error": f"{len(chunk_ids) - sent} of {len(chunk_ids)} chunks not queued: "
            f"{type(exc).__name__}: {exc}"[:500],
        }
        ScanRun.objects.filter(pk=run_id).update(
            status=ScanRun.Status.FAILED,
            finished_at=timezone.now(),
            errors=[error],
            error_count=F("error_count") + 1,
        )
        raise ScanNotQueued(run_id, exc) from exc


@dataclass
class ChunkOutcome:
    skipped: bool = False
    series: int = 0
    new: int = 0
    updated: int = 0
    resolved: int = 0
    errors: int = 0


def scan_chunk_run(*, chunk_id: int) -> ChunkOutcome:
    """Scan one chunk: read its usage window, detect, write, mark it done (one transaction).

    A chunk already done is skipped, so a redelivered task is harmless. A customer whose data
    the engine rejects is recorded in the chunk's errors; the others are still scanned.
    """
    chunk = ScanChunk.objects.select_related("run").get(pk=chunk_id)
    if chunk.status in (ScanChunk.Status.DONE, ScanChunk.Status.FAILED):
        return ChunkOutcome(skipped=True)
    if chunk.attempts >= MAX_CHUNK_ATTEMPTS:
        # Redelivered again and again: it keeps killing its worker (memory, time limit).
        scan_chunk_fail(chunk_id=chunk.pk, error=f"gave up after {chunk.attempts} attempts")
        return ChunkOutcome(skipped=True, errors=1)
    run = chunk.run
    started = timezone.now()
    ScanChunk.objects.filter(pk=chunk.pk).update(
        status=ScanChunk.Status.RUNNING, started_at=started, attempts=F("attempts") + 1
    )
    ScanRun.objects.filter(pk=run.pk, status=ScanRun.Status.QUEUED).update(
        status=ScanRun.Status.RUNNING, started_at=started
    )
    ScanRun.objects.filter(pk=run.pk).update(heartbeat_at=started)

    as_of = run.as_of
    assert as_of is not None  # _run_create always sets it; chunks exist only for its runs
    start = as_of - dt.timedelta(days=settings.SCAN_HISTORY_DAYS - 1)
    timings = {}
    clock = time.perf_counter()
    batch = scan_inputs.batch_from_first_recorded_day(
        scan_inputs.usage_batch(customer_ids=chunk.customer_ids, start=start, end=as_of)
    )
    # The usage alone as well: the bulk of "read", and what bench/scan_scale.py compares.
    timings["read_usage"] = time.perf_counter() - clock
    configs = scan_inputs.detection_configs(batch=batch)
    settings_keys = {
        sid: config_key(config) for sid, config in zip(batch.series_ids, configs, strict=True)
    }
    history = scan_inputs.reviewed_history(batch=batch, as_of=as_of)
    timings["read"] = time.perf_counter() - clock

    clock = time.perf_counter()
    detected = scan_isolation.detect_isolating(
        batch,
        lambda sub, rows: detect(
            sub,
            config=[configs[i] for i in rows],
            as_of=as_of,
            hints=scan_isolation.hints_rows(history.hints, rows),
        ),
    )
    timings["detect"] = time.perf_counter() - clock

    clock = time.perf_counter()
    with transaction.atomic():
        # Only one worker writes a chunk: a redelivered copy waits here, then sees it done.
        locked = ScanChunk.objects.select_for_update().get(pk=chunk.pk)
        if locked.status == ScanChunk.Status.DONE:
            return ChunkOutcome(skipped=True)
        # Series the engine failed on keep their stored anomalies as they are.
        scanned = scan_isolation.batch_rows(batch, detected.rows)
        # Bound whole: unpacked, mypy would read the result's type from the unpacking targets.
        written = scan_isolation.write_isolating(
            sorted(set(scanned.groups)),
            lambda customers: _findings_write(
                detected.findings, scanned, customers, as_of, history.suppressed, settings_keys
            ),
            combine=scan_results.WriteCounts.__add__,
        )
        counts = written[0] or scan_results.WriteCounts()
        errors = detected.errors + written[1]
        _portfolio_events_record(detected.portfolio_events, run)
        _cohort_events_record(detected.cohort_events, run)
        # Health (issue 13): the accounts' usage health score of the scan day, once their
        # anomalies are written (the open ones move it); a few queries for the whole chunk.
        health_services.health_scores_record(batch=batch, as_of=as_of)
        timings["write"] = time.perf_counter() - clock
        ScanChunk.objects.filter(pk=chunk.pk).update(
            status=ScanChunk.Status.DONE,
            finished_at=timezone.now(),
            series_count=batch.n_series,
            anomalies_new=counts.new,
            anomalies_updated=counts.updated,
            anomalies_resolved=counts.resolved,
            errors=errors,
            timings={k: round(v, 4) for k, v in timings.items()},
            news=[str(pk) for pk in counts.news] or None,
        )
        ScanRun.objects.filter(pk=run.pk).update(
            chunks_done=F("chunks_done") + 1,
            customers_done=F("customers_done") + len(chunk.customer_ids),
            series_count=F("series_count") + batch.n_series,
            anomalies_new=F("anomalies_new") + counts.new,
            anomalies_updated=F("anomalies_updated") + counts.updated,
            anomalies_resolved=F("anomalies_resolved") + counts.resolved,
            error_count=F("error_count") + len(errors),
            heartbeat_at=timezone.now(),
        )
        if errors:
            _run_errors_append(run.pk, errors)
        _run_finish_if_complete(run.pk)
    return ChunkOutcome(
        series=batch.n_series,
        new=counts.new,
        updated=counts.updated,
        resolved=counts.resolved,
        errors=len(errors),
    )


def _findings_write(
    findings: list[Finding],
    batch: SeriesBatch,
    customers: list[str],
    as_of: dt.date,
    suppressed: frozenset,
    settings_keys: dict[str, str],
) -> scan_results.WriteCounts:
    """Write the findings of some of a batch's accounts (one of write_isolating's parts)."""
    wanted = set(customers)
    rows = [i for i, group in enumerate(batch.groups) if group in wanted]
    return scan_results.findings_apply(
        findings=[f for f in findings if f.account in wanted],
        batch=scan_isolation.batch_rows(batch, rows),
        as_of=as_of,
        suppressed=suppressed,
        settings_keys=settings_keys,
    )


def scan_chunk_fail(*, chunk_id: int, error: str) -> None:
    """A chunk gave up after its retries: record it so the run can finish (partially)."""
    with transaction.atomic():
        chunk = ScanChunk.objects.select_for_update().select_related("run").get(pk=chunk_id)
        if chunk.status == ScanChunk.Status.DONE:
            return
        chunk.status = ScanChunk.Status.FAILED
        chunk.finished_at = timezone.now()
        chunk.errors = [{"chunk": chunk.index, "error": error[:500]}]
        chunk.save(update_fields=["status", "finished_at", "errors"])
        ScanRun.objects.filter(pk=chunk.run_id).update(
            chunks_done=F("chunks_done") + 1,
            error_count=F("error_count") + 1,
            heartbeat_at=timezone.now(),
        )
        _run_errors_append(chunk.run_id, chunk.errors)
        _run_finish_if_complete(chunk.run_id)


def _portfolio_events_record(outages, run: ScanRun) -> None:
    for event in outages:
        DataQualityEvent.objects.get_or_create(
            kind=DataQualityEvent.Kind.PORTFOLIO_OUTAGE,
            start_date=event.start,
            defaults={
                "end_date": event.end,
                "affected_share": event.affected_share,
                "series_affected": event.series_affected,
                "scan_run": run,
                "note": "A large share of accounts moved together: outage or global holiday.",
            },
        )


def _cohort_events_record(events, run: ScanRun) -> None:
    """A cohort's shared move is shown to ops once (per cohort, direction and first day), with
    the accounts whose moves it explained, by name: they are not customer anomalies."""
    if not events:
        return
    ids = {sid.split("/", 1)[0] for event in events for sid in event.series_ids}
    names = {
        str(pk): f"{name} ({external_id})"
        for pk, name, external_id in Customer.objects.filter(pk__in=ids).values_list(
            "pk", "name", "external_id"
        )
    }
    metric_length = DataQualityEvent._meta.get_field("metric").max_length
    for event in events:
        customers = sorted({sid.split("/", 1)[0] for sid in event.series_ids})
        direction = "fell" if event.direction == Direction.NEGATIVE else "rose"
        head = (
            f"{len(customers)} account(s) {direction} together with their cohort "
            f"({event.cohort}: {event.moving} of {event.cohort_size} series): "
            "a regional event, not customer anomalies. Accounts: "
        )
        DataQualityEvent.objects.get_or_create(
            kind=DataQualityEvent.Kind.COHORT_MOVE,
            start_date=event.start,
            metric=f"{event.cohort}:{event.direction}"[:metric_length],
            defaults={
                "end_date": event.end,
                "series_affected": len(event.series_ids),
                "affected_share": event.moving / event.cohort_size if event.cohort_size else None,
                "scan_run": run,
                "note": head
                + _names_within(
                    sorted(names.get(c, c) for c in customers), NOTE_MAX_LENGTH - len(head)
                ),
            },
        )


def _names_within(names: list[str], room: int) -> str:
    """The names, comma-separated, as many as fit in `room` characters, then "and N more"."""
    reserve = len(", and 9999999 more")
    text = ""
    for k, name in enumerate(names):
        candidate = f"{text}, {name}" if text else name
        last = k == len(names) - 1
        if len(candidate) > room - (0 if last else reserve):
            rest = len(names) - k
            return f"{text}, and {rest} more" if text else f"{rest} accounts"
        text = candidate
    return text


def _run_errors_append(run_id, errors: list[dict]) -> None:
    run = ScanRun.objects.select_for_update().get(pk=run_id)
    run.errors = (run.errors + errors)[-200:]  # the latest errors; the count says how many
    run.save(update_fields=["errors"])


def _run_finish_if_complete(run_id) -> None:
    run = ScanRun.objects.select_for_update().get(pk=run_id)
    if run.chunks_done >= run.chunks_total and run.status in ScanRun.ACTIVE_STATUSES:
        _run_finish(run_id)


def _run_finish(run_id) -> None:
    run = ScanRun.objects.get(pk=run_id)
    failed = run.chunks.filter(status=ScanChunk.Status.FAILED).count()
    if run.chunks_total and failed == run.chunks_total:
        status = ScanRun.Status.FAILED
    elif failed or run.error_count:
        status = ScanRun.Status.PARTIALLY_FAILED
    else:
        status = ScanRun.Status.SUCCEEDED
    ScanRun.objects.filter(pk=run_id).update(
        status=status, finished_at=timezone.now(), started_at=run.started_at or timezone.now()
    )


# Chunks whose news one call takes: a night's scan of a large portfolio is a few dozen.
NEWS_TAKE_CHUNKS = 100


def scan_news_take(*, limit: int = NEWS_TAKE_CHUNKS) -> list[str]:
    """The ids of open anomalies that finished chunks created or changed and nobody took yet,
    marked taken. Call it inside a transaction that also records what becomes of them (its
    rows stay locked until then, and are taken only if that commits); a second caller skips
    the locked chunks. The same id may come twice (two chunks, two scans): it is news twice."""
    taken = list(
        ScanChunk.objects.select_for_update(skip_locked=True)
        .filter(news__isnull=False)
        .order_by("pk")
        .values_list("pk", "news")[:limit]
    )
    ScanChunk.objects.filter(pk__in=[pk for pk, _ in taken]).update(news=None)
    # `news or ()`: the filter above leaves no None, the column's type allows it.
    return [anomaly_id for _, news in taken for anomaly_id in news or ()]


def scan_run_sync(
    *, run: ScanRun, progress: Callable[[ChunkOutcome], None] | None = None
) -> ScanRun:
    """Process every pending chunk of a run in this process (no broker needed).

    A chunk that fails is recorded as failed and the next one runs, as on the workers; if
    this process is stopped (Ctrl-C, a signal turned into SystemExit), the chunks not done are
    failed and the run finished before the exception goes on, so a dead shell never leaves a
    run "running" to lock its scope."""
    try:
        for chunk_id in run.chunks.exclude(status=ScanChunk.Status.DONE).values_list(
            "pk", flat=True
        ):
            try:
                outcome = scan_chunk_run(chunk_id=chunk_id)
            except Exception as exc:
                logger.exception("scan %s: chunk %s failed", run.pk, chunk_id)
                scan_chunk_fail(chunk_id=chunk_id, error=f"{type(exc).__name__}: {exc}")
                outcome = ChunkOutcome(errors=1)
            if progress:
                progress(outcome)
    except BaseException as exc:
        scan_run_abandon(run_id=run.pk, error=f"interrupted: {type(exc).__name__}: {exc}")
        raise
    run.refresh_from_db()
    return run


def scan_run_abandon(*, run_id, error: str) -> None:
    """Fail every chunk of a run that is not done and finish the run (its process is going
    away)."""
    for chunk_id in ScanChunk.objects.filter(
        run_id=run_id, status__in=[ScanChunk.Status.PENDING, ScanChunk.Status.RUNNING]
    ).values_list("pk", flat=True):
        scan_chunk_fail(chunk_id=chunk_id, error=error)
    ScanRun.objects.filter(pk=run_id, status__in=ScanRun.ACTIVE_STATUSES).update(
        status=ScanRun.Status.FAILED, finished_at=timezone.now()
    )
