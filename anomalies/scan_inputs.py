"""What a scan chunk reads: its customers' usage window in one query, the detection settings
that apply to each series, and what earlier reviews of their anomalies tell the engine.

Reads only (selectors); every function takes the whole chunk at once, so a chunk costs a
fixed handful of queries whatever its number of customers or metrics.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import CharField, Exists, OuterRef, Q
from django.db.models.functions import Cast

from customers.models import Customer, UsageMetric

from .detection import DetectionConfig, SeriesBatch, SeriesHints
from .detection.cohorts import COHORT_SEPARATOR
from .detection.learned import learned_evidence
from .detection_settings import detection_config_for_series
from .models import (
    ActionKind,
    AnomalyAction,
    DataQualityEvent,
    Direction,
    DismissReason,
    Outcome,
    UsageAnomaly,
)

# What a series' reviewed anomalies of the last LEARNING_MEMORY_DAYS weigh for its learned
# evidence (detection.learned: factor = 1 + step * (ignored - k * mattered), bounded).
LEARNING_MEMORY_DAYS = 180
# Ignored: a false-positive dismissal counts fully; an "expected" dismissal (a planned
# change: the alert was not needed, but the series is not noisy) and an anomaly that ended
# with no action and nothing after it (outcome no_impact, or unknown once the outcome window
# has passed) count half.
IGNORED_FALSE_POSITIVE = 1.0
IGNORED_EXPECTED = 0.5
IGNORED_SILENT = 0.5
# Mattered (weight 1, times learned.MATTERED_WEIGHT): an action on the card other than the
# review's own bookkeeping, a churn, contraction or expansion after it, or a dismissal as the
# new normal (a real change). A data issue is neither: a broken import says nothing of how
# volatile the account is (its days are excluded instead).
BOOKKEEPING_ACTIONS = (ActionKind.DISMISS, ActionKind.REOPEN, ActionKind.RESCAN)
MATTERING_OUTCOMES = (Outcome.CHURNED, Outcome.CONTRACTED, Outcome.EXPANDED)
QUIET_OUTCOMES = (Outcome.NO_IMPACT, Outcome.UNKNOWN)
# Without the outcomes setting: how long after an anomaly a lifecycle change is its outcome.
DEFAULT_OUTCOME_WINDOW_DAYS = 90


def usage_frame(*, customer_ids: Sequence, start: dt.date, end: dt.date) -> pd.DataFrame:
    """All usage of these customers between start and end (inclusive), one query, no model
    instance per row: columns `customer` (position in `customer_ids`), `metric`, `day`
    (days since `start`) and `value`. A scan reads through `usage_batch` instead, which skips
    the frame."""
    ids = [str(c) for c in customer_ids]
    if not ids:
        return pd.DataFrame({"customer": [], "metric": [], "day": [], "value": []})
    table = UsageMetric._meta.db_table
    if connection.vendor == "postgresql":
        # COPY streams CSV that pandas parses in C, several times faster than a Python tuple
        # per row through the cursor; positions and day numbers instead of UUIDs and dates
        # spare PostgreSQL the formatting and us the parsing.
        sql = (
            "COPY (SELECT ids.pos - 1, u.metric, u.date - %s::date, u.value "  # noqa: S608
            f"FROM {table} u JOIN unnest(%s::uuid[]) WITH ORDINALITY AS ids(id, pos) "
            "ON u.customer_id = ids.id WHERE u.date BETWEEN %s AND %s) "
            "TO STDOUT WITH (FORMAT csv)"
        )
        buffer = io.BytesIO()
        with connection.cursor() as cursor:
            with cursor.connection.cursor().copy(sql, (start, ids, start, end)) as copy:
                for block in copy:
                    buffer.write(block)
        buffer.seek(0)
        return pd.read_csv(
            buffer,
            names=["customer", "metric", "day", "value"],
            dtype={"customer": np.int64, "metric": str, "day": np.int64, "value": float},
        )
    # Elsewhere (SQLite): the ORM's query, but its rows as the driver returns them. Django's
    # converters would build a UUID and a date per row, most of the read's time; the stored
    # forms (the id's text, ISO dates) are mapped per column in C by pandas instead.
    customer_field = UsageMetric._meta.get_field("customer")
    position = {customer_field.get_db_prep_value(c, connection): i for i, c in enumerate(ids)}
    query = (
        UsageMetric.objects.filter(customer_id__in=ids, date__gte=start, date__lte=end)
        # As text: a date column would go through the driver's date converter row by row.
        .annotate(day=Cast("date", CharField()))
        .values_list("customer_id", "metric", "day", "value")
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    frame = pd.DataFrame(rows, columns=["customer", "metric", "day", "value"])
    frame["customer"] = frame["customer"].map(position).astype(np.int64)
    days = pd.to_datetime(frame["day"], format="%Y-%m-%d")
    frame["day"] = (days - pd.Timestamp(start)).dt.days.astype(np.int64)
    frame["value"] = frame["value"].astype(float)
    return frame


# The shortest calendar a scan hands the engine, however late a chunk's data begins: half a
# year holds every window the engine's rules look back over (its 84-day baseline and 42-day
# recent windows, the weekly profile), so no rule ever sees a calendar shorter than it knows.
MIN_SCAN_CALENDAR_DAYS = 182


def batch_from_first_recorded_day(batch: SeriesBatch) -> SeriesBatch:
    """`batch` without the leading days on which none of its series has a value (a chunk of
    young accounts in the scan's two-and-a-half-year window): a day of nothing tells the
    engine nothing, but it costs a column in every array the engine builds, so a chunk of
    180-day-old accounts would otherwise carry five times the memory and work it needs.
    Never shorter than MIN_SCAN_CALENDAR_DAYS; the last day stays the scan day."""
    if batch.n_series == 0:
        return batch
    recorded = np.flatnonzero(~np.isnan(batch.values).all(axis=0))
    first = int(recorded[0]) if len(recorded) else batch.n_days
    first = min(first, max(batch.n_days - MIN_SCAN_CALENDAR_DAYS, 0))
    if first == 0:
        return batch
    return replace(
        batch,
        values=np.ascontiguousarray(batch.values[:, first:]),
        start=batch.start + dt.timedelta(days=first),
    )


def series_batch(
    frame: pd.DataFrame, *, customer_ids: Sequence, start: dt.date, end: dt.date
) -> SeriesBatch:
    """The engine's batch from a usage frame: one series per customer and metric (ids
    `customer/metric`, grouped by customer) on the calendar start..end, NaN for days without
    a row."""
    n_days = (end - start).days + 1
    if frame.empty:
        return SeriesBatch(np.zeros((0, n_days)), start, (), (), ())
    metric_codes, metrics = pd.factorize(frame["metric"], sort=True)
    key = frame["customer"].to_numpy() * len(metrics) + metric_codes
    keys, rows = np.unique(key, return_inverse=True)
    values = np.full((len(keys), n_days), np.nan)
    values[rows, frame["day"].to_numpy()] = frame["value"].to_numpy()
    return _batch(
        values,
        start,
        customer_ids,
        positions=[k // len(metrics) for k in keys.tolist()],
        series_metrics=[metrics[k % len(metrics)] for k in keys.tolist()],
    )


def usage_batch(*, customer_ids: Sequence, start: dt.date, end: dt.date) -> SeriesBatch:
    """The engine's batch of these customers' usage between start and end: the same batch as
    `series_batch(usage_frame(...))`, read without a row-per-value frame on PostgreSQL.

    PostgreSQL aggregates each series' days and values into two arrays and sends them with
    binary COPY; they are decoded with numpy and scattered into the (series, days) array in
    one assignment. Against the CSV parsed by pandas: no text parsing of every value, no
    Python string per row and one COPY message per series instead of one per row. On a
    1,000-account chunk (1.8 M rows) the worker's CPU for the read fell from 1.2-1.8 s to
    0.15-0.4 s and its extra memory from 296 to 138 MB; PostgreSQL's share (0.45 s) is the
    same (bench/scan_scale.py compares both paths on whole scans)."""
    if connection.vendor != "postgresql" or not customer_ids:
        frame = usage_frame(customer_ids=customer_ids, start=start, end=end)
        return series_batch(frame, customer_ids=customer_ids, start=start, end=end)
    ids = [str(c) for c in customer_ids]
    table = UsageMetric._meta.db_table
    # Grouped per customer (LATERAL): a hash of its few metrics each time, where one
    # GROUP BY over the whole chunk spills a hash of every series to disk at the default
    # work_mem; the covering index still serves each customer's window (index-only scan).
    sql = (
        "COPY (SELECT ids.pos::int4 - 1, s.metric, s.days, s.vals "  # noqa: S608
        "FROM unnest(%s::uuid[]) WITH ORDINALITY AS ids(id, pos) CROSS JOIN LATERAL ("
        "SELECT u.metric, array_agg(u.date - %s::date) AS days, array_agg(u.value) AS vals "
        f"FROM {table} u WHERE u.customer_id = ids.id AND u.date BETWEEN %s AND %s "
        "GROUP BY u.metric) s) TO STDOUT WITH (FORMAT binary)"
    )
    with connection.cursor() as cursor:
        with cursor.connection.cursor().copy(sql, (ids, start, start, end)) as copy:
            blocks = [bytes(block) for block in copy]
    series = _decode_series_arrays(b"".join(blocks))
    del blocks
    n_days = (end - start).days + 1
    values = np.full((len(series.positions), n_days), np.nan)
    values[np.repeat(np.arange(len(series.counts)), series.counts), series.days] = series.values
    return _batch(
        values, start, customer_ids, positions=series.positions, series_metrics=series.metrics
    )


@dataclass(frozen=True)
class _SeriesArrays:
    """Decoded series, sorted by customer position then metric: the days and values of
    series k are the k-th `counts[k]` entries of `days` and `values`."""

    positions: list[int]
    metrics: list[str]
    counts: np.ndarray
    days: np.ndarray
    values: np.ndarray


# PostgreSQL's binary COPY (https://www.postgresql.org/docs/current/sql-copy.html): an
# 11-byte signature, int32 flags, int32 header-extension length; then per tuple an int16
# field count and per field an int32 byte length and the value; an int16 -1 ends the data.
# A one-dimensional array value is int32 ndim, int32 has-nulls, int32 element type, int32
# length, int32 lower bound, then per element an int32 byte length and the element.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TUPLE_HEAD = struct.Struct(">hiii")  # field count; position's length and value; metric length
_ARRAY_HEAD = struct.Struct(">iiiiii")  # byte length, ndim, has-nulls, type, length, lbound
_DAY_ELEMENT = np.dtype([("length", ">i4"), ("value", ">i4")])
_VALUE_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])
_SERIES_FIELDS = 4


def _decode_series_arrays(data: bytes) -> _SeriesArrays:
    """Decode `(position int4, metric text, days int4[], values float8[])` tuples of a binary
    COPY. A Python step per series (not per value): each series' two arrays are sliced out
    whole, joined, and viewed as big-endian (length, element) pairs by numpy."""
    if not data.startswith(COPY_SIGNATURE):
        raise ValueError("not a binary COPY stream")
    view = memoryview(data)
    offset = len(COPY_SIGNATURE) + 8 + int.from_bytes(data[15:19], "big")
    series, day_parts, value_parts = [], [], []
    metric_names: dict[bytes, str] = {}
    while int.from_bytes(data[offset : offset + 2], "big", signed=True) != -1:
        fields, _, position, metric_length = _TUPLE_HEAD.unpack_from(data, offset)
        if fields != _SERIES_FIELDS:
            raise ValueError(f"binary COPY tuple with {fields} fields, expected 4")
        offset += _TUPLE_HEAD.size
        raw = data[offset : offset + metric_length]
        metric = metric_names.get(raw)
        if metric is None:  # a chunk has few metric names and many series of each
            metric = metric_names[raw] = raw.decode()
        offset += metric_length
        counts = []
        for parts in (day_parts, value_parts):
            length, ndim, has_nulls, _, count, _ = _ARRAY_HEAD.unpack_from(data, offset)
            if ndim != 1 or has_nulls:
                raise ValueError("binary COPY array is not one-dimensional without nulls")
            parts.append(view[offset + _ARRAY_HEAD.size : offset + 4 + length])
            counts.append(count)
            offset += 4 + length
        if counts[0] != counts[1]:
            raise ValueError("binary COPY series with unequal numbers of days and values")
        series.append((position, metric, counts[0], len(series)))
    series.sort()
    order = [k for *_, k in series]
    days = np.frombuffer(b"".join(day_parts[k] for k in order), dtype=_DAY_ELEMENT)
    values = np.frombuffer(b"".join(value_parts[k] for k in order), dtype=_VALUE_ELEMENT)
    return _SeriesArrays(
        positions=[p for p, *_ in series],
        metrics=[m for _, m, *_ in series],
        counts=np.array([c for _, _, c, _ in series], dtype=np.intp),
        days=days["value"].astype(np.intp),
        values=values["value"].astype(np.float64),
    )


def _batch(
    values: np.ndarray,
    start: dt.date,
    customer_ids: Sequence,
    *,
    positions: Sequence[int],
    series_metrics: Sequence[str],
) -> SeriesBatch:
    """A batch of series given by their customer's position in `customer_ids` and metric (in
    that order), with each customer's calendar and cohort."""
    if not len(positions):
        return SeriesBatch(np.zeros((0, values.shape[1])), start, (), (), ())
    ids = [str(c) for c in customer_ids]
    groups = tuple(ids[p] for p in positions)
    metrics = tuple(series_metrics)
    series_ids = tuple(f"{g}/{m}" for g, m in zip(groups, metrics, strict=True))
    calendars, cohorts = _calendars_and_cohorts(sorted(set(groups)))
    return SeriesBatch(
        values,
        start,
        series_ids,
        metrics,
        groups,
        cohorts=tuple(cohorts.get(g, "") for g in groups),
        countries=tuple(calendars.get(g) or None for g in groups),
    )


