"""Sensitivity: named presets and explicit thresholds in one frozen object."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TypedDict


@dataclass(frozen=True)
class DetectionConfig:
    """Every knob of the engine. Percentages are in percent (30 means 30 %), durations in
    days, volumes in the metric's units per day.

    The first six fields are what a CSM tunes (the sensitivity page); the rest shape the
    statistics and are the same for every series of one engine call.
    """

    sensitivity: str = "medium"
    # A day counts as anomalous only when all three agree: robust |z| at least z_threshold,
    # the value off by at least drop_percent / spike_percent from the baseline, and outside
    # the residuals' IQR fences (iqr_k below).
    z_threshold: float = 3.5
    drop_percent: float = 30.0
    spike_percent: float = 50.0
    # A single odd day is never an event.
    min_duration_days: int = 2
    # Baselines below this are tiny accounts' noise: no alert either way.
    min_volume: float = 10.0

    # Trailing window the weekly STL decomposition is fitted on (12 weeks).
    window_days: int = 84
    # Tukey's fences on forecast residuals (1.5 IQR: about 2.7 sigma for normal residuals, so
    # they bite only where the residuals are skewed; the z test sets the bar elsewhere).
    iqr_k: float = 1.5
    # Below this much history the answer carries confidence "low" and needs more evidence.
    min_history_days: int = 28
    min_points: int = 7
    cold_start_z_factor: float = 1.5
    # A young series borrows the weekly profile and spread of its cohort or its most similar
    # peers (coldstart.py): normal confidence after two weeks, its first weekends known.
    cohort_cold_start: bool = True
    # An event whose days are this far from normal persists past the horizon: it is reported
    # once as a pattern_change and its level becomes the new baseline.
    pattern_horizon_days: int = 28
    # Slow level changes are judged over this many days (gradual decline, creeping growth).
    level_lookback_days: int = 42
    # Consecutive normal days that end an event (one good day inside an outage is noise).
    recovery_days: int = 2
    # A feature metric at or below this share of its baseline for this long is abandoned.
    abandonment_ratio: float = 0.25
    abandonment_min_days: int = 5
    # Days replayed by a non-backtest scan before the scan day, so a scan reconstructs the
    # same events a daily replay would have found (must cover the horizon).
    replay_days: int = 42
    # Country whose public holidays damp drops (None: no calendar); years of history damp
    # recurring patterns on their own.
    holiday_country: str | None = "US"
    # Share of eligible series falling (or rising) on one day that marks a data outage or a
    # global holiday rather than customer behaviour, and the fewest accounts they must span
    # (one account falling on all its metrics is churn, however many metrics it has; three
    # accounts of a three-account portfolio falling on the same day is not three decisions).
    outage_share: float = 0.3
    outage_min_accounts: int = 3
    # Recompute the residual scale every this many days of a replay (it moves slowly).
    scale_refresh_days: int = 7

    def __post_init__(self):
        _check(
            self.sensitivity in PRESET_NAMES,
            "sensitivity",
            self.sensitivity,
            f"one of {', '.join(PRESET_NAMES)}",
        )
        _check(self.z_threshold > 0, "z_threshold", self.z_threshold, "> 0")
        _check(0 < self.drop_percent < 100, "drop_percent", self.drop_percent, "between 0 and 100")
        _check(self.spike_percent > 0, "spike_percent", self.spike_percent, "> 0")
        _check(self.min_duration_days >= 1, "min_duration_days", self.min_duration_days, ">= 1")
        _check(self.min_volume >= 0, "min_volume", self.min_volume, ">= 0")
        _check(
            self.window_days >= 28 and self.window_days % 7 == 0,
            "window_days",
            self.window_days,
            "a multiple of 7, at least 28",
        )
        _check(self.iqr_k > 0, "iqr_k", self.iqr_k, "> 0")
        _check(self.min_points >= 3, "min_points", self.min_points, ">= 3")
        _check(
            self.min_history_days >= self.min_points,
            "min_history_days",
            self.min_history_days,
            ">= min_points",
        )
        _check(
            self.cold_start_z_factor >= 1, "cold_start_z_factor", self.cold_start_z_factor, ">= 1"
        )
        _check(
            self.pattern_horizon_days > self.min_duration_days,
            "pattern_horizon_days",
            self.pattern_horizon_days,
            "> min_duration_days",
        )
        _check(
            self.level_lookback_days >= 14, "level_lookback_days", self.level_lookback_days, ">= 14"
        )
        _check(self.recovery_days >= 1, "recovery_days", self.recovery_days, ">= 1")
        _check(
            0 < self.abandonment_ratio < 1,
            "abandonment_ratio",
            self.abandonment_ratio,
            "between 0 and 1",
        )
        _check(
            self.abandonment_min_days >= 1,
            "abandonment_min_days",
            self.abandonment_min_days,
            ">= 1",
        )
        _check(
            self.replay_days >= self.pattern_horizon_days,
            "replay_days",
            self.replay_days,
            ">= pattern_horizon_days",
        )
        _check(0 < self.outage_share <= 1, "outage_share", self.outage_share, "between 0 and 1")
        _check(
            self.outage_min_accounts >= 2,
            "outage_min_accounts",
            self.outage_min_accounts,
            ">= 2",
        )
        _check(self.scale_refresh_days >= 1, "scale_refresh_days", self.scale_refresh_days, ">= 1")

    def with_overrides(self, **overrides) -> DetectionConfig:
        """This config with explicit thresholds replacing the preset's (None keeps it)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _check(ok: bool, name: str, value, expected: str) -> None:
    if not ok:
        raise ValueError(f"DetectionConfig.{name} must be {expected}, got {value!r}")


PRESET_NAMES = ("low", "medium", "high")


class _Thresholds(TypedDict):
    """A preset's thresholds, typed field by field (durations are whole days)."""

    z_threshold: float
    drop_percent: float
    spike_percent: float
    min_duration_days: int
    min_volume: float


# Low sensitivity: only large, lasting changes. High: catches 20 % moves on mid-size accounts.
_PRESET_THRESHOLDS: dict[str, _Thresholds] = {
    "low": _Thresholds(
        z_threshold=4.5,
        drop_percent=50.0,
        spike_percent=100.0,
        min_duration_days=3,
        min_volume=20.0,
    ),
    "medium": _Thresholds(
        z_threshold=3.5, drop_percent=30.0, spike_percent=50.0, min_duration_days=2, min_volume=10.0
    ),
    "high": _Thresholds(
        z_threshold=3.0, drop_percent=20.0, spike_percent=30.0, min_duration_days=2, min_volume=5.0
    ),
}


def preset(name: str, **overrides) -> DetectionConfig:
    """The named sensitivity preset, with optional explicit thresholds on top."""
    if name not in _PRESET_THRESHOLDS:
        raise ValueError(f"unknown sensitivity {name!r}: use one of {', '.join(PRESET_NAMES)}")
    return DetectionConfig(sensitivity=name, **_PRESET_THRESHOLDS[name]).with_overrides(**overrides)


# The fields a per-series config may change; the rest must agree across one engine call.
PER_SERIES_FIELDS = (
    "z_threshold",
    "drop_percent",
    "spike_percent",
    "min_duration_days",
    "min_volume",
)
SHARED_FIELDS = tuple(
    f.name for f in fields(DetectionConfig) if f.name not in PER_SERIES_FIELDS + ("sensitivity",)
)
