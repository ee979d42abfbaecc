"""Baseline and spread: each series' clean history, what it expects of the next day, and how
far a normal day strays from that.

The clean history is kept in log1p space and in *padded* coordinates: day d of the batch
lives at row d + L (L = the STL window), so the window before any day is one slice. Missing,
flagged and excused days enter it as what was expected of them, normal days enter clipped
(Huber), so a three-week drop is still a drop in week three and a lone burst does not teach
the weekly profile anything.

Arrays are day-major (days, series): the replay reads and writes one day of every series at
a time.
"""

from __future__ import annotations

import warnings

import numpy as np

from .coldstart import ColdStartPrior
from .config import DetectionConfig
from .robust import MAD_TO_SIGMA, row_median, row_quantiles
from .stl_operator import WEEK, StlOperator

# In log1p space 0.02 is a 2 % day-to-day wobble: no real usage series is steadier than that,
# and a perfectly constant history must not make every small change infinitely significant.
MIN_SIGMA = 0.02
# Outliers further than this many robust sigmas from a plain weekly fit are clipped before a
# scan's first window (the replay cleans everything after that itself).
PRECLEAN_Z = 4.0
# A series' first days may sit at most this factor from their median (a weekend at a fifth
# of the weekdays passes; a one-off import on day one does not).
FIRST_DAYS_FACTOR = 5.0
# Normal days enter the baseline clipped to this many sigmas (Huber's k for 95 % efficiency
# is 1.345 in sigma units of the noise; one-step sigmas already carry the forecast's own
# error, so a wider clip keeps ordinary days untouched).
HUBER_CLIP = 2.5
# A scan's first window settled on its recent level when at least this share of the last
# `pattern_horizon_days` sat on one side of the window's median by more than the drop
# threshold: that shift outlived the horizon, as a day-by-day replay would have found.
SETTLED_SHARE = 0.75
# A weekday seen this many times in a window gets its median effect; seen twice, only what
# both days agree on (so one odd first Monday does not make Mondays busy).
PROFILE_MEDIAN_MIN_DAYS = 3
# The level a day would have seen: the mean of the deseasonalized days of this span before it.
LEVEL_SPAN = 2 * WEEK


