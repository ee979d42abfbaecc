"""The usage health score after a scan: every scanned account's score for the scan day,
written in bulk with its chunk, and a "health decline" risk signal while it sits well below
its score a month before.

The formula is the engine's (`anomalies.detection.health`); this module reads what it needs
for a whole chunk in a fixed number of queries and writes the rows. A rescan the same day
replaces that day's row (one per customer and day, upserted), so it is idempotent.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
from django.utils import timezone

from customers.models import HealthScoreHistory, RiskSignal

from ..detection import DetectionConfig, SeriesBatch
from ..detection.calendar import holiday_masks
from ..detection.health import BASELINE_DAYS, RECENT_DAYS, health_scores
from ..detection.vocabulary import Severity
from ..models import AnomalyStatus, UsageAnomaly
from ..selectors_health import HEALTH_CHANGE_DAYS, health_summaries

# A score this many points below its score HEALTH_CHANGE_DAYS ago (the change the pages
# show) raises a warning signal, twice as many a critical one. On the demo's two years, the
# trend alone crosses 20 on under 1 % of account-days; a critical anomaly (25 points) crosses
# it on its own.
HEALTH_DECLINE_POINTS = 20
HEALTH_DECLINE_CRITICAL_POINTS = 2 * HEALTH_DECLINE_POINTS
WRITE_BATCH = 1000


def health_scores_record(*, batch: SeriesBatch, as_of: dt.date) -> dict[str, int]:
    """Score every account of a scanned batch on `as_of` (its last day) and upsert the rows;
    then sync the accounts' health-decline signals. Returns {customer id: score}. Call inside
    the chunk's transaction, after its anomalies are written: the open ones move the score."""
    if batch.n_series == 0:
        return {}
    customer_ids = sorted(set(batch.groups))
    open_anomalies = UsageAnomaly.objects.filter(
        customer_id__in=customer_ids, status=AnomalyStatus.OPEN
    ).values_list("customer_id", "direction", "severity")
    # The days the score looks at, and the holidays among them (each account's calendar).
    days = min(batch.n_days, RECENT_DAYS + BASELINE_DAYS)
    first = as_of - dt.timedelta(days=days - 1)
    result = health_scores(
        values=batch.values[:, -days:],
        holidays=_holidays(batch, first, days),
        groups=batch.groups,
        metrics=batch.metrics,
        anomalies=[(str(c), d, s) for c, d, s in open_anomalies],
    )
    rows = [
        HealthScoreHistory(
            customer_id=uuid.UUID(account), date=as_of, score=int(score), usage_component=usage
        )
        for account, score, usage in zip(
            result.accounts, result.score.tolist(), result.usage_component.tolist(), strict=True
        )
    ]
    HealthScoreHistory.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["customer", "date"],
        update_fields=["score", "usage_component"],
        batch_size=WRITE_BATCH,
    )
    scores = dict(zip(result.accounts, result.score.tolist(), strict=True))
    health_declines_sync(scores=scores, as_of=as_of)
    return scores


def _holidays(batch: SeriesBatch, first: dt.date, days: int) -> np.ndarray:
    """Series x days: the holidays of each series' calendar (the engine's default where it
    has none). A calendar the holidays package refuses gives no holidays rather than failing
    the chunk: the engine isolates that account's series, the score need not."""
    default = DetectionConfig().holiday_country
    codes = [code or default for code in (batch.countries or [default] * batch.n_series)]
    masks = {}
    for code in set(codes):
        try:
            masks[code] = holiday_masks([code], None, first, days)[:, 0]
        except ValueError:
            masks[code] = np.zeros(days, dtype=bool)
    return np.stack([masks[code] for code in codes]) if codes else np.zeros((0, days), bool)


def health_declines_sync(*, scores: dict[str, int], as_of: dt.date) -> None:
    """One open "health decline" signal per account whose score on `as_of` (written) is
    HEALTH_DECLINE_POINTS or more below its score HEALTH_CHANGE_DAYS before (the latest on or
    before that day: the change the pages show); updated while it lasts, resolved once the
    score is back within reach. Two queries, and the writes in bulk."""
    ids = list(scores)
    summaries = health_summaries(customer_ids=ids, today=as_of)
    open_signals: dict[str, list[RiskSignal]] = {}
    for signal in RiskSignal.objects.filter(
        customer_id__in=ids, kind=RiskSignal.Kind.HEALTH_DECLINE, resolved_at__isnull=True
    ):
        open_signals.setdefault(str(signal.customer_id), []).append(signal)

    now = timezone.now()
    to_create, to_update = [], []
    for account, score in scores.items():
        summary = summaries.get(uuid.UUID(account))
        before = summary.before if summary is not None else None
        fall = 0 if before is None else before - score
        signals = open_signals.get(account, [])
        if fall < HEALTH_DECLINE_POINTS:
            for signal in signals:
                signal.resolved_at = now
                to_update.append(signal)
            continue
        fields = {
            "severity": Severity.CRITICAL
            if fall >= HEALTH_DECLINE_CRITICAL_POINTS
            else Severity.WARNING,
            "title": f"Usage health fell {fall} points in {HEALTH_CHANGE_DAYS} days, "
            f"from {before} to {score}",
            "details": {
                "score": score,
                "before": before,
                "days": HEALTH_CHANGE_DAYS,
                "date": as_of.isoformat(),
            },
        }
        if not signals:
            to_create.append(
                RiskSignal(
                    customer_id=uuid.UUID(account), kind=RiskSignal.Kind.HEALTH_DECLINE, **fields
                )
            )
        for signal in signals:
            for key, value in fields.items():
                setattr(signal, key, value)
            to_update.append(signal)
    RiskSignal.objects.bulk_create(to_create, batch_size=WRITE_BATCH)
    RiskSignal.objects.bulk_update(
        to_update, ["severity", "title", "details", "resolved_at"], batch_size=WRITE_BATCH
    )
