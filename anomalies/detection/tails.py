"""Spiky series need more evidence: each series' own history says how often it has had
excursions of the size that would be flagged, and how long they lasted. A series whose
history is full of two-day excursions that came to nothing (rain days for a bicycle
counter, news days for page views) must stay down longer before a run is an event, the way
false-positive dismissals already raise the bar.

For each series and direction, over the last TAIL_WINDOW_DAYS before the last TAIL_GAP_DAYS
(which may hold the very anomaly being judged): the runs of consecutive days (a missing day
ends a run) whose daily move
(cohorts.daily_moves: the log value against the same weekday's median of the four weeks
before) would pass the flag's percentage and z bars. The run length an event needs is the
shortest one (at least the configured minimum duration) that such runs reached less often
than MAX_NOISE_RUNS_PER_YEAR: what the series does several times a year on its own is its
normal, not news. The factor on the minimum duration is that length over the configured one,
at most TAIL_MAX_FACTOR.
"""

from __future__ import annotations

import numpy as np

from .robust import MAD_TO_SIGMA, row_quantiles
from .stl_operator import WEEK

# A year of moves: weather, seasons and the series' own habits.
TAIL_WINDOW_DAYS = 365
# The most recent days are left out: they may be the anomaly being judged.
TAIL_GAP_DAYS = 14
# Fewest days with a move to judge a history by; fewer leave the factor at 1.
TAIL_MIN_DAYS = 56
# A series too new to judge (under TAIL_MIN_DAYS of moves) needs this many days more than
# the configured minimum duration: its noise is not known yet (as cold start raises the z bar).
UNKNOWN_TAIL_EXTRA_DAYS = 1
# How often a series may have had runs of a length on its own before that length is its
# normal: twice a year.
MAX_NOISE_RUNS_PER_YEAR = 2.0
# No series needs more than three times the evidence (the cap dismissals have too).
TAIL_MAX_FACTOR = 3.0
# Histories change with the seasons: re-estimated every four weeks.
TAIL_REFRESH_DAYS = 4 * WEEK


class TailEvidence:
    def __init__(
        self,
        moves: np.ndarray,
        *,
        z: np.ndarray,
        drop: np.ndarray,
        spike: np.ndarray,
        min_duration: np.ndarray,
    ):
        self.moves = moves  # (days, series)
        self.z, self.drop, self.spike, self.min_duration = z, drop, spike, min_duration
        n = moves.shape[1]
        self.factors = np.ones((n, 2))
        self._computed_at = -(10**9)

    def at(self, t: int) -> np.ndarray:
        """(n, 2) factors >= 1 on the minimum duration of a fall (column 0) and a rise
        (column 1) on day t."""
        if t - self._computed_at >= TAIL_REFRESH_DAYS:
            self._computed_at = t
            self.factors = self._estimate(t)
        return self.factors

    def _estimate(self, t: int) -> np.ndarray:
        hi = max(t - TAIL_GAP_DAYS, 0)
        lo = max(hi - TAIL_WINDOW_DAYS, 0)
        window = self.moves[lo:hi]  # (W, n)
        n = window.shape[1]
        # Until a series' history can tell how spiky it is, it might be: one day more.
        unknown = (self.min_duration + UNKNOWN_TAIL_EXTRA_DAYS) / self.min_duration
        factors = np.repeat(unknown[:, None], 2, axis=1)
        observed = ~np.isnan(window)
        days = observed.sum(axis=0)
        if window.shape[0] < TAIL_MIN_DAYS:
            return factors
        (median,), _ = row_quantiles(window.T, (0.5,))
        spread = row_quantiles(np.abs(window.T - median[:, None]), (0.5,))[0][0]
        sigma = np.nan_to_num(MAD_TO_SIGMA * spread, nan=0.0)
        with np.errstate(invalid="ignore"):
            down = (window <= np.log1p(self.drop)) & (window - median <= -self.z * sigma)
            up = (window >= np.log1p(self.spike)) & (window - median >= self.z * sigma)
        years = np.maximum(days, 1) / 365.25
        base = self.min_duration.astype(np.int64)
        longest = int(np.ceil(base.max() * TAIL_MAX_FACTOR))
        judged = days >= TAIL_MIN_DAYS
        for column, flagged in ((0, down), (1, up)):
            lengths = _run_lengths(flagged & observed, longest)  # (longest + 1, n)
            # Runs of at least k days per year, k = 1 .. longest.
            at_least = np.cumsum(lengths[::-1], axis=0)[::-1][1:] / years
            # The shortest run length, from the configured one up, that the series reached
            # on its own at most MAX_NOISE_RUNS_PER_YEAR times a year.
            need = np.zeros(n, dtype=np.int64)
            for k in range(1, longest + 1):
                settled = (need == 0) & (k >= base) & (at_least[k - 1] <= MAX_NOISE_RUNS_PER_YEAR)
                need[settled] = k
            need = np.where(need == 0, np.ceil(base * TAIL_MAX_FACTOR), need)
            factor = np.minimum(need / base, TAIL_MAX_FACTOR)
            factors[:, column] = np.where(judged, factor, unknown)
        return factors


def _run_lengths(flagged: np.ndarray, longest: int) -> np.ndarray:
    """(longest + 1, n): out[k, j] is the number of runs of exactly k consecutive flagged
    days in column j (runs longer than `longest` count as `longest`)."""
    W, n = flagged.shape
    padded = np.zeros((n, W + 2), dtype=np.int8)
    padded[:, 1:-1] = flagged.T
    edges = np.diff(padded, axis=1)  # +1 where a run starts, -1 just after it ends
    rows_start, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # same order: row by row, left to right
    lengths = np.minimum(ends - starts, longest)
    out = np.zeros((longest + 1, n))
    np.add.at(out, (lengths, rows_start), 1)
    return out
