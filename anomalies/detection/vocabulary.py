"""The words of the engine's findings, named once: anomaly types, severities, directions and
the metric families the rules tell apart.

Everything else is built from these: the models' choices and database constraints, the
severity ranks that notifications and pages compare, the display labels. The values are
what the CLI prints and the database stores, so renaming one is a data migration.
"""

from __future__ import annotations

from enum import StrEnum


class _Word(StrEnum):
    @property
    def label(self) -> str:
        """How a person reads it: `feature_abandonment` -> "Feature abandonment"."""
        return self.value.replace("_", " ").capitalize()


class Direction(_Word):
    NEGATIVE = "negative"
    POSITIVE = "positive"

    @classmethod
    def of(cls, sign: float) -> Direction:
        """A loss below zero, a gain otherwise."""
        return cls.NEGATIVE if sign < 0 else cls.POSITIVE


class Severity(_Word):
    """Worst first: the order choices, filters and counts list them in."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for info up to 2 for critical: the larger, the more urgent."""
        return SEVERITY_RANK[self]


# Keys are the members, so a plain string looks its rank up too (StrEnum hashes as its value).
SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(reversed(Severity))}


class AnomalyType(_Word):
    DROP = "drop"
    SPIKE = "spike"
    FEATURE_ABANDONMENT = "feature_abandonment"
    PATTERN_CHANGE = "pattern_change"
    SEASONAL_DEVIATION = "seasonal_deviation"
    GRADUAL_DECLINE = "gradual_decline"

    @property
    def direction(self) -> Direction | None:
        """The direction every anomaly of this type has (the database checks it), or None
        for a type that goes either way."""
        return _FIXED_DIRECTION.get(self)

    @property
    def is_shift(self) -> bool:
        """A lasting change of level: found once, then it is the series' new baseline, so
        it has no end to wait for. The others are runs of days that end when usage
        recovers."""
        return self in _SHIFTS


_FIXED_DIRECTION = {
    AnomalyType.DROP: Direction.NEGATIVE,
    AnomalyType.SPIKE: Direction.POSITIVE,
    AnomalyType.FEATURE_ABANDONMENT: Direction.NEGATIVE,
    AnomalyType.GRADUAL_DECLINE: Direction.NEGATIVE,
}
_SHIFTS = frozenset({AnomalyType.PATTERN_CHANGE, AnomalyType.GRADUAL_DECLINE})


# Metric families. Metrics are open-ended slugs; the rules know three core ones by name, the
# people-driven ones among them, and per-feature usage by its prefix.
API_CALLS = "api_calls"
LOGINS = "logins"
ACTIVE_USERS = "active_users"
CORE_METRICS = (API_CALLS, LOGINS, ACTIVE_USERS)
PEOPLE_METRICS = (LOGINS, ACTIVE_USERS)
FEATURE_PREFIX = "feature:"


def is_feature_metric(metric: str) -> bool:
    return metric.startswith(FEATURE_PREFIX)


# Every feature metric as one family: tuning and the detection settings treat features alike
# (a pattern that can never be a metric slug, so it never names a real series).
FEATURE_FAMILY = FEATURE_PREFIX + "*"


def metric_family(metric: str) -> str:
    """`feature:*` for any feature metric, the metric itself otherwise (the core metrics and
    any other slug are families of one)."""
    return FEATURE_FAMILY if is_feature_metric(metric) else metric


def feature_metric(name: str) -> str:
    """The metric slug of a feature: `reports` -> `feature:reports`."""
    return FEATURE_PREFIX + name


def feature_name(metric: str) -> str:
    """A feature metric's name as a person reads it: `feature:bulk_export` -> "Bulk Export"."""
    return metric.removeprefix(FEATURE_PREFIX).replace("_", " ").replace("-", " ").title()
