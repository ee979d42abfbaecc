"""Yearly recurrence: what every past year of a series says about the same time of year.

Two questions, both answered from the raw data of earlier years (never from the engine's
judgement of them), aligned by week of year and weekday (364 days back, so weekdays line up)
with a search of up to SEASON_SEARCH_DAYS either side, because semesters, school holidays and
Easter move a little from year to year:

- `days`: did the same days of earlier years move the same way against their surroundings?
  A dip that lasted there for a while (a centred week's median of the daily moves) is a
  season or an annual shutdown; a dip on the same calendar date (one day either side) is a
  fixed-date holiday of the account's own calendar (Australia Day, Boxing Day), whatever the
  configured country.
- `level_change`: did the level move the same way over the same weeks of earlier years (an
  autumn decline, a spring ramp)?

A move is recurring when at least half of the years with data show one at least
RECURRING_SHARE as large in the same direction; when those years had the season's move but
it is now more than twice as large, it is a `seasonal_deviation`, not the season.
"""

from __future__ import annotations

import numpy as np

from .robust import MAD_TO_SIGMA, row_quantiles
from .stl_operator import WEEK

YEAR = 364
# Earlier years' same weeks may be this far off (whole weeks, so weekdays line up).
SEASON_SEARCH_DAYS = 2 * WEEK
# A period that lasted: the median of a centred week of daily moves (a single day's
# coincidence, last year's Black Friday against this year's Saturday, excuses nothing).
SEASON_SMOOTH_DAYS = 3  # either side
# A fixed-date holiday moves one weekday a year: the same calendar date (365 days back, 366
# across a leap day) with a day either side.
DATE_SEARCH_DAYS = 1
# A past move explains one now when it went the same way and was at least this share as
# large; a move now more than 1 / RECURRING_SHARE times the usual one is a seasonal deviation.
RECURRING_SHARE = 0.5
# Share of the years with data that must show the move.
RECURRING_YEARS_SHARE = 0.5
# The level of a day for the level comparison: the mean of the two weeks before it (whole
# weeks, so the weekly pattern cancels).
LEVEL_DAYS = 2 * WEEK
LEVEL_MIN_DAYS = 10


def trailing_level(yt: np.ndarray) -> np.ndarray:
    """(T, n) mean of the LEVEL_DAYS days before each day (NaN with under LEVEL_MIN_DAYS)."""
    T, n = yt.shape
    observed = ~np.isnan(yt)
    sums = np.concatenate([np.zeros((1, n)), np.cumsum(np.where(observed, yt, 0.0), axis=0)])
    counts = np.concatenate([np.zeros((1, n)), np.cumsum(observed, axis=0)])
    level = np.full((T, n), np.nan)
    hi = np.arange(T)
    lo = np.maximum(hi - LEVEL_DAYS, 0)
    total = sums[hi] - sums[lo]
    days = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(days >= LEVEL_MIN_DAYS, total / np.maximum(days, 1), np.nan)
    return level


