"""The arithmetic of the learning loop's report: rates with their intervals, the lift of an
anomaly over the base rate, precision, and when the counts are too small to mean anything.

Pure functions of counts (no Django, no database): the selector in
`anomalies/selectors_insights.py` counts, this module divides. Every figure keeps its counts
beside it, so a reader sees 2/3 and not only 67 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .detection import vocabulary

# A 95 % interval: the normal quantile both the Wilson and the Katz interval use.
Z_95 = 1.959963984540054

# Below these a rate or a lift is noise: with fewer than 20 anomalies one account more or
# less moves a rate by 5 points or more, and a risk ratio from fewer than 5 events on either
# side has an interval spanning several-fold (the usual rule of thumb for the log-normal
# approximation of the Katz interval). Such rows are shown greyed out with a note.
MIN_ANOMALIES = 20
MIN_EVENTS = 5


@dataclass(frozen=True)
class Rate:
    """`events` out of `total`, with its Wilson score interval (95 %). `value`, `low` and
    `high` are None when `total` is 0: a rate of nothing is not 0."""

    events: int
    total: int
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Lift:
    """The risk ratio rate_with / base_rate with its Katz log interval (95 %).

    `value` is None when the base rate is 0 or either side has no cases (nothing to divide
    by); `low`/`high` are None when either side has no events, since the log interval needs
    a count on both sides. `small_sample` says the counts are below MIN_ANOMALIES /
    MIN_EVENTS."""

    value: float | None
    low: float | None
    high: float | None
    small_sample: bool


def rate(events: int, total: int, *, z: float = Z_95) -> Rate:
    """events/total with the Wilson score interval: unlike the normal approximation it stays
    within [0, 1] and is not zero-width at 0/n or n/n, which small groups often are."""
    if events < 0 or total < 0 or events > total:
        raise ValueError(f"events must be within 0..total, got {events}/{total}")
    if total == 0:
        return Rate(events=0, total=0, value=None, low=None, high=None)
    p = events / total
    z2 = z * z
    centre = (p + z2 / (2 * total)) / (1 + z2 / total)
    half = z / (1 + z2 / total) * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return Rate(
        events=events,
        total=total,
        value=p,
        # At 0/n and n/n the bound is exactly 0 or 1; floating point leaves a crumb.
        low=0.0 if events == 0 else max(0.0, centre - half),
        high=1.0 if events == total else min(1.0, centre + half),
    )


def lift(with_: Rate, base: Rate, *, z: float = Z_95) -> Lift:
    """with_.value / base.value and Katz's interval exp(ln RR ± z·SE), where
    SE = sqrt(1/a − 1/n1 + 1/c − 1/n0) for a events of n1 with the anomaly and c of n0
    without it."""
    small = with_.total < MIN_ANOMALIES or with_.events < MIN_EVENTS or base.events < MIN_EVENTS
    if not with_.total or not base.total or not base.events:
        return Lift(value=None, low=None, high=None, small_sample=small)
    value = with_.value / base.value
    if not with_.events:
        return Lift(value=value, low=None, high=None, small_sample=small)
    a, n1, c, n0 = with_.events, with_.total, base.events, base.total
    se = math.sqrt(1 / a - 1 / n1 + 1 / c - 1 / n0)
    log_rr = math.log(value)
    return Lift(
        value=value,
        low=math.exp(log_rr - z * se),
        high=math.exp(log_rr + z * se),
        small_sample=small,
    )


def precision(*, judged: int, false_positives: int) -> Rate:
    """The share of judged anomalies that were not dismissed as false positives, with its
    Wilson interval. Dismissals as expected, new normal or data issue are judgements that the
    alert was about something real (the usage did move), so they count as precise."""
    return rate(judged - false_positives, judged)


# Metric families of the report: each core metric on its own, every feature as one family
# (a CS team tunes "feature drops", not one feature at a time), and any other metric by name;
# named once in the vocabulary (the detection settings have a feature:* scope too).
FEATURE_FAMILY = vocabulary.FEATURE_FAMILY
metric_family = vocabulary.metric_family


def family_order(family: str) -> tuple[int, str]:
    """Core metrics first in the vocabulary's order, then features, then the rest by name."""
    if family in vocabulary.CORE_METRICS:
        return (vocabulary.CORE_METRICS.index(family), "")
    if family == FEATURE_FAMILY:
        return (len(vocabulary.CORE_METRICS), "")
    return (len(vocabulary.CORE_METRICS) + 1, family)
