"""What a scan chunk reads: its customers' usage window in one query, the detection settings
that apply to each series, and what earlier reviews of their anomalies tell the engine.

Reads only (selectors); every function takes the whole chunk at once, so a chunk costs a
fixed handful of queries whatever its number of customers or metrics.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection

from customers.models import Customer, UsageMetric

from .detection import DetectionConfig, SeriesBatch, SeriesHints
from .detection.cohorts import COHORT_SEPARATOR
from .detection_settings import detection_config_for_series
from .models import DataQualityEvent, Direction, DismissReason, UsageAnomaly

# A false-positive dismissal raises the evidence a series needs for that direction by this
# much, up to the cap, for this long.
FALSE_POSITIVE_EVIDENCE_STEP = 0.5
FALSE_POSITIVE_EVIDENCE_CAP = 3.0
FALSE_POSITIVE_MEMORY_DAYS = 180


def usage_frame(*, customer_ids: Sequence, start: dt.date, end: dt.date) -> pd.DataFrame:
    """All usage of these customers between start and end (inclusive), one query, no model
    instance per row: columns `customer` (position in `customer_ids`), `metric`, `day`
    (days since `start`) and `value`."""
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
    position = {uuid.UUID(c): i for i, c in enumerate(ids)}
    rows = UsageMetric.objects.filter(
        customer_id__in=ids, date__gte=start, date__lte=end
    ).values_list("customer_id", "metric", "date", "value")
    frame = pd.DataFrame(list(rows), columns=["customer", "metric", "day", "value"])
    frame["customer"] = frame["customer"].map(position).astype(np.int64)
    frame["day"] = (pd.to_datetime(frame["day"]) - pd.Timestamp(start)).dt.days
    return frame


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
    ids = [str(c) for c in customer_ids]
    groups = tuple(ids[k // len(metrics)] for k in keys.tolist())
    series_metrics = tuple(metrics[k % len(metrics)] for k in keys.tolist())
    series_ids = tuple(f"{g}/{m}" for g, m in zip(groups, series_metrics, strict=True))
    calendars, cohorts = _calendars_and_cohorts(sorted(set(groups)))
    return SeriesBatch(
        values,
        start,
        series_ids,
        series_metrics,
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
    evidence = np.ones((n, 2))
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

    memory = as_of - dt.timedelta(days=FALSE_POSITIVE_MEMORY_DAYS)
    dismissed = UsageAnomaly.objects.filter(
        customer_id__in=sorted(set(batch.groups)), status=UsageAnomaly.Status.DISMISSED
    ).values_list(
        "customer_id",
        "metric_type",
        "anomaly_type",
        "direction",
        "start_date",
        "end_date",
        "dismiss_reason",
        "dismissed_until",
        "dismissed_at",
    )
    for customer, metric, kind, direction, start, end, reason, until, dismissed_at in dismissed:
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
        elif reason == DismissReason.FALSE_POSITIVE and dismissed_at.date() >= memory:
            column = 0 if direction == Direction.NEGATIVE else 1
            evidence[row, column] = min(
                evidence[row, column] + FALSE_POSITIVE_EVIDENCE_STEP, FALSE_POSITIVE_EVIDENCE_CAP
            )
    hints = SeriesHints(exclude=exclude, rebaseline_from=rebaseline_from, evidence=evidence)
    return ReviewedHistory(hints, frozenset(suppressed))
