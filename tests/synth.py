"""Seeded synthetic daily usage series with known answers, for the engine tests and (on the
scan's calendar, written as rows by `tests/anomalies/scan_data.py`) the scan tests. Pure
numpy: the engine tests import no Django.

A series is `level * weekly profile * growth * lognormal noise`, one value per day from
`START` (a Monday, so day k's weekday is k % 7). Injections multiply chosen days, so a test
knows exactly which days are abnormal and by how much.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

# A Monday: day index k falls on weekday k % 7 (5 and 6 are the weekend).
START = dt.date(2025, 1, 6)


def day(index: int, start: dt.date = START) -> dt.date:
    return start + dt.timedelta(days=index)


def index_of(date: dt.date, start: dt.date = START) -> int:
    return (date - start).days


def weekly_profile(weekend_dip: float = 0.35) -> np.ndarray:
    """Monday..Sunday multipliers: weekdays around 1, Saturday and Sunday `weekend_dip` lower."""
    weekdays = np.array([1.0, 1.05, 1.05, 1.0, 0.95])
    weekend = np.full(2, 1.0 - weekend_dip)
    return np.concatenate([weekdays, weekend])


def usage(
    n_days: int,
    *,
    seed: int = 0,
    level: float = 2000.0,
    weekend_dip: float = 0.35,
    yearly_growth: float = 0.1,
    noise: float = 0.05,
    start: dt.date = START,
) -> np.ndarray:
    """A plain usage series: weekly profile, compound growth per year, lognormal noise
    (`noise` is the log-space standard deviation, so 0.05 is about 5 % day to day)."""
    rng = np.random.default_rng(seed)
    days = np.arange(n_days)
    dow = (start.weekday() + days) % 7
    growth = (1.0 + yearly_growth) ** (days / 365.0)
    wobble = np.exp(rng.normal(0.0, noise, n_days))
    return level * weekly_profile(weekend_dip)[dow] * growth * wobble


def scaled(values: np.ndarray, days: slice | list[int] | np.ndarray, factor: float) -> np.ndarray:
    """A copy of `values` with the given days multiplied by `factor` (0.4 is a 60 % drop)."""
    out = np.array(values, dtype=float)
    out[days] *= factor
    return out


def ramp(values: np.ndarray, first: int, length: int, final_factor: float) -> np.ndarray:
    """A copy whose level moves linearly from 1 at day `first` to `final_factor` at day
    `first + length - 1` and stays there to the end."""
    out = np.array(values, dtype=float)
    factors = np.ones(len(out))
    factors[first : first + length] = np.linspace(1.0, final_factor, length)
    factors[first + length :] = final_factor
    return out * factors


def with_missing(values: np.ndarray, days: slice | list[int] | np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float)
    out[days] = np.nan
    return out