def _calendars_and_cohorts(customer_ids: list[str]) -> tuple[dict, dict]:
    """Each customer's holiday calendar and its cohort labels for the engine (region and
    segment, as "region:<r>|segment:<s>"; see detection.cohorts), in one query."""
    calendars, cohorts = {}, {}
    rows = Customer.objects.filter(pk__in=customer_ids).values_list(
        "pk", "holiday_calendar", "region", "segment"
    )
    for pk, calendar, region, segment in rows:
        calendars[str(pk)] = calendar
        # Case-blind, like a person reading them: "EMEA" and "emea" are one cohort.
        region, segment = region.strip().lower(), segment.strip().lower()
        labels = [f"region:{region}" if region else "", f"segment:{segment}" if segment else ""]
        cohorts[str(pk)] = COHORT_SEPARATOR.join(label for label in labels if label)
    return calendars, cohorts


def detection_configs(*, batch: SeriesBatch) -> list[DetectionConfig]:
    """Each series' config, the settings scopes resolved by detection_settings."""
    resolved = detection_config_for_series(series=zip(batch.groups, batch.metrics, strict=True))
    return [r.config for r in resolved]


@dataclass(frozen=True)
class ReviewedHistory:
    """Hints for the engine plus what the scan filters afterwards."""

    hints: SeriesHints
    # (customer_id, metric, anomaly_type) dismissed as expected until a day on or after the
    # scan day: findings of that kind are not written.
    suppressed: frozenset[tuple[str, str, str]]


