"""Daily flags and their excuses: is day t of each series anomalous, and if so, is there a
reason that is not the customer's? Holidays and the whole portfolio moving at once are here;
earlier years' same season is yearly.py's, a cohort moving together cohorts.py's.

A day is flagged when three independent tests agree: its robust z against the baseline's
one-step spread, its percentage change, and its position outside the residuals' Tukey
fences; and when the baseline is worth alerting on (minimum volume) and has enough history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DetectionConfig

# No series needs more than this many times the configured evidence, whatever its history
# (dismissed false positives, a heavy tail) says.
MAX_EVIDENCE_FACTOR = 3.0
# A day past the percentage bar and at least this many sigmas out (but short of the z bar)
# supports an event that is already open: it keeps a run going and counts towards its
# duration, but never opens one (small counts are noisy day by day, and a sustained change
# on a small account would otherwise break into pieces).
SUPPORT_Z = 2.0


@dataclass(frozen=True)
class Thresholds:
    """Per-series bars. The evidence a fall or a rise needs (z bar and minimum duration) is
    the configured one times a factor: what reviewers said (dismissed false positives, the
    `hints` factors) and how spiky the series is (tails.py), at most MAX_EVIDENCE_FACTOR."""

    z_base: np.ndarray
    drop: np.ndarray  # a negative fraction: -0.3 is a 30 % drop
    spike: np.ndarray  # a positive fraction
    min_duration: np.ndarray
    min_volume: np.ndarray
    hinted: np.ndarray  # (n, 2) evidence factors learned from reviews (learned.py)
    # The bars in force, updated in place when the tails are re-estimated.
    evidence: np.ndarray  # (n, 2)
    z_neg: np.ndarray
    z_pos: np.ndarray
    dur_neg: np.ndarray
    dur_pos: np.ndarray

    @classmethod
    def from_arrays(cls, thresholds: dict[str, np.ndarray], evidence: np.ndarray) -> Thresholds:
        z = thresholds["z_threshold"]
        duration = thresholds["min_duration_days"]
        bars = cls(
            z_base=z,
            drop=-thresholds["drop_percent"] / 100.0,
            spike=thresholds["spike_percent"] / 100.0,
            min_duration=duration,
            min_volume=thresholds["min_volume"],
            hinted=evidence,
            evidence=evidence.copy(),
            z_neg=np.empty_like(z),
            z_pos=np.empty_like(z),
            dur_neg=np.empty_like(z),
            dur_pos=np.empty_like(z),
        )
        bars.apply(np.ones_like(evidence))
        return bars

    def apply(self, tails: np.ndarray) -> None:
        """Set the bars in force: the reviews' factors on the z bar and the minimum duration,
        times the tails' factors on the minimum duration (tails.py), at most
        MAX_EVIDENCE_FACTOR times the configured evidence."""
        # The reviews' factors are at most MAX_EVIDENCE_FACTOR themselves (inputs.py).
        self.evidence[:] = np.minimum(self.hinted * tails, MAX_EVIDENCE_FACTOR)
        self.z_neg[:] = self.z_base * self.hinted[:, 0]
        self.z_pos[:] = self.z_base * self.hinted[:, 1]
        self.dur_neg[:] = np.ceil(self.min_duration * self.evidence[:, 0])
        self.dur_pos[:] = np.ceil(self.min_duration * self.evidence[:, 1])


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
    support: np.ndarray  # -1 / +1: a day that keeps an open run of that sign going
    eligible: np.ndarray  # judged at all: observed, enough history, a volume worth alerting on
    held: np.ndarray  # -1: a falling day a holiday excused (events.py may start a drop there)

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


def support_sign(day: Day, *, bars: Thresholds, eligible: np.ndarray) -> np.ndarray:
    """-1 / +1 where day t is past the percentage bar and SUPPORT_Z sigmas out that way."""
    down = eligible & (day.change <= bars.drop) & (day.z <= -SUPPORT_Z)
    up = eligible & (day.change >= bars.spike) & (day.z >= SUPPORT_Z)
    return up.astype(np.int8) - down.astype(np.int8)


def holiday_excuse(day: Day, neg: np.ndarray, is_holiday: np.ndarray) -> np.ndarray:
    """On a public holiday of the series' calendar nobody chose the drop: every falling day is
    excused (and kept out of the baseline, so the next days are not compared with a
    holiday). `is_holiday` is per series, or one value for all."""
    if not is_holiday.any():
        return np.zeros_like(neg)
    return (neg | (day.observed & (day.e < 0) & day.decidable)) & is_holiday


def portfolio_guard(
    neg: np.ndarray,
    pos: np.ndarray,
    base: np.ndarray,
    accounts: np.ndarray,
    cfg: DetectionConfig,
) -> tuple[np.ndarray, list[tuple[float, int]]]:
    """Many series moving together on one day is the data pipeline or the calendar, not
    many customers deciding the same thing. Returns the flags it excuses and, for each
    direction in which it fired, (share, count) of the moving series. `base` are the series
    that count (mature and eligible), `accounts` each series' account code: the guard fires
    when `outage_share` of the base series move the same way and they span at least
    `outage_min_accounts` accounts (so it works for a portfolio of three accounts, and never
    for one account's metrics)."""
    excused = np.zeros_like(neg)
    n_base = int(base.sum())
    if not n_base:
        return excused, []
    fired = []
    for flags in (neg, pos):
        moving = flags & base
        hit = int(moving.sum())
        if hit < cfg.outage_share * n_base or hit < cfg.outage_min_accounts:
            continue
        if np.unique(accounts[moving]).size >= cfg.outage_min_accounts:
            fired.append((hit / n_base, hit))
            excused |= flags
    return excused, fired
