"""Writing a scan chunk's findings: reconcile them with the anomalies already stored, in bulk.

Idempotent by construction: a finding updates the stored anomaly of the same event (same
series, direction, kind of event, overlapping days) instead of adding one; an event that is
over resolves its anomaly; a dismissed event stays dismissed; risk signals hang off anomalies
through a unique key, so a rescan, a retry or two workers cannot double them. What is news
(open anomalies created or changed) is returned for the chunk to record; who hears about it
is not the scan's business.

An open event that no finding continues is over, with one exception: when the detection
settings in force for its series changed since a scan last reported it (its `settings_key`
differs) and its series is still outside the event's normal range on its latest days, the
settings stopped it from qualifying, not the usage: it is `suppressed_by_settings`, not
resolved. Visible and reversible: a later finding of the same event (the settings changed
back) opens the same row again, and a suppressed event whose usage comes back into its range
is resolved then.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.db.models import Q
from django.utils import timezone

from customers.models import RiskSignal

from .detection import DetectionConfig, Finding, SeriesBatch
from .detection.vocabulary import SEVERITY_RANK, AnomalyType, Direction, Severity
from .models import AnomalyStatus, UsageAnomaly
from .text import anomaly_sentence

# A pattern change or a gradual decline is over the day it is found (it becomes the
# baseline), but a CSM should see it: it stays open this long unless dismissed.
PATTERN_REVIEW_DAYS = 14
# Stored anomalies a finding may be the continuation of: open ones, and others this recent.
RECENT_DAYS = 90
_UPDATED_FIELDS = [
    "anomaly_type",
    "severity",
    "status",
    "baseline_value",
    "actual_value",
    "deviation_percent",
    "end_date",
    "score",
    "expected_low",
    "expected_high",
    "confidence",
    "evidence_factor",
    "data_completeness",
    "possible_cause",
    "projected_value",
    "figures_clamped",
    "settings_key",
    "suppressed_at",
    "last_evaluated_at",
]
# Days at the end of the window whose mean decides whether a series is still outside an
# event's normal range (the engine's recovery_days is 2; one more smooths a single odd day).
STILL_OUTSIDE_DAYS = 3


@dataclass
class WriteCounts:
    new: int = 0
    updated: int = 0
    resolved: int = 0
    # Ids of the open anomalies created or changed: the chunk's news.
    news: tuple = ()

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.new + other.new,
            self.updated + other.updated,
            self.resolved + other.resolved,
            self.news + other.news,
        )


def findings_apply(
    *,
    findings: list[Finding],
    batch: SeriesBatch,
    as_of: dt.date,
    suppressed: frozenset = frozenset(),
    settings_keys: Mapping[str, str] | None = None,
) -> WriteCounts:
    """Store one chunk's findings. Call inside a transaction. `settings_keys` maps each
    series id to the key of the detection config it was scanned with (config_key)."""
    settings_keys = settings_keys or {}
    now = timezone.now()
    customer_ids = sorted(set(batch.groups))
    stored = list(
        UsageAnomaly.objects.filter(customer_id__in=customer_ids).filter(_open_or_recent(as_of))
    )
    by_series: dict[tuple[str, str], list[UsageAnomaly]] = defaultdict(list)
    for anomaly in stored:
        by_series[(str(anomaly.customer_id), anomaly.metric_type)].append(anomaly)
    before = {a.pk: _state(a) for a in stored}
    was_open = {a.pk for a in stored if a.status == AnomalyStatus.OPEN}

    created: list[UsageAnomaly] = []
    seen: set = set()  # stored anomalies some finding continues
    for finding in findings:
        customer, metric = finding.series_id.split("/", 1)
        candidates = by_series[(customer, metric)]
        match = _same_event(finding, candidates, as_of)
        if match is not None and match.status == AnomalyStatus.DISMISSED:
            # Dismissed stays dismissed, but its days are still tracked (suppressed by an
            # "expected" dismissal or not): once the event ends, a later one is news again.
            seen.add(match.pk)
            match.end_date = finding.end
            match.last_evaluated_at = now
            continue
        if (customer, metric, finding.type) in suppressed:
            continue
        if match is not None:
            seen.add(match.pk)
            _fill(match, finding, as_of, now, settings_keys.get(finding.series_id, ""))
            continue
        anomaly = UsageAnomaly(customer_id=uuid.UUID(customer), metric_type=metric, detected_at=now)
        _fill(anomaly, finding, as_of, now, settings_keys.get(finding.series_id, ""))
        anomaly.start_date = finding.start
        anomaly.direction = finding.direction
        candidates.append(anomaly)
        created.append(anomaly)

    # Open anomalies of scanned series that no finding continues are over.
    created_pks = {a.pk for a in created}
    scanned = set(batch.series_ids)
    row_of = {sid: i for i, sid in enumerate(batch.series_ids)}
    for (customer, metric), anomalies in by_series.items():
        if f"{customer}/{metric}" not in scanned:
            continue  # no data at all in the window: missing is not zero, leave it be
        for anomaly in anomalies:
            if anomaly.pk in seen or anomaly.pk in created_pks:
                continue
            if anomaly.status == AnomalyStatus.DISMISSED and anomaly.end_date is None:
                anomaly.end_date = max(anomaly.start_date, as_of - dt.timedelta(days=1))
                continue
            row = row_of[f"{customer}/{metric}"]
            if anomaly.status == AnomalyStatus.SUPPRESSED_BY_SETTINGS:
                if _still_outside(anomaly, batch, row):
                    continue
                # Its usage came back while suppressed: over, as any recovered event.
                anomaly.suppressed_at = None
            elif anomaly.status != AnomalyStatus.OPEN:
                continue
            elif anomaly.anomaly_type == AnomalyType.FEATURE_ABANDONMENT and _still_abandoned(
                anomaly, batch, row
            ):
                anomaly.last_evaluated_at = now
                continue
            elif _settings_changed(anomaly, settings_keys.get(f"{customer}/{metric}", "")) and (
                _still_outside(anomaly, batch, row)
            ):
                anomaly.status = AnomalyStatus.SUPPRESSED_BY_SETTINGS
                anomaly.suppressed_at = now
                anomaly.last_evaluated_at = now
                continue
            anomaly.status = AnomalyStatus.RESOLVED
            anomaly.end_date = max(anomaly.start_date, as_of - dt.timedelta(days=1))
            anomaly.last_evaluated_at = now

    _one_open_per_kind(by_series)

    existing = [a for a in stored if _state(a) != before[a.pk]]
    closing = [a for a in existing if a.status != AnomalyStatus.OPEN]
    staying = [a for a in existing if a.status == AnomalyStatus.OPEN]
    # Close first: the database allows one open anomaly per series and type at any moment.
    UsageAnomaly.objects.bulk_update(closing, _UPDATED_FIELDS, batch_size=500)
    UsageAnomaly.objects.bulk_update(staying, _UPDATED_FIELDS, batch_size=500)
    UsageAnomaly.objects.bulk_create(created, batch_size=500)
    # Unchanged open anomalies were evaluated too.
    UsageAnomaly.objects.filter(customer_id__in=customer_ids, status=AnomalyStatus.OPEN).update(
        last_evaluated_at=now
    )

    touched = created + existing
    risk_signals_sync(anomalies=touched, now=now)
    # A suppressed event is an update, not a recovery: the counts never call it resolved.
    resolved = [a for a in closing if a.pk in was_open and a.status == AnomalyStatus.RESOLVED]
    return WriteCounts(
        new=len(created),
        updated=len(existing) - len(resolved),
        resolved=len(resolved),
        news=tuple(a.pk for a in created + staying if a.status == AnomalyStatus.OPEN),
    )


def _open_or_recent(as_of: dt.date) -> Q:
    since = as_of - dt.timedelta(days=RECENT_DAYS)
    return (
        Q(status=AnomalyStatus.OPEN)
        | Q(end_date__isnull=True)
        | Q(start_date__gte=since)
        | Q(end_date__gte=since)
    )


def _family(anomaly_type: str) -> str:
    return "shift" if AnomalyType(anomaly_type).is_shift else "run"


def _same_event(finding: Finding, candidates: list[UsageAnomaly], as_of: dt.date):
    """The stored anomaly this finding continues: the same direction and start (a drop that
    lasted past the horizon is now its pattern change: one event whose type moved on), or
    else the same kind of event on overlapping days (a scan's replay may place a start a day
    apart)."""
    family = _family(finding.type)
    end = finding.end or as_of
    exact, overlapping = None, None
    for anomaly in candidates:
        if anomaly.direction != finding.direction:
            continue
        if anomaly.start_date == finding.start:
            exact = anomaly
            break
        if _family(anomaly.anomaly_type) != family:
            continue
        anomaly_end = anomaly.end_date or as_of
        if anomaly.start_date <= end and anomaly_end >= finding.start and overlapping is None:
            overlapping = anomaly
    return exact or overlapping


def _ongoing(finding: Finding, as_of: dt.date) -> bool:
    if AnomalyType(finding.type).is_shift:
        return (as_of - finding.detected_at).days < PATTERN_REVIEW_DAYS
    return finding.end is None


def _settings_changed(anomaly: UsageAnomaly, key: str) -> bool:
    """Whether the series was scanned under other settings than those the event was last
    reported under (an event stored before keys were recorded has none: no evidence)."""
    return bool(anomaly.settings_key) and bool(key) and anomaly.settings_key != key


def _still_outside(anomaly: UsageAnomaly, batch: SeriesBatch, row: int) -> bool:
    """Whether the series' last STILL_OUTSIDE_DAYS days (their mean) are still beyond the
    event's normal range on its side: below the band's low edge for a loss, above the high
    edge for a gain (the baseline where no band was stored). No data is no recovery."""
    latest = batch.values[row, -STILL_OUTSIDE_DAYS:]
    if np.all(np.isnan(latest)):
        return True
    level = float(np.nanmean(latest))
    if anomaly.direction == Direction.NEGATIVE:
        low = anomaly.expected_low if anomaly.expected_low is not None else anomaly.baseline_value
        return level < float(low)
    high = anomaly.expected_high if anomaly.expected_high is not None else anomaly.baseline_value
    return level > float(high)


def _fill(anomaly: UsageAnomaly, finding: Finding, as_of: dt.date, now, settings_key: str) -> None:
    anomaly.anomaly_type = finding.type
    # Reported again: a suppressed event is open again (the same row), under these settings.
    anomaly.settings_key = settings_key
    anomaly.suppressed_at = None
    anomaly.severity = finding.severity
    anomaly.status = AnomalyStatus.OPEN if _ongoing(finding, as_of) else AnomalyStatus.RESOLVED
    clamped = False
    for name, value in (
        ("baseline_value", finding.baseline),
        ("actual_value", finding.actual),
        ("deviation_percent", finding.deviation_percent),
        ("expected_low", finding.expected_low),
        ("expected_high", finding.expected_high),
    ):
        stored, was_clamped = column_decimal(name, value)
        setattr(anomaly, name, stored)
        clamped |= was_clamped
    if finding.projected is not None:
        stored, was_clamped = column_decimal("projected_value", finding.projected)
        anomaly.projected_value = stored
        clamped |= was_clamped
    else:
        anomaly.projected_value = None
    anomaly.figures_clamped = clamped
    anomaly.end_date = finding.end
    anomaly.score = float(np.nan_to_num(finding.score, posinf=1e6, neginf=-1e6))
    anomaly.confidence = finding.confidence
    anomaly.evidence_factor = finding.evidence
    anomaly.data_completeness = float(np.clip(np.nan_to_num(finding.completeness), 0.0, 1.0))
    anomaly.possible_cause = finding.possible_cause[:255]
    anomaly.last_evaluated_at = now


def column_decimal(name: str, value: float) -> tuple[Decimal, bool]:
    """`value` as the Decimal that UsageAnomaly's column `name` holds, and whether it had to
    be clamped to the column's range (the engine can produce any float, an unbounded band
    edge included; a write must never overflow). NaN is stored as 0 and counts as clamped."""
    field = UsageAnomaly._meta.get_field(name)
    places = field.decimal_places
    # A margin below the column's 10^(digits - places): SQLite keeps decimals as floats, and a
    # value at the very limit can read back rounded up past it.
    limit = COLUMN_HEADROOM * 10.0 ** (field.max_digits - places)
    value = float(value)
    if math.isnan(value):
        return Decimal(0).quantize(Decimal(10) ** -places), True
    clamped = abs(value) > limit
    value = max(-limit, min(limit, value))
    return Decimal(f"{value:.{places}f}"), clamped


# Share of a decimal column's range the scan writes up to (see column_decimal).
COLUMN_HEADROOM = 0.999


def _state(anomaly: UsageAnomaly) -> tuple:
    return tuple(getattr(anomaly, f) for f in _UPDATED_FIELDS if f != "last_evaluated_at")


def _still_abandoned(anomaly: UsageAnomaly, batch: SeriesBatch, row: int) -> bool:
    """An open abandonment the engine no longer reports (its replay window settled on the low
    level) stays open while the last week is still as low as the engine's abandonment bar
    (a field no sensitivity changes)."""
    last_week = batch.values[row, -7:]
    if np.all(np.isnan(last_week)) or float(anomaly.baseline_value) <= 0:
        return True  # no news is no recovery
    ratio = DetectionConfig().abandonment_ratio
    return float(np.nanmean(last_week)) <= ratio * float(anomaly.baseline_value)


def _one_open_per_kind(by_series) -> None:
    """At most one open anomaly per series and type: the latest keeps it, older ones close."""
    for anomalies in by_series.values():
        latest: dict[str, UsageAnomaly] = {}
        for anomaly in sorted(anomalies, key=lambda a: a.start_date):
            if anomaly.status != AnomalyStatus.OPEN:
                continue
            older = latest.get(anomaly.anomaly_type)
            if older is not None:
                older.status = AnomalyStatus.RESOLVED
                older.end_date = older.end_date or max(
                    older.start_date, anomaly.start_date - dt.timedelta(days=1)
                )
            latest[anomaly.anomaly_type] = anomaly


def _qualifies_for_signal(anomaly: UsageAnomaly) -> bool:
    return (
        anomaly.status == AnomalyStatus.OPEN
        and anomaly.direction == Direction.NEGATIVE
        and SEVERITY_RANK[anomaly.severity] >= Severity.WARNING.rank
    )


def _signal_kind(anomaly_type: str) -> str:
    return {
        AnomalyType.DROP: RiskSignal.Kind.USAGE_DROP,
        AnomalyType.FEATURE_ABANDONMENT: RiskSignal.Kind.FEATURE_ABANDONMENT,
    }.get(anomaly_type, RiskSignal.Kind.USAGE_ANOMALY)


def risk_signals_sync(*, anomalies: list[UsageAnomaly], now) -> None:
    """One risk signal per warning or critical negative anomaly, updated with it, resolved
    when it closes (or is downgraded)."""
    if not anomalies:
        return
    signals = {
        s.anomaly_id: s for s in RiskSignal.objects.filter(anomaly__in=[a.pk for a in anomalies])
    }
    to_create, to_update = [], []
    for anomaly in anomalies:
        signal = signals.get(anomaly.pk)
        if _qualifies_for_signal(anomaly):
            fields = {
                "kind": _signal_kind(anomaly.anomaly_type),
                "severity": anomaly.severity,
                "title": anomaly_sentence(
                    anomaly_type=anomaly.anomaly_type,
                    metric=anomaly.metric_type,
                    deviation_percent=float(anomaly.deviation_percent),
                )[:200],
                "details": {
                    "metric": anomaly.metric_type,
                    "start_date": anomaly.start_date.isoformat(),
                    "baseline": float(anomaly.baseline_value),
                    "actual": float(anomaly.actual_value),
                    "possible_cause": anomaly.possible_cause,
                },
            }
            if signal is None:
                to_create.append(
                    RiskSignal(customer_id=anomaly.customer_id, anomaly=anomaly, **fields)
                )
            else:
                for key, value in fields.items():
                    setattr(signal, key, value)
                signal.resolved_at = None
                to_update.append(signal)
        elif signal is not None and signal.resolved_at is None:
            signal.resolved_at = now
            to_update.append(signal)
    RiskSignal.objects.bulk_create(to_create, ignore_conflicts=True, batch_size=500)
    RiskSignal.objects.bulk_update(
        to_update, ["kind", "severity", "title", "details", "resolved_at"], batch_size=500
    )