def reviewed_history(*, batch: SeriesBatch, as_of: dt.date) -> ReviewedHistory:
    """Turn dismissals and data-quality events into engine hints (one query each)."""
    n, n_days = batch.n_series, batch.n_days
    row_of = {sid: i for i, sid in enumerate(batch.series_ids)}
    exclude = np.zeros((n, n_days), dtype=bool)
    rebaseline_from = np.zeros(n, dtype=np.int64)
    suppressed = set()

    def columns(first: dt.date, last: dt.date) -> slice:
        a = max((first - batch.start).days, 0)
        b = min((last - batch.start).days + 1, n_days)
        return slice(a, max(a, b))

    for event in DataQualityEvent.objects.filter(
        kind=DataQualityEvent.Kind.PORTFOLIO_OUTAGE,
        end_date__gte=batch.start,
        start_date__lte=as_of,
    ):
        exclude[:, columns(event.start_date, event.end_date)] = True

    dismissed = UsageAnomaly.objects.filter(
        customer_id__in=sorted(set(batch.groups)), status=UsageAnomaly.Status.DISMISSED
    ).values_list(
        "customer_id",
        "metric_type",
        "anomaly_type",
        "start_date",
        "end_date",
        "dismiss_reason",
        "dismissed_until",
        "dismissed_at",
    )
    for customer, metric, kind, start, end, reason, until, dismissed_at in dismissed:
        row = row_of.get(f"{customer}/{metric}")
        if row is None:
            continue
        last = end or dismissed_at.date()
        if reason == DismissReason.DATA_ISSUE:
            exclude[row, columns(start, last)] = True
        elif reason == DismissReason.NEW_NORMAL:
            rebaseline_from[row] = max(rebaseline_from[row], (start - batch.start).days)
        elif reason == DismissReason.EXPECTED:
            # Without a date, "expected" dismisses this event only (as any dismissal does).
            if until is not None and until >= as_of:
                suppressed.add((str(customer), metric, kind))
    hints = SeriesHints(
        exclude=exclude,
        rebaseline_from=rebaseline_from,
        evidence=learned_evidence_factors(batch=batch, as_of=as_of),
    )
    return ReviewedHistory(hints, frozenset(suppressed))


