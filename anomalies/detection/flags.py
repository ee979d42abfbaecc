"""Daily flags and their excuses: is day t of each series anomalous, and if so, is there a
reason that is not the customer's (a holiday, last year's same season, the whole portfolio
moving at once)?

A day is flagged when three independent tests agree: its robust z against the baseline's
one-step spread, its percentage change, and its position outside the residuals' Tukey
fences; and when the baseline is worth alerting on (minimum volume) and has enough history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DetectionConfig

# Last year's same period: 52 weeks back, so weekdays line up.
YEAR = 364
# A yearly pattern is one that lasted there for a while: the median of a centred week of last
# year's residuals, so a single day's coincidence (last year's Black Friday against this
# year's Saturday) does not excuse real drops; one-day holidays are the calendar's job.
YEAR_SMOOTH = 3  # days either side
# A recurring dip or peak more than this many times as deep as last year's is a seasonal
# deviation, not the season.
SEASONAL_DEVIATION_FACTOR = 2.0
# Same-weekday neighbours (a week, two, three either side) give a day's local "normal".
NEIGHBOUR_WEEKS = (-21, -14, -7, 7, 14, 21)


@dataclass(frozen=True)
class Thresholds:
    """Per-series bars, with the evidence factors of dismissed history applied."""

    z_neg: np.ndarray
    z_pos: np.ndarray
    z_base: np.ndarray
    drop: np.ndarray  # a negative fraction: -0.3 is a 30 % drop
    spike: np.ndarray  # a positive fraction
    dur_neg: np.ndarray
    dur_pos: np.ndarray
    min_volume: np.ndarray

    @classmethod
    def from_arrays(cls, thresholds: dict[str, np.ndarray], evidence: np.ndarray) -> Thresholds:
        z = thresholds["z_threshold"]
        duration = thresholds["min_duration_days"]
        return cls(
            z_neg=z * evidence[:, 0],
            z_pos=z * evidence[:, 1],
            z_base=z,
            drop=-thresholds["drop_percent"] / 100.0,
            spike=thresholds["spike_percent"] / 100.0,
            dur_neg=np.ceil(duration * evidence[:, 0]),
            dur_pos=np.ceil(duration * evidence[:, 1]),
            min_volume=thresholds["min_volume"],
        )


@dataclass
class Day:
    """What the baseline says of one day, for every series."""

    t: int
    f: np.ndarray  # forecast, log1p
    sigma: np.ndarray  # one-step sigma, log1p
    e: np.ndarray  # actual - forecast, log1p (0 where missing)
    z: np.ndarray
    change: np.ndarray  # actual / expected - 1
    observed: np.ndarray
    decidable: np.ndarray  # enough history and residuals to judge
    mature: np.ndarray  # past the cold start


@dataclass
class DayFlags:
    neg: np.ndarray
    pos: np.ndarray
    excused: np.ndarray  # flagged or falling, but for a reason that is not the customer's
    seasonal: np.ndarray  # flagged although last year's same season moved the same way

    @property
    def sign(self) -> np.ndarray:
        return self.neg.astype(np.int8) * -1 + self.pos.astype(np.int8)

    @property
    def normal(self) -> np.ndarray:
        return ~self.neg & ~self.pos & ~self.excused


def raw_flags(
    day: Day,
    *,
    bars: Thresholds,
    cfg: DetectionConfig,
    fence_lo: np.ndarray,
    fence_hi: np.ndarray,
    expected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neg, pos, eligible): the three tests, before any excuse. During cold start the z bar
    is raised by `cold_start_z_factor`."""
    cold = np.where(day.mature, 1.0, cfg.cold_start_z_factor)
    eligible = day.observed & day.decidable & (expected >= bars.min_volume)
    neg = eligible & (day.z <= -bars.z_neg * cold) & (day.change <= bars.drop) & (day.e < fence_lo)
    pos = eligible & (day.z >= bars.z_pos * cold) & (day.change >= bars.spike) & (day.e > fence_hi)
    return neg, pos, eligible