class Yearly:
    def __init__(self, yt: np.ndarray, moves: np.ndarray):
        self.T, self.n = yt.shape
        self.moves = moves
        self.level = trailing_level(yt)

    def _past(self, values: np.ndarray, t: int, lags) -> np.ndarray:
        """(years, lags, n) values at t - lag for each year's lags (NaN outside the data)."""
        out = []
        for year_lags in lags:
            rows = []
            for lag in year_lags:
                d = t - lag
                rows.append(values[d] if 0 <= d < self.T else np.full(values.shape[1], np.nan))
            out.append(rows)
        return np.array(out) if out else np.zeros((0, 0, self.n))

    def _past_season(self, t: int, lags, rows: np.ndarray) -> np.ndarray:
        """(years, lags, rows): the median of the centred week of daily moves around t - lag
        (computed only where asked: a few flagged series on a few days)."""
        half = SEASON_SMOOTH_DAYS
        moves = self.moves[:, rows]
        week = np.stack(
            [self._past(moves, t + shift, lags) for shift in range(-half, half + 1)]
        )  # (7, years, lags, rows), each day's move around the aligned day
        return nanmedian_axis0(week)

    def _years(self, t: int) -> int:
        return max(0, (t - SEASON_SEARCH_DAYS) // YEAR)

    def days(self, t: int, move_now: np.ndarray, sign: int, rows: np.ndarray, bar: np.ndarray):
        """For the series `rows` flagged with `sign` on day t, whose daily move is
        `move_now`: (recurring, deviation) masks over rows. `bar` (log, per series) is the
        flag's percentage bar.

        Only a daily move of at least half the bar is compared with earlier years (a day
        flagged while its move against the last four weeks is small belongs to a drop that
        has lasted that long, not to a day's recurrence). An earlier year's move counts only
        when it was itself beyond the bar (a holiday dip on the same date) or, held for a
        week (a season), beyond half of it: smaller moves within a few days either side
        happen by chance on any noisy series."""
        years = self._years(t)
        recurring = np.zeros(rows.size, dtype=bool)
        deviation = np.zeros(rows.size, dtype=bool)
        if not years or not rows.size:
            return recurring, deviation
        seasonal_lags = [
            [YEAR * k + s for s in range(-SEASON_SEARCH_DAYS, SEASON_SEARCH_DAYS + 1, WEEK)]
            for k in range(1, years + 1)
        ]
        date_lags = [
            [_calendar_lag(k) + s for s in range(-DATE_SEARCH_DAYS, DATE_SEARCH_DAYS + 1)]
            for k in range(1, years + 1)
        ]
        now = sign * move_now[rows]
        size = bar[rows]
        with np.errstate(invalid="ignore"):
            comparable = now >= RECURRING_SHARE * size
        for season, lags, least in (
            (True, seasonal_lags, RECURRING_SHARE * size),
            (False, date_lags, size),
        ):
            if season:
                past = sign * self._past_season(t, lags, rows)  # (years, lags, rows)
            else:
                past = sign * self._past(self.moves[:, rows], t, lags)
            with np.errstate(invalid="ignore"):
                best = np.nanmax(np.where(np.isnan(past), -np.inf, past), axis=1)
                best = np.where(np.isfinite(best), best, np.nan)
                best = np.where(best >= least, best, np.where(np.isnan(best), np.nan, 0.0))
            r, dev = _recurring(now, best)
            recurring |= r & comparable
            deviation |= dev & comparable
        return recurring, deviation & ~recurring

    def drift(self, t: int, span: int, rows: np.ndarray) -> np.ndarray:
        """Robust standard deviation (MAD) of the series' own level changes over `span`
        days, in the DRIFT_HISTORY_DAYS before the span ending on t (NaN with too little
        history): how far the level wanders on its own, weather, seasons and all."""
        hi = t - span
        lo = max(hi - DRIFT_HISTORY_DAYS, span)
        out = np.full(rows.size, np.nan)
        if hi - lo < DRIFT_MIN_SAMPLES * span:
            return out
        level = self.level[:, rows]
        changes = level[lo:hi] - level[lo - span : hi - span]
        (median,), counts = row_quantiles(changes.T, (0.5,))
        spread = row_quantiles(np.abs(changes.T - median[:, None]), (0.5,))[0][0]
        enough = counts >= DRIFT_MIN_SAMPLES * span
        return np.where(enough, MAD_TO_SIGMA * spread, np.nan)

    def level_change(self, t: int, span: int, sign: np.ndarray, rows: np.ndarray, bar: np.ndarray):
        """For the series `rows` whose level moved in direction `sign` (per row) over the
        `span` days before t: (recurring, deviation) masks over rows. The move is measured
        on the two-week trailing level of the raw data, now and in earlier years alike; an
        earlier year's move counts as the season's when it reached half of `bar` (log, per
        series: the level test's percentage bar)."""
        years = self._years(t)
        recurring = np.zeros(rows.size, dtype=bool)
        deviation = np.zeros(rows.size, dtype=bool)
        if not years or not rows.size or t - span < 0:
            return recurring, deviation
        now = sign * (self.level[t, rows] - self.level[t - span, rows])
        shifts = range(-SEASON_SEARCH_DAYS, SEASON_SEARCH_DAYS + 1, WEEK)
        ends = [[YEAR * k + s for s in shifts] for k in range(1, years + 1)]
        starts = [[YEAR * k + s + span for s in shifts] for k in range(1, years + 1)]
        level = self.level[:, rows]
        past = sign * (self._past(level, t, ends) - self._past(level, t, starts))
        with np.errstate(invalid="ignore"):
            best = np.nanmax(np.where(np.isnan(past), -np.inf, past), axis=1)
            best = np.where(np.isfinite(best), best, np.nan)
            least = RECURRING_SHARE * bar[rows]
            best = np.where(best >= least, best, np.where(np.isnan(best), np.nan, 0.0))
            comparable = now > 0
        recurring, deviation = _recurring(now, best)
        return recurring & comparable, deviation & comparable


# How a series' level usually drifts: its changes over a span, over the last year before the
# span being judged (at least DRIFT_MIN_SAMPLES spans of data).
DRIFT_HISTORY_DAYS = 365
DRIFT_MIN_SAMPLES = 2


def _calendar_lag(years_back: int) -> int:
    # 365 days a year, one more across a leap day on average every fourth year: the day
    # search either side absorbs the difference.
    return 365 * years_back + years_back // 4


def _recurring(now: np.ndarray, best: np.ndarray):
    """`now` (rows,): the size of the move in its own direction (> 0); `best` (years, rows):
    each year's largest move in that direction, 0 where it was too small to be a season's,
    NaN where the year has no data. Recurring: in at least RECURRING_YEARS_SHARE of the years
    with data, a move of at least RECURRING_SHARE of now. A seasonal deviation: those years
    did have the season's move, but now is more than 1 / RECURRING_SHARE (twice) as large."""
    have = ~np.isnan(best)
    years = np.maximum(have.sum(axis=0), 1)
    with np.errstate(invalid="ignore"):
        alike = have & (best >= RECURRING_SHARE * now)
        usual = have & (best > 0)
    any_year = have.any(axis=0)
    recurring = any_year & (alike.sum(axis=0) / years >= RECURRING_YEARS_SHARE)
    deviation = any_year & (usual.sum(axis=0) / years >= RECURRING_YEARS_SHARE) & ~recurring
    return recurring, deviation


def nanmedian_axis0(stack: np.ndarray) -> np.ndarray:
    """Median over the first axis ignoring NaN (a handful of values per cell)."""
    ordered = np.sort(stack, axis=0)
    counts = np.sum(~np.isnan(stack), axis=0)
    lo = np.maximum((counts - 1) // 2, 0)
    hi = np.maximum(counts // 2, 0)
    a = np.take_along_axis(ordered, lo[None], axis=0)[0]
    b = np.take_along_axis(ordered, hi[None], axis=0)[0]
    out = (a + b) / 2
    out[counts == 0] = np.nan
    return out