def excursion_counts(*, batch: SeriesBatch, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """(ignored, mattered): (n, 2) weighted counts of each series' reviewed anomalies of the
    last LEARNING_MEMORY_DAYS that nobody acted on and that mattered, per direction (column
    0 falls, 1 rises). One query for the whole batch."""
    n = batch.n_series
    ignored, mattered = np.zeros((n, 2)), np.zeros((n, 2))
    if not n:
        return ignored, mattered
    memory = as_of - dt.timedelta(days=LEARNING_MEMORY_DAYS)
    window = getattr(settings, "ANOMALY_OUTCOME_WINDOW_DAYS", DEFAULT_OUTCOME_WINDOW_DAYS)
    window_closed = as_of - dt.timedelta(days=window)
    acted = AnomalyAction.objects.filter(anomaly=OuterRef("pk")).exclude(
        kind__in=BOOKKEEPING_ACTIONS
    )
    rows = (
        UsageAnomaly.objects.filter(
            customer_id__in=sorted(set(batch.groups)), start_date__lte=as_of
        )
        .filter(Q(start_date__gte=memory) | Q(dismissed_at__date__gte=memory))
        .annotate(acted=Exists(acted))
        .values_list(
            "customer_id",
            "metric_type",
            "direction",
            "status",
            "dismiss_reason",
            "outcome",
            "start_date",
            "acted",
        )
    )
    row_of = {sid: i for i, sid in enumerate(batch.series_ids)}
    for customer, metric, direction, status, reason, outcome, start, was_acted in rows:
        row = row_of.get(f"{customer}/{metric}")
        if row is None:
            continue
        column = 0 if direction == Direction.NEGATIVE else 1
        if was_acted or outcome in MATTERING_OUTCOMES or reason == DismissReason.NEW_NORMAL:
            mattered[row, column] += 1.0
        elif status == UsageAnomaly.Status.DISMISSED:
            if reason == DismissReason.FALSE_POSITIVE:
                ignored[row, column] += IGNORED_FALSE_POSITIVE
            elif reason == DismissReason.EXPECTED:
                ignored[row, column] += IGNORED_EXPECTED
        elif status == UsageAnomaly.Status.RESOLVED and (
            outcome == Outcome.NO_IMPACT or (outcome in QUIET_OUTCOMES and start <= window_closed)
        ):
            ignored[row, column] += IGNORED_SILENT
    return ignored, mattered


def learned_evidence_factors(*, batch: SeriesBatch, as_of: dt.date) -> np.ndarray:
    """(n, 2) each series' evidence factor, learned from its reviewed anomalies."""
    ignored, mattered = excursion_counts(batch=batch, as_of=as_of)
    return learned_evidence(ignored, mattered, batch.metrics)