def holiday_excuse(day: Day, neg: np.ndarray, is_holiday: bool) -> np.ndarray:
    """On a public holiday nobody chose the drop: every falling day is excused (and kept out
    of the baseline, so the next days are not compared with a holiday)."""
    if not is_holiday:
        return np.zeros_like(neg)
    return neg | (day.observed & (day.e < 0) & day.decidable)


def portfolio_guard(
    neg: np.ndarray, pos: np.ndarray, base: np.ndarray, cfg: DetectionConfig
) -> tuple[np.ndarray, list[tuple[float, int]]]:
    """Many series moving together on one day is the data pipeline or the calendar, not
    hundreds of customers deciding the same thing. Returns the flags it excuses and, for each
    direction in which it fired, (share, count) of the moving series. `base` are the series
    that count (mature and eligible); at least `outage_min_series` of them are needed."""
    excused = np.zeros_like(neg)
    n_base = int(base.sum())
    if n_base < cfg.outage_min_series:
        return excused, []
    fired = []
    for flags in (neg, pos):
        hit = int((flags & base).sum())
        if hit >= cfg.outage_share * n_base:
            fired.append((hit / n_base, hit))
            excused |= flags
    return excused, fired


class YearlyPattern:
    """How unusual each day of last year was against its same-weekday neighbours (a centred
    week's median), for the days a replay looks back at."""

    def __init__(self, y: np.ndarray, t0: int, z_base: np.ndarray):
        n, T = y.shape
        self.z_base = z_base
        self.lo = t0 - YEAR
        hi = T - YEAR
        self.available = hi > 0
        if not self.available:
            return
        lo = self.lo
        cols = np.arange(lo - YEAR_SMOOTH, hi + YEAR_SMOOTH)
        inside = (cols >= 0) & (cols < T)
        neighbours = np.full((len(NEIGHBOUR_WEEKS), n, len(cols)), np.nan)
        for k, shift in enumerate(NEIGHBOUR_WEEKS):
            src = cols + shift
            ok = inside & (src >= 0) & (src < T)
            neighbours[k][:, ok] = y[:, src[ok]]
        resid = np.full((n, len(cols)), np.nan)
        resid[:, inside] = y[:, cols[inside]]
        resid -= nanmedian_axis0(neighbours)
        week = np.stack([resid[:, k : k + hi - lo] for k in range(2 * YEAR_SMOOTH + 1)])
        self.resid = np.ascontiguousarray(nanmedian_axis0(week).T)

    def check(self, day: Day, neg: np.ndarray, pos: np.ndarray):
        """Did last year's same period move the same way? Then it is a recurring pattern (a
        season, an annual shutdown), not an anomaly, unless it is now more than
        SEASONAL_DEVIATION_FACTOR times as deep: a seasonal deviation. Returns the negative
        and positive flags it explains, and the flags it marks seasonal."""
        if not self.available or day.t < YEAR:
            none = np.zeros_like(neg)
            return none, none, none
        past = np.nan_to_num(self.resid[day.t - YEAR - self.lo], nan=0.0)
        bar = self.z_base * day.sigma
        recurring_dip = past <= -bar
        recurring_peak = past >= bar
        explained_neg = neg & recurring_dip & (day.e >= SEASONAL_DEVIATION_FACTOR * past)
        explained_pos = pos & recurring_peak & (day.e <= SEASONAL_DEVIATION_FACTOR * past)
        seasonal = (neg & recurring_dip & ~explained_neg) | (pos & recurring_peak & ~explained_pos)
        return explained_neg, explained_pos, seasonal


def nanmedian_axis0(stack: np.ndarray) -> np.ndarray:
    """Median over the first axis ignoring NaN (a handful of neighbours per cell)."""
    ordered = np.sort(stack, axis=0)
    counts = np.sum(~np.isnan(stack), axis=0)
    lo = np.maximum((counts - 1) // 2, 0)
    hi = np.maximum(counts // 2, 0)
    a = np.take_along_axis(ordered, lo[None], axis=0)[0]
    b = np.take_along_axis(ordered, hi[None], axis=0)[0]
    out = (a + b) / 2
    out[counts == 0] = np.nan
    return out
