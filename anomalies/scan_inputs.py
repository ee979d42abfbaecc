"""What a scan chunk reads: its customers' usage window in one query, the detection settings
that apply to each series, and what earlier reviews of their anomalies tell the engine.

Reads only (selectors); every function takes the whole chunk at once, so a chunk costs a
fixed handful of queries whatever its number of customers or metrics.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Q

from customers.models import UsageMetric

from .detection import DetectionConfig, SeriesBatch, SeriesHints, preset
from .detection.config import PER_SERIES_FIELDS
from .models import DataQualityEvent, DetectionSettings, DismissReason, UsageAnomaly

# A false-positive dismissal raises the evidence a series needs for that direction by this
# much, up to the cap, for this long.
FALSE_POSITIVE_EVIDENCE_STEP = 0.5
FALSE_POSITIVE_EVIDENCE_CAP = 3.0
FALSE_POSITIVE_MEMORY_DAYS = 180


def usage_frame(*, customer_ids: Sequence, start: dt.date, end: dt.date) -> pd.DataFrame:
    """All usage of these customers between start and end (inclusive): columns customer_id
    (str), metric, date (datetime64), value. One query; no model instance per row."""
    ids = [str(c) for c in customer_ids]
    if not ids:
        return pd.DataFrame({"customer_id": [], "metric": [], "date": [], "value": []})
    table = UsageMetric._meta.db_table
    if connection.vendor == "postgresql":
        # COPY streams rows as CSV that pandas parses in C: several times faster than
        # building a Python tuple per row through the cursor.
        sql = (
            f"COPY (SELECT customer_id, metric, date, value FROM {table} "  # noqa: S608
            "WHERE customer_id = ANY(%s::uuid[]) AND date BETWEEN %s AND %s) "
            "TO STDOUT WITH (FORMAT csv)"
        )
        buffer = io.BytesIO()
        with connection.cursor() as cursor:
            with cursor.connection.cursor().copy(sql, (ids, start, end)) as copy:
                for block in copy:
                    buffer.write(block)
        buffer.seek(0)
        frame = pd.read_csv(
            buffer,
            names=["customer_id", "metric", "date", "value"],
            dtype={"customer_id": str, "metric": str, "value": float},
            parse_dates=["date"],
        )
    else:
        rows = UsageMetric.objects.filter(
            customer_id__in=ids, date__gte=start, date__lte=end
        ).values_list("customer_id", "metric", "date", "value")
        frame = pd.DataFrame(list(rows), columns=["customer_id", "metric", "date", "value"])
        frame["customer_id"] = frame["customer_id"].astype(str)
        frame["date"] = pd.to_datetime(frame["date"])
    # SQLite hands back UUIDs without dashes: normalise to the canonical form.
    frame["customer_id"] = frame["customer_id"].map(_canonical_uuid)
    return frame


def _canonical_uuid(value: str) -> str:
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def series_batch(frame: pd.DataFrame, *, start: dt.date, end: dt.date) -> SeriesBatch:
    """The engine's batch from a usage frame: one series per customer and metric on the
    calendar start..end, NaN for days without a row."""
    n_days = (end - start).days + 1
    if frame.empty:
        empty = np.zeros((0, n_days))
        return SeriesBatch(empty, start, (), (), ())
    keys = frame["customer_id"] + "/" + frame["metric"]
    codes, series_ids = pd.factorize(keys, sort=True)
    cols = (frame["date"] - pd.Timestamp(start)).dt.days.to_numpy()
    values = np.full((len(series_ids), n_days), np.nan)
    values[codes, cols] = frame["value"].to_numpy()
    ids = tuple(series_ids)
    groups = tuple(s.split("/", 1)[0] for s in ids)
    metrics = tuple(s.split("/", 1)[1] for s in ids)
    return SeriesBatch(values, start, ids, metrics, groups)


def detection_configs(*, batch: SeriesBatch) -> list[DetectionConfig]:
    """Each series' config: its sensitivity preset with explicit thresholds on top, the most
    specific settings row winning field by field (customer and metric, customer, metric,
    global)."""
    customer_ids = sorted(set(batch.groups))
    rows = DetectionSettings.objects.filter(
        Q(customer__isnull=True) | Q(customer_id__in=customer_ids)
    )
    by_scope = {(str(r.customer_id) if r.customer_id else None, r.metric): r for r in rows}
    cache: dict[tuple, DetectionConfig] = {}
    configs = []
    for customer, metric in zip(batch.groups, batch.metrics, strict=True):
        scopes = [
            by_scope.get((customer, metric)),
            by_scope.get((customer, "")),
            by_scope.get((None, metric)),
            by_scope.get((None, "")),
        ]
        scopes = [s for s in scopes if s is not None]
        key = tuple(s.pk for s in scopes)
        if key not in cache:
            cache[key] = _merged_config(scopes)
        configs.append(cache[key])
    return configs


def _merged_config(scopes: list[DetectionSettings]) -> DetectionConfig:
    sensitivity = scopes[0].sensitivity if scopes else "medium"
    overrides = {}
    for field in PER_SERIES_FIELDS:
        for scope in scopes:
            value = getattr(scope, _SETTINGS_FIELD[field])
            if value is not None:
                overrides[field] = value
                break
    return preset(sensitivity, **overrides)


# DetectionConfig field -> DetectionSettings column.
_SETTINGS_FIELD = {
    "z_threshold": "z_threshold",
    "drop_percent": "drop_percent",
    "spike_percent": "spike_percent",
    "min_duration_days": "min_duration_days",
    "min_volume": "min_volume",
}


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
            column = 0 if direction == "negative" else 1
            evidence[row, column] = min(
                evidence[row, column] + FALSE_POSITIVE_EVIDENCE_STEP, FALSE_POSITIVE_EVIDENCE_CAP
            )
    hints = SeriesHints(exclude=exclude, rebaseline_from=rebaseline_from, evidence=evidence)
    return ReviewedHistory(hints, frozenset(suppressed))