class Baseline:
    """The clean history of every series and the spread of its residuals."""

    def __init__(
        self,
        *,
        yt: np.ndarray,
        obst: np.ndarray,
        t0: int,
        cfg: DetectionConfig,
        op: StlOperator,
        dow: np.ndarray,
        drop: np.ndarray,
        prior: ColdStartPrior,
    ):
        T, n = yt.shape
        L = cfg.window_days
        self.cfg, self.op, self.L, self.n = cfg, op, L, n
        self.dow = dow  # weekday of each padded row
        self.drop = drop  # per-series drop threshold (a negative fraction)
        # What young series borrow from their peers (coldstart.py), and its weight today.
        self.prior = prior
        self.prior_weight = np.zeros(n)
        # Clean history: days before the replay are taken as they are (a scan cleans its
        # first window in preclean); the replay writes every later day.
        self.clean = np.full((L + T, n), np.nan)
        self.clean[L : L + t0] = yt[:t0]
        # Days that entered as themselves (normal days), not as an expectation.
        self.genuine = np.zeros((L + T, n), dtype=bool)
        self.genuine[L : L + t0] = obst[:t0]
        # The level each day saw (LEVEL_SPAN deseasonalized days before it).
        self.level = np.full((L + T, n), np.nan)
        # Residual spread per series, refreshed every `scale_refresh_days`; series whose
        # history was rewritten (a rebaseline) are refreshed at the next step, so no series
        # depends on another.
        self.res_sigma = np.zeros(n)
        self.res_count = np.zeros(n, dtype=np.int64)
        self.fence_lo = np.zeros(n)
        self.fence_hi = np.zeros(n)
        self.refresh_rows = np.zeros(n, dtype=bool)
        # A scan's first window is cleaned as a whole; a backtest tames each series' first
        # days once it has enough of them.
        self.tamed = np.full(n, t0 > 0)
        self.gap_count = np.zeros(n, dtype=np.int64)

    # -- the history before the replay --

    def preclean(self, t0: int) -> None:
        """Make a scan's first window trustworthy: fill its gaps and clip its outliers against
        a plain weekly fit (the replay cleans every later day itself)."""
        L = self.L
        window = self.clean[t0 : t0 + L].T  # a view: writing it cleans the history
        fit = self.seasonal_fill(
            window, t0, level=self._settled_level(window, t0), rows=np.arange(self.n)
        )
        resid = window - fit
        sigma = MAD_TO_SIGMA * row_median(np.abs(resid - row_median(resid)[:, None]))
        sigma = np.maximum(np.nan_to_num(sigma, nan=0.0), MIN_SIGMA)
        outlier = np.abs(resid) > PRECLEAN_Z * sigma[:, None]
        replace = (np.isnan(window) | outlier) & ~np.isnan(fit)
        window[replace] = fit[replace]
        genuine = self.genuine[t0 : t0 + L].T
        genuine &= ~outlier
        # The level each of these days would have seen, for the level test's look back.
        deseasonalized = window - window @ self.op.seasonal.T
        sums = np.cumsum(deseasonalized, axis=1)
        rolling = (
            sums[:, LEVEL_SPAN - 1 : -1]
            - np.concatenate([np.zeros((self.n, 1)), sums[:, : -LEVEL_SPAN - 1]], axis=1)
        ) / LEVEL_SPAN
        self.level[t0 + LEVEL_SPAN : t0 + L] = rolling.T

    def start_gap_count(self, t0: int) -> None:
        # Missing days in the first window but its last one (each step adds its newest day).
        self.gap_count = np.isnan(self.clean[t0 : t0 + self.L - 1]).sum(axis=0)

    def tame_first_days(self, t: int, history: np.ndarray) -> None:
        """A series' first days enter the baseline raw (there is nothing to judge them by).
        When it has `min_points` of them, days more than FIRST_DAYS_FACTOR off their median
        are pulled to it: a one-off import on day one must not make that weekday busy for
        the next three months."""
        rows = np.flatnonzero(~self.tamed & (history >= self.cfg.min_points))
        if not rows.size:
            return
        self.tamed[rows] = True
        window = self.clean[t : t + self.L, rows]
        center = row_median(window.T)
        bound = np.log(FIRST_DAYS_FACTOR)
        with np.errstate(invalid="ignore"):
            tamed = np.clip(window, center - bound, center + bound)
        self.clean[t : t + self.L, rows] = np.where(np.isnan(window), window, tamed)

    # -- one day --

    def window(self, t: int) -> np.ndarray:
        """The clean window before day t, (L, n), its gaps filled by a weekly fit."""
        window = self.clean[t : t + self.L]
        # Gaps are rare after the first window: keep a running count per series instead of
        # scanning the whole window every day.
        self.gap_count += np.isnan(window[-1])
        gaps = np.flatnonzero(self.gap_count > 0)
        if gaps.size:
            window = window.copy()
            sub = window[:, gaps].T
            fit = self.seasonal_fill(sub, t, rows=gaps)
            missing = np.isnan(sub)
            sub[missing] = fit[missing]
            window[:, gaps] = np.nan_to_num(sub).T
        return window

    def update_scale(self, window: np.ndarray, t: int, r: int) -> None:
        if r % self.cfg.scale_refresh_days == 0:
            self._refresh_scale(window, t, slice(None))
        elif self.refresh_rows.any():
            self._refresh_scale(window, t, np.flatnonzero(self.refresh_rows))
        self.refresh_rows[:] = False

    def sigma(self, expected: np.ndarray) -> np.ndarray:
        """One-step-ahead sigma in log space: the residual spread (pooled with the peers'
        while young, coldstart.py) inflated to a forecast's error, never below a Poisson
        count's spread or MIN_SIGMA."""
        positive = np.maximum(expected, 0)
        poisson = np.sqrt(positive) / (1 + positive)
        spread = self.prior.blend_sigma(self.res_sigma, self.res_count, self.prior_weight)
        return np.maximum.reduce(
            [spread * self.op.forecast_inflation, poisson, np.full(self.n, MIN_SIGMA)]
        )

    def fences(self) -> tuple[np.ndarray, np.ndarray]:
        """The Tukey fences in force: the residuals' own, moved towards the peers' spread's
        while young (coldstart.py)."""
        if not self.prior_weight.any():
            return self.fence_lo, self.fence_hi
        return self.prior.blend_fences(
            self.fence_lo,
            self.fence_hi,
            self.prior_weight,
            iqr_k=self.cfg.iqr_k,
            inflation=self.op.forecast_inflation,
        )

    def enter(
        self,
        t: int,
        *,
        f: np.ndarray,
        e: np.ndarray,
        y: np.ndarray,
        sigma: np.ndarray,
        normal: np.ndarray,
        decidable: np.ndarray,
        level: np.ndarray,
    ) -> None:
        """Day t joins the history: a normal day as itself clipped to HUBER_CLIP sigmas (a
        lone burst that was not an event must not teach the weekly profile that Mondays are
        busy, which STL's robustness weights would otherwise do); any other day as what was
        expected of it. Persistent moves still get through: slowly via the clipped values
        and the level test, at once past the horizon."""
        L = self.L
        clipped = f + np.clip(e, -HUBER_CLIP * sigma, HUBER_CLIP * sigma)
        kept = np.where(decidable, clipped, y)
        self.clean[t + L] = np.where(normal, kept, np.where(decidable, f, np.nan))
        # Day t - L leaves the window, day t enters it at the next step (counted there).
        self.gap_count -= np.isnan(self.clean[t])
        self.genuine[t + L] = normal
        self.level[t + L] = level

    # -- rewriting history --

    def take_raw(self, row: int, days: np.ndarray, raw: np.ndarray, *, genuine: bool) -> None:
        """Days of one series enter the history as they were (observed ones only): a new
        normal (`genuine`: they count for the spread from now on), or the days that showed a
        changed weekly habit. The series' spread is re-estimated at the next step."""
        observed = ~np.isnan(raw)
        self.clean[days[observed] + self.L, row] = raw[observed]
        if genuine:
            self.genuine[days + self.L, row] = observed
        self.refresh_rows[row] = True

    def take_clipped(
        self, row: int, days: np.ndarray, raw: np.ndarray, f: np.ndarray, sigma: np.ndarray
    ) -> None:
        """Days of one series enter the history as normal days do, Huber-clipped."""
        bound = HUBER_CLIP * sigma
        kept = f + np.clip(raw - f, -bound, bound)
        keep = ~np.isnan(raw)
        self.clean[days[keep] + self.L, row] = kept[keep]
        self.genuine[days[keep] + self.L, row] = True

    def shift_weekday(self, row: int, t: int, offset: int, shift: float) -> None:
        """Move every day of one weekday in series `row`'s window before day t by `shift`
        (log space): `offset` days before t is the weekday."""
        columns = t + self.L - offset - WEEK * np.arange(self.L // WEEK)
        columns = columns[columns >= 0]
        self.clean[columns, row] += shift

    # -- fits --

    def seasonal_fill(
        self,
        window: np.ndarray,
        t: int,
        level: np.ndarray | None = None,
        *,
        rows: np.ndarray,
    ) -> np.ndarray:
        """A plain robust weekly fit of each window row (series `rows`): a level, by default
        the last two weeks', plus a weekday profile (a young series' blended with its peers',
        coldstart.py), to fill gaps."""
        if level is None:
            recent = row_median(window[:, -2 * WEEK :])
            level = np.where(np.isnan(recent), row_median(window), recent)
        profile = self.weekday_profile(window, t)
        if self.prior_weight[rows].any():
            dow = self.dow[t : t + self.L]
            profile = self.prior.blend_profile(profile, rows, self.prior_weight, dow)
        return level[:, None] + profile

    def weekday_profile(self, window: np.ndarray, t: int) -> np.ndarray:
        """Each window day's weekday effect (median of that weekday minus the window's
        median), shaped like the window. Seen once, a weekday has no effect yet; seen twice,
        only what both days agree on (the smaller effect if both go the same way, else none),
        so one odd first Monday does not make Mondays busy."""
        dow = self.dow[t : t + self.L]
        overall = row_median(window)
        profile = np.zeros((window.shape[0], WEEK))
        for k in range(WEEK):
            cols = window[:, dow == k] - overall[:, None]
            counts = np.sum(~np.isnan(cols), axis=1)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
                low, high = np.nanmin(cols, axis=1), np.nanmax(cols, axis=1)
                agreed = np.where(low > 0, low, np.where(high < 0, high, 0.0))
                effect = np.where(counts >= PROFILE_MEDIAN_MIN_DAYS, row_median(cols), agreed)
            profile[:, k] = np.where(counts >= 2, np.nan_to_num(effect), 0.0)
        return profile[:, dow]

    def _settled_level(self, window: np.ndarray, t: int) -> np.ndarray:
        """The level a scan's first window settled on: the window's median, unless the last
        `pattern_horizon_days` sat mostly (SETTLED_SHARE) on one side of it by more than the
        drop threshold, in which case that shift outlived the horizon and is the baseline, as
        a day-by-day replay would have made it. (A drop in the last days of the window is
        just an outlier to clip.)"""
        horizon = self.cfg.pattern_horizon_days
        # Judged on deseasonalized days: a weekend is not a drop.
        window = window - self.weekday_profile(window, t)
        overall = row_median(window)
        recent = window[:, -horizon:]
        recent_level = row_median(recent)
        bar = np.abs(np.log1p(self.drop))
        with np.errstate(invalid="ignore"):
            shift = recent_level - overall
            off = np.abs(recent - overall[:, None]) > bar[:, None]
            side = np.sign(recent - overall[:, None]) == np.sign(shift)[:, None]
            share = np.sum(off & side, axis=1) / np.maximum(np.sum(~np.isnan(recent), axis=1), 1)
        shifted = (np.abs(shift) > bar) & (share >= SETTLED_SHARE)
        return np.where(shifted, recent_level, overall)

    def _refresh_scale(self, window: np.ndarray, t: int, rows) -> None:
        cfg = self.cfg
        resid = self.op.residual @ window[:, rows]
        resid[~self.genuine[t : t + self.L, rows]] = np.nan
        # float32 halves the sorting work; spreads need no more than 7 digits.
        resid = resid.T.astype(np.float32)
        (q1, med, q3), counts = row_quantiles(resid, (0.25, 0.5, 0.75))
        spread = np.abs(resid - med[:, None])
        mad = row_quantiles(spread, (0.5,))[0][0]
        inflation = self.op.forecast_inflation
        self.res_sigma[rows] = np.nan_to_num(MAD_TO_SIGMA * mad, nan=0.0)
        self.res_count[rows] = counts
        iqr = np.nan_to_num(q3 - q1)
        self.fence_lo[rows] = np.nan_to_num((q1 - cfg.iqr_k * iqr) * inflation)
        self.fence_hi[rows] = np.nan_to_num((q3 + cfg.iqr_k * iqr) * inflation)
