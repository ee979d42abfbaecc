"""Naming an event: its type, its severity and a possible cause from the account's other
metrics. Plain functions of a few numbers, so each rule is testable on its own."""

from __future__ import annotations

from .config import DetectionConfig
from .vocabulary import (
    API_CALLS,
    CORE_METRICS,
    PEOPLE_METRICS,
    AnomalyType,
    Severity,
    is_feature_metric,
)

# A drop this deep on a core metric is critical at once; a shallower one needs days.
CRITICAL_CHANGE = 0.5
CRITICAL_CHANGE_AT_ONCE = 0.8
CRITICAL_MIN_DAYS = 3
# Below this many times the minimum volume an account is small: its events stay warnings.
SMALL_ACCOUNT_VOLUME_FACTOR = 10


def anomaly_type(
    *,
    kind: str,
    sign: int,
    is_feature: bool,
    ratio: float,
    flagged_days: int,
    seasonal_share: float,
    config: DetectionConfig,
) -> AnomalyType:
    """`ratio` is actual / baseline over the event's flagged days."""
    if (
        sign < 0
        and is_feature
        and ratio <= config.abandonment_ratio
        and flagged_days >= config.abandonment_min_days
    ):
        return AnomalyType.FEATURE_ABANDONMENT
    if kind == "trend" or (kind == "level" and sign < 0):
        return AnomalyType.GRADUAL_DECLINE
    if kind in ("pattern", "level"):
        return AnomalyType.PATTERN_CHANGE
    if seasonal_share > 0.5:
        return AnomalyType.SEASONAL_DEVIATION
    return AnomalyType.DROP if sign < 0 else AnomalyType.SPIKE


def severity(
    *,
    kind: str,
    sign: int,
    metric: str,
    change: float,
    days: int,
    baseline: float,
    min_volume: float,
) -> Severity:
    """critical, warning or info from magnitude, duration and volume.

    Gains are good news: always `info` (the direction says positive). Losses: a deep, lasting
    fall of a core metric (API calls, logins, active users) on an account of some size is
    critical; losses of single features, small accounts and seasonal deviations are warnings;
    anything shallower than a third is info.
    """
    if sign > 0:
        return Severity.INFO
    depth = -change
    if depth < 0.3 and kind != AnomalyType.FEATURE_ABANDONMENT:
        return Severity.INFO
    core = metric in CORE_METRICS
    sizeable = baseline >= SMALL_ACCOUNT_VOLUME_FACTOR * max(min_volume, 1.0)
    lasting = days >= CRITICAL_MIN_DAYS or depth >= CRITICAL_CHANGE_AT_ONCE
    if (
        core
        and sizeable
        and kind in (AnomalyType.DROP, AnomalyType.PATTERN_CHANGE, AnomalyType.GRADUAL_DECLINE)
        and depth >= CRITICAL_CHANGE
        and lasting
    ):
        return Severity.CRITICAL
    return Severity.WARNING


def possible_cause(
    *, kind: str, sign: int, metric: str, siblings: dict[str, float | None], drop: float
) -> str:
    """A CSM's first hypothesis from how the account's other metrics moved meanwhile.

    `siblings` maps each other metric of the account to its mean relative change over the
    event's days (None: no data). A sibling counts as down or up when it moved by at least
    the drop threshold `drop` (a fraction): over a few days, smaller moves are noise.
    """
    moved = {m: c for m, c in siblings.items() if c is not None}
    down = {m for m, c in moved.items() if c <= -drop}
    up = {m for m, c in moved.items() if c >= drop}
    core_down = {m for m in down if m in CORE_METRICS} | ({metric} & set(CORE_METRICS))

    if kind == AnomalyType.SEASONAL_DEVIATION:
        return (
            "Deeper than this account's usual seasonal dip"
            if sign < 0
            else "Stronger than this account's usual seasonal peak"
        )
    if sign < 0:
        if len(core_down) >= 2 or (moved and len(down) >= 0.75 * len(moved)):
            return "Churn risk: usage is down across the account"
        if metric == API_CALLS and not (down & set(PEOPLE_METRICS)):
            return "Integration issue or migration"
        if is_feature_metric(metric):
            return "Training gap or competing tool"
        if metric in PEOPLE_METRICS:
            return "Fewer people using the product: seat loss or a team change"
        return "Usage decline: check in with the account"
    people_up = ({metric} | up) & set(PEOPLE_METRICS)
    if len(people_up) == 2:
        return "Team expansion or new use case"
    if metric == API_CALLS:
        return "New integration or heavier automation"
    if is_feature_metric(metric):
        return "Growing adoption of this feature"
    if metric in PEOPLE_METRICS:
        return "More people using the product: possible team expansion"
    return "Usage growth: possible expansion opportunity"
