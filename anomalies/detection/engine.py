"""The detection engine: a causal day-by-day replay, vectorized across series.

Every day t of the replay, for all series at once:

1. Baseline. The trailing `window_days` of each series' *clean* history (log1p of the values,
   with missing, flagged and excused days replaced by what was expected of them, normal days
   Huber-clipped) go through the linear STL operator: the forecast for day t is the mean of
   the last week's deseasonalized values plus the seasonal of the same weekday. Working in
   log space makes weekly and yearly patterns multiplicative, noise roughly constant across
   account sizes, and percentages natural.
2. Spread. Robust statistics of the STL residuals (median/MAD for a robust z, quartiles for
   Tukey fences), inflated to one-step-ahead errors, with a Poisson floor so tiny counts do
   not look precise.
3. Flags. A day is flagged when its robust z, its IQR fence and its percentage change all say
   so, the baseline volume is worth alerting on, it is not a holiday (drops only), it repeats
   nothing seen a year earlier, and not a large share of all series moved with it (a data
   outage or global holiday).
4. Events. Runs of same-sign flagged days (missing days neither extend nor break them) become
   reported events after `min_duration_days`, end after `recovery_days` normal days, and turn
   into a `pattern_change` (and the new baseline) past `pattern_horizon_days`. Slow level
   changes that never trip the daily test are caught by comparing the trend now with the
   trend `level_lookback_days` ago.

Flagged days are replaced by their expectation before they enter later windows, so a drop that
lasts three weeks is still a drop in week three. The backtest replays every day of the input;
a scan replays the last `replay_days` so it reconstructs the same events a daily run would
have found. Nothing here reads a clock, a database or settings: the caller passes the data
and the day.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import classify
from .calendar import holiday_mask
from .config import PER_SERIES_FIELDS, SHARED_FIELDS, DetectionConfig, preset
from .robust import MAD_TO_SIGMA, row_quantiles
from .stl_operator import WEEK, stl_operator
from .types import DetectionResult, Finding, PortfolioEvent, SeriesBatch, SeriesHints

# In log1p space 0.02 is a 2 % day-to-day wobble: no real usage series is steadier than that,
# and a perfectly constant history must not make every small change infinitely significant.
MIN_SIGMA = 0.02
# Outliers further than this many robust sigmas from a plain weekly fit are clipped before a
# scan's first window (the replay cleans everything after that itself).
PRECLEAN_Z = 4.0
# Last year's same period: 52 weeks back, so weekdays line up. A yearly pattern is taken to
# be one that lasted there for a while (the median of a week of last year's residuals), since a
# single day's coincidence (last year's Black Friday against this year's Saturday) would excuse
# real drops; one-day holidays are the holiday calendar's job.
YEAR = 364
YEAR_SMOOTH = 3  # days either side
# A series' first days may sit at most this factor from their median (a weekend at a fifth
# of the weekdays passes; a one-off import on day one does not).
FIRST_DAYS_FACTOR = 5.0
# Normal days enter the baseline clipped to this many sigmas (Huber's k for 95 % efficiency
# is 1.345 in sigma units of the noise; one-step sigmas already carry the forecast's own
# error, so a wider clip keeps ordinary days untouched).
HUBER_CLIP = 2.5
# The level test averages weekdays with weekends; on small counts the quiet weekend days
# carry Poisson noise far above the series' median spread, so it waits for more volume.
LEVEL_VOLUME_FACTOR = 3.0
# A weekday flagged the same way this many weeks running is a changed weekly habit, when at
# most two weekdays changed and the rest of those weeks stayed mostly normal.
WEEKLY_CHANGE_WEEKS = 3
MAX_CHANGED_WEEKDAYS = 2
# Same-weekday neighbours (a week, two, three either side) give a day's local "normal".
_NEIGHBOUR_WEEKS = (-21, -14, -7, 7, 14, 21)


@dataclass
class _Event:
    row: int
    kind: str  # "run" (a flagged run) or "pattern" (a shift past the horizon or a level change)
    sign: int
    start: int
    end: int | None
    detected: int
    level_from: float = math.nan
    level_to: float = math.nan
    level_sd: float = math.nan
    weekdays: str = ""  # for a changed weekly profile: the weekdays that changed


def detect(
    batch: SeriesBatch,
    *,
    config: DetectionConfig | Sequence[DetectionConfig] | None = None,
    backtest: bool = False,
    as_of: dt.date | None = None,
    hints: SeriesHints | None = None,
) -> DetectionResult:
    """Find anomalous events in many daily series at once.

    `config` is one config for all series or one per series (their statistical fields must
    agree; thresholds may differ). Without `backtest` the result holds the events a scan on
    `as_of` (default: the batch's last day) reconstructs from its replay window, ongoing ones
    with `end=None`; with it, every event of a day-by-day replay of the whole batch.
    """
    shared, thresholds = _resolve_configs(config, batch.n_series)
    values = _validated_values(batch)
    if as_of is not None:
        last = batch.index_of(as_of)
        if not 0 <= last < batch.n_days:
            last_day = batch.day(batch.n_days - 1)
            raise ValueError(f"as_of {as_of} is outside the data ({batch.start} to {last_day})")
        values = values[:, : last + 1]
    values = _apply_hints(values, hints)
    evidence = _evidence(hints, batch.n_series)
    if values.shape[1] == 0 or batch.n_series == 0:
        return DetectionResult([], [], as_of)
    # Astronomic inputs (1e300) overflow expm1 and ratios to inf; those end up as null in
    # JSON rather than as warnings in a worker's log.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        replay = _Replay(batch, values, shared, thresholds, evidence, backtest=backtest)
        replay.run()
        findings = replay.findings()
    return DetectionResult(findings, replay.portfolio_events(), batch.day(values.shape[1] - 1))


def detect_series(
    values: Sequence[float] | np.ndarray,
    *,
    start: dt.date,
    series_id: str = "series",
    config: DetectionConfig | None = None,
    backtest: bool = False,
    as_of: dt.date | None = None,
) -> list[Finding]:
    """One series (NaN or None for missing days); the batch path with a batch of one."""
    row = np.asarray([np.nan if v is None else v for v in values], dtype=float)[None, :]
    account, _, metric = series_id.rpartition("/")
    batch = SeriesBatch(row, start, (series_id,), (metric or series_id,), (account or series_id,))
    return detect(batch, config=config, backtest=backtest, as_of=as_of).findings


# --- inputs ----------------------------------------------------------------------------------


def _resolve_configs(config, n_series: int):
    if config is None:
        config = preset("medium")
    if isinstance(config, DetectionConfig):
        return config, {
            name: np.full(n_series, float(getattr(config, name))) for name in PER_SERIES_FIELDS
        }
    configs = list(config)
    if len(configs) != n_series:
        raise ValueError(f"got {len(configs)} configs for {n_series} series")
    if not configs:
        return preset("medium"), {name: np.zeros(0) for name in PER_SERIES_FIELDS}
    shared = configs[0]
    for index, other in enumerate(configs[1:], start=1):
        for name in SHARED_FIELDS:
            if getattr(other, name) != getattr(shared, name):
                raise ValueError(
                    f"config of series {index} differs in {name}: per-series configs may only "
                    f"change {', '.join(PER_SERIES_FIELDS)}"
                )
    thresholds = {
        name: np.array([getattr(c, name) for c in configs], dtype=float)
        for name in PER_SERIES_FIELDS
    }
    return shared, thresholds


def _validated_values(batch: SeriesBatch) -> np.ndarray:
    values = np.asarray(batch.values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (series, days), got shape {values.shape}")
    n = values.shape[0]
    for name in ("series_ids", "metrics", "groups"):
        if len(getattr(batch, name)) != n:
            raise ValueError(f"{name} has {len(getattr(batch, name))} entries for {n} series")
    bad = np.isinf(values) | (values < 0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"series {batch.series_ids[i]!r} on {batch.day(j)}: value {values[i, j]} is not a "
            "finite non-negative number (use NaN for a missing day)"
        )
    return values.copy()


def _apply_hints(values: np.ndarray, hints: SeriesHints | None) -> np.ndarray:
    if hints is None:
        return values
    n, t = values.shape
    if hints.exclude is not None:
        exclude = np.asarray(hints.exclude, dtype=bool)
        if exclude.shape[0] != n or exclude.shape[1] < t:
            raise ValueError(f"hints.exclude must have shape ({n}, >= {t}), got {exclude.shape}")
        values[exclude[:, :t]] = np.nan
    if hints.rebaseline_from is not None:
        starts = np.asarray(hints.rebaseline_from)
        if starts.shape != (n,):
            raise ValueError(f"hints.rebaseline_from must have shape ({n},), got {starts.shape}")
        values[np.arange(t)[None, :] < starts[:, None]] = np.nan
    return values


def _evidence(hints: SeriesHints | None, n: int) -> np.ndarray:
    if hints is None or hints.evidence is None:
        return np.ones((n, 2))
    evidence = np.asarray(hints.evidence, dtype=float)
    if evidence.shape != (n, 2) or not np.all(evidence >= 1):
        raise ValueError(f"hints.evidence must be ({n}, 2) factors >= 1")
    return evidence


# --- the replay ------------------------------------------------------------------------------


class _Replay:
    def __init__(self, batch, values, cfg: DetectionConfig, thresholds, evidence, *, backtest):
        self.batch, self.cfg = batch, cfg
        self.n, self.T = values.shape
        self.L = cfg.window_days
        self.op = stl_operator(self.L)
        self.t0 = 0 if backtest else max(0, self.T - cfg.replay_days)
        n, T, L = self.n, self.T, self.L

        # The day loop reads and writes one day of every series at a time, so the arrays it
        # touches are day-major (days, series): each day is one contiguous row. The `.T` views
        # serve the per-series work (findings, the first window).
        self.x = values
        self.xt = np.ascontiguousarray(values.T)
        with np.errstate(invalid="ignore"):
            self.yt = np.log1p(self.xt)
        self.y = self.yt.T
        self.obst = ~np.isnan(self.xt)
        self.obs = self.obst.T
        # Observed days strictly before each day: history length for cold start.
        self.histt = np.concatenate(
            [np.zeros((1, n), dtype=np.int32), np.cumsum(self.obst, axis=0, dtype=np.int32)]
        )
        start_dow = batch.start.weekday()
        self.dow = (start_dow + np.arange(-L, T)) % WEEK  # padded coordinates
        self.holiday = holiday_mask(cfg.holiday_country, batch.start, T)
        self.is_feature = np.array([m.startswith("feature:") for m in batch.metrics])

        # Per-series thresholds (a dismissed-history factor raises the evidence needed).
        self.z_neg = thresholds["z_threshold"] * evidence[:, 0]
        self.z_pos = thresholds["z_threshold"] * evidence[:, 1]
        self.drop = -thresholds["drop_percent"] / 100.0
        self.spike = thresholds["spike_percent"] / 100.0
        self.dur_neg = np.ceil(thresholds["min_duration_days"] * evidence[:, 0])
        self.dur_pos = np.ceil(thresholds["min_duration_days"] * evidence[:, 1])
        self.min_volume = thresholds["min_volume"]
        self.z_base = thresholds["z_threshold"]

        # Clean history in padded coordinates: day d lives at row d + L.
        self.clean = np.full((L + T, n), np.nan)
        self.clean[L : L + self.t0] = self.yt[: self.t0]  # the replay writes the rest
        self.genuine = np.zeros((L + T, n), dtype=bool)
        self.genuine[L : L + self.t0] = self.obst[: self.t0]
        self.level = np.full((L + T, n), np.nan)

        # What each replayed day decided, for the findings (replay coordinates r = t - t0).
        R = T - self.t0
        self.forecast = np.full((R, n), np.nan)
        self.sigma = np.full((R, n), np.nan)
        self.z = np.zeros((R, n), dtype=np.float32)
        self.flag = np.zeros((R, n), dtype=np.int8)
        self.seasonal_flag = np.zeros((R, n), dtype=bool)
        self.excused = np.zeros((R, n), dtype=bool)
        self.outage_days: list[tuple[int, float, int]] = []

        # Event state.
        self.active = np.zeros(n, dtype=bool)
        self.run_sign = np.zeros(n, dtype=np.int8)
        self.run_start = np.zeros(n, dtype=np.int64)
        self.run_last = np.zeros(n, dtype=np.int64)
        self.run_count = np.zeros(n, dtype=np.int64)
        self.quiet = np.zeros(n, dtype=np.int64)
        self.reported = np.zeros(n, dtype=bool)
        self.detected = np.zeros(n, dtype=np.int64)
        self.level_cooldown = np.full(n, -(10**9), dtype=np.int64)
        self.events: list[_Event] = []
        self.weekly_events: dict[int, _Event] = {}
        # Series whose baseline was rewritten (a rebaseline) get their spread re-estimated at
        # the next step; the others keep the weekly schedule, so no series depends on another.
        self.refresh_rows = np.zeros(n, dtype=bool)
        self.res_sigma = np.zeros(n)
        self.res_count = np.zeros(n, dtype=np.int64)
        self.fence_lo = np.zeros(n)
        self.fence_hi = np.zeros(n)

        self.yearly = self._last_year_residuals()
        # A scan's first window is cleaned as a whole; a backtest tames each series' first
        # days once it has enough of them.
        self.tamed = np.full(n, self.t0 > 0)
        if self.t0 > 0:
            self._preclean()

    # -- setup --

    def _preclean(self):
        """Make a scan's first window trustworthy: fill its gaps and clip its outliers against
        a plain weekly fit (the replay cleans every later day itself)."""
        L, t0 = self.L, self.t0
        window = self.clean[t0 : t0 + L].T  # a view: writing it cleans the history
        fit = self._seasonal_fill(window, t0, level=self._settled_level(window, t0))
        resid = window - fit
        sigma = MAD_TO_SIGMA * _nanmedian_rows(np.abs(resid - _nanmedian_rows(resid)[:, None]))
        sigma = np.maximum(np.nan_to_num(sigma, nan=0.0), MIN_SIGMA)
        outlier = np.abs(resid) > PRECLEAN_Z * sigma[:, None]
        replace = (np.isnan(window) | outlier) & ~np.isnan(fit)
        window[replace] = fit[replace]
        genuine = self.genuine[t0 : t0 + L].T
        genuine &= ~outlier
        # The level each of these days would have seen (mean of the 14 deseasonalized days
        # before it), for the gradual-change test's look back.
        deseasonalized = window - window @ self.op.seasonal.T
        span = 2 * WEEK
        sums = np.cumsum(deseasonalized, axis=1)
        rolling = (
            sums[:, span - 1 : -1]
            - np.concatenate([np.zeros((self.n, 1)), sums[:, : -span - 1]], axis=1)
        ) / span
        self.level[t0 + span : t0 + L] = rolling.T

    def _tame_first_days(self, t: int):
        """A series' first days enter the baseline raw (there is nothing to judge them by).
        When it has `min_points` of them, days more than FIRST_DAYS_FACTOR off their median
        are pulled to it: a one-off import on day one must not make that weekday busy for
        the next three months."""
        rows = np.flatnonzero(~self.tamed & (self.histt[t] >= self.cfg.min_points))
        if not rows.size:
            return
        self.tamed[rows] = True
        window = self.clean[t : t + self.L, rows]
        center = _nanmedian_rows(window.T)
        bound = np.log(FIRST_DAYS_FACTOR)
        with np.errstate(invalid="ignore"):
            tamed = np.clip(window, center - bound, center + bound)
        self.clean[t : t + self.L, rows] = np.where(np.isnan(window), window, tamed)

    def _settled_level(self, window: np.ndarray, t: int) -> np.ndarray:
        """The level a scan's first window settled on: the window's median, unless the last
        `pattern_horizon_days` sat mostly (three quarters) on one side of it by more than the
        drop threshold, in which case that shift outlived the horizon and is the baseline, as
        a day-by-day replay would have made it. (A drop in the last days of the window is
        just an outlier to clip.)"""
        horizon = self.cfg.pattern_horizon_days
        # Judged on deseasonalized days: a weekend is not a drop.
        window = window - self._weekday_profile(window, t)
        overall = _nanmedian_rows(window)
        recent = window[:, -horizon:]
        recent_level = _nanmedian_rows(recent)
        with np.errstate(invalid="ignore"):
            shift = recent_level - overall
            off = np.abs(recent - overall[:, None]) > np.abs(np.log1p(self.drop))[:, None]
            side = np.sign(recent - overall[:, None]) == np.sign(shift)[:, None]
            share = np.sum(off & side, axis=1) / np.maximum(np.sum(~np.isnan(recent), axis=1), 1)
        shifted = (np.abs(shift) > np.abs(np.log1p(self.drop))) & (share >= 0.75)
        return np.where(shifted, recent_level, overall)

    def _seasonal_fill(
        self, window: np.ndarray, t: int, level: np.ndarray | None = None
    ) -> np.ndarray:
        """A plain robust weekly fit of each window row (a level, by default the last two
        weeks', plus a weekday profile once every weekday was seen twice), to fill gaps."""
        if level is None:
            recent = _nanmedian_rows(window[:, -2 * WEEK :])
            level = np.where(np.isnan(recent), _nanmedian_rows(window), recent)
        return level[:, None] + self._weekday_profile(window, t)

    def _weekday_profile(self, window: np.ndarray, t: int) -> np.ndarray:
        """Each window day's weekday effect (median of that weekday minus the window's
        median), shaped like the window. Seen once, a weekday has no effect yet; seen twice,
        only what both days agree on (the smaller effect if both go the same way, else none),
        so one odd first Monday does not make Mondays busy."""
        dow = self.dow[t : t + self.L]
        overall = _nanmedian_rows(window)
        profile = np.zeros((window.shape[0], WEEK))
        for k in range(WEEK):
            cols = window[:, dow == k] - overall[:, None]
            counts = np.sum(~np.isnan(cols), axis=1)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
                low, high = np.nanmin(cols, axis=1), np.nanmax(cols, axis=1)
                agreed = np.where(low > 0, low, np.where(high < 0, high, 0.0))
                effect = np.where(counts >= 3, _nanmedian_rows(cols), agreed)
            profile[:, k] = np.where(counts >= 2, np.nan_to_num(effect), 0.0)
        return profile[:, dow]

    def _last_year_residuals(self):
        """How unusual each day of last year was against its same-weekday neighbours, as a
        centred week's median, for the days a replay looks back at; None under a year."""
        lo, hi = self.t0 - YEAR, self.T - YEAR
        if hi <= 0:
            return None
        cols = np.arange(lo - YEAR_SMOOTH, hi + YEAR_SMOOTH)
        inside = (cols >= 0) & (cols < self.T)
        neighbours = np.full((len(_NEIGHBOUR_WEEKS), self.n, len(cols)), np.nan)
        for k, shift in enumerate(_NEIGHBOUR_WEEKS):
            src = cols + shift
            ok = inside & (src >= 0) & (src < self.T)
            neighbours[k][:, ok] = self.y[:, src[ok]]
        resid = np.full((self.n, len(cols)), np.nan)
        resid[:, inside] = self.y[:, cols[inside]]
        resid -= _nanmedian_axis0(neighbours)
        week = np.stack([resid[:, k : k + hi - lo] for k in range(2 * YEAR_SMOOTH + 1)])
        return lo, np.ascontiguousarray(_nanmedian_axis0(week).T)

    # -- the day loop --

    def run(self):
        # NaN days in the first window but its last one (each step adds its newest day).
        self.gap_count = np.isnan(self.clean[self.t0 : self.t0 + self.L - 1]).sum(axis=0)
        for t in range(self.t0, self.T):
            self._step(t)
        self._close(np.flatnonzero(self.active), end=None)

    def _step(self, t: int):
        cfg, L, op = self.cfg, self.L, self.op
        r = t - self.t0
        self._tame_first_days(t)
        window = self.clean[t : t + L]  # (days, series)
        # Gaps are rare after the first window: keep a running count per series instead of
        # scanning the whole window every day.
        self.gap_count += np.isnan(window[-1])
        gaps = np.flatnonzero(self.gap_count > 0)
        if gaps.size:
            window = window.copy()
            sub = window[:, gaps].T
            fit = self._seasonal_fill(sub, t)
            missing = np.isnan(sub)
            sub[missing] = fit[missing]
            window[:, gaps] = np.nan_to_num(sub).T

        f = op.forecast @ window
        level = op.level @ window
        if r % cfg.scale_refresh_days == 0:
            self._refresh_scale(window, t, slice(None))
        elif self.refresh_rows.any():
            self._refresh_scale(window, t, np.flatnonzero(self.refresh_rows))
        self.refresh_rows[:] = False

        expected = np.expm1(f)
        poisson = np.sqrt(np.maximum(expected, 0)) / (1 + np.maximum(expected, 0))
        sigma = np.maximum.reduce(
            [self.res_sigma * op.forecast_inflation, poisson, np.full(self.n, MIN_SIGMA)]
        )
        y, x, ob = self.yt[t], self.xt[t], self.obst[t]
        e = np.where(ob, y - f, 0.0)
        z = e / sigma
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(expected > 0, x / expected - 1.0, 0.0)
        hist = self.histt[t]
        decidable = (hist >= cfg.min_points) & (self.res_count >= cfg.min_points)
        mature = hist >= cfg.min_history_days
        cold = np.where(mature, 1.0, cfg.cold_start_z_factor)
        eligible = ob & decidable & (expected >= self.min_volume)

        neg = eligible & (z <= -self.z_neg * cold) & (change <= self.drop) & (e < self.fence_lo)
        pos = eligible & (z >= self.z_pos * cold) & (change >= self.spike) & (e > self.fence_hi)
        excused = np.zeros(self.n, dtype=bool)

        # Holidays: nobody chose them, so a drop on one is damped (kept out of the baseline
        # too, so the next days are not compared with a holiday).
        if self.holiday[t]:
            excused |= neg | (ob & (e < 0) & decidable)
            neg[:] = False

        seasonal = np.zeros(self.n, dtype=bool)
        if self.yearly is not None and t >= YEAR:
            explained_neg, explained_pos, seasonal = self._yearly_check(t, e, sigma, neg, pos)
            excused |= explained_neg | explained_pos
            neg &= ~explained_neg
            pos &= ~explained_pos

        # Portfolio guard: many series moving together on one day is the data pipeline or the
        # calendar, not hundreds of customers deciding the same thing.
        base = eligible & mature
        n_base = int(base.sum())
        if n_base >= cfg.outage_min_series:
            for flags in (neg, pos):
                hit = int((flags & base).sum())
                if hit >= cfg.outage_share * n_base:
                    self.outage_days.append((t, hit / n_base, hit))
                    excused |= flags
                    flags[:] = False

        normal = ob & ~neg & ~pos & ~excused
        # A normal day enters the baseline clipped to HUBER_CLIP sigmas: a lone burst that was
        # not an event must not teach the weekly profile that Mondays are busy (what STL's
        # robustness weights would do). Persistent moves still get through: slowly via the
        # clipped values and the level test, at once past the horizon.
        clipped = f + np.clip(e, -HUBER_CLIP * sigma, HUBER_CLIP * sigma)
        kept = np.where(decidable, clipped, y)
        self.clean[t + L] = np.where(normal, kept, np.where(decidable, f, np.nan))
        # Day t - L leaves the window, day t enters it at the next step (counted there).
        self.gap_count -= np.isnan(self.clean[t])
        self.genuine[t + L] = normal
        self.level[t + L] = level

        self.forecast[r] = f
        self.sigma[r] = sigma
        self.z[r] = z
        sign = neg.astype(np.int8) * -1 + pos.astype(np.int8)
        self.flag[r] = sign
        self.seasonal_flag[r] = seasonal & (sign != 0)
        self.excused[r] = excused

        # Missing and excused days neither extend nor end an event.
        self._advance_events(t, sign, ob & ~excused)
        self._level_check(t, level, decidable & mature)
        self._weekly_check(t, e)

    def _refresh_scale(self, window: np.ndarray, t: int, rows):
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

    def _yearly_check(self, t, e, sigma, neg, pos):
        """Did last year's same period move the same way? Then it is a recurring pattern (a
        season, an annual shutdown), not an anomaly, unless it is now more than twice as
        deep, which is a seasonal deviation."""
        lo, resid = self.yearly
        past = np.nan_to_num(resid[t - YEAR - lo], nan=0.0)
        bar = self.z_base * sigma
        recurring_dip = past <= -bar
        recurring_peak = past >= bar
        explained_neg = neg & recurring_dip & (e >= 2 * past)
        explained_pos = pos & recurring_peak & (e <= 2 * past)
        seasonal = (neg & recurring_dip & ~explained_neg) | (pos & recurring_peak & ~explained_pos)
        return explained_neg, explained_pos, seasonal

    def _advance_events(self, t: int, sign: np.ndarray, counted: np.ndarray):
        cfg = self.cfg
        flagged = sign != 0
        same = self.active & flagged & (sign == self.run_sign)
        flip = self.active & flagged & (sign == -self.run_sign)
        calm = self.active & ~flagged & counted

        self.run_count[same] += 1
        self.run_last[same] = t
        self.quiet[same] = 0

        self.quiet[calm] += 1
        ended = calm & (self.quiet >= cfg.recovery_days)
        self._close(np.flatnonzero(ended | flip), end="last")

        opening = flagged & ~self.active
        self.active[opening] = True
        self.run_sign[opening] = sign[opening]
        self.run_start[opening] = t
        self.run_last[opening] = t
        self.run_count[opening] = 1
        self.quiet[opening] = 0
        self.reported[opening] = False

        need = np.where(self.run_sign < 0, self.dur_neg, self.dur_pos)
        newly = self.active & ~self.reported & (self.run_count >= need)
        self.reported[newly] = True
        self.detected[newly] = t

        # Past the horizon a persisting shift is the account's new normal: say so once, then
        # let its days into the baseline. An abandoned feature stays an abandonment instead.
        long = self.active & self.reported & (t - self.run_start + 1 >= cfg.pattern_horizon_days)
        for row in np.flatnonzero(long):
            if self._abandoned(row, self.run_start[row], t):
                continue
            self.events.append(
                _Event(
                    int(row),
                    "run",
                    int(self.run_sign[row]),
                    int(self.run_start[row]),
                    t,
                    int(self.detected[row]),
                )
            )
            self.events.append(
                _Event(int(row), "pattern", int(self.run_sign[row]), int(self.run_start[row]), t, t)
            )
            self._rebaseline(row, int(self.run_start[row]), t)
            self.active[row] = False

    def _close(self, rows: np.ndarray, *, end):
        for row in rows:
            start = int(self.run_start[row])
            if (
                not self.reported[row]
                and end is not None
                and self.histt[start, row] < self.cfg.min_history_days
            ):
                self._release(int(row), start, int(self.run_last[row]))
            if self.reported[row]:
                self.events.append(
                    _Event(
                        int(row),
                        "run",
                        int(self.run_sign[row]),
                        int(self.run_start[row]),
                        None if end is None else int(self.run_last[row]),
                        int(self.detected[row]),
                    )
                )
        self.active[rows] = False

    def _release(self, row: int, start: int, last: int):
        """During cold start a run that ended before it became an event was most likely a
        weekday the profile had not learned yet: its days join the baseline as normal days
        do, Huber-clipped, instead of staying imputed. (Once the profile is settled, a lone
        odd weekday stays out of it; three in a row are a weekly pattern change.)"""
        r0, r1 = start - self.t0, last - self.t0 + 1
        raw = self.yt[start : last + 1, row]
        f = self.forecast[r0:r1, row]
        bound = HUBER_CLIP * self.sigma[r0:r1, row]
        flagged = self.flag[r0:r1, row] != 0
        kept = f + np.clip(raw - f, -bound, bound)
        days = np.arange(start, last + 1)[flagged & ~np.isnan(raw)] + self.L
        self.clean[days, row] = kept[flagged & ~np.isnan(raw)]
        self.genuine[days, row] = True

    def _rebaseline(self, row: int, start: int, t: int):
        L = self.L
        days = slice(start + L, t + L + 1)
        raw = self.yt[start : t + 1, row]
        self.clean[days, row] = np.where(np.isnan(raw), self.clean[days, row], raw)
        self.genuine[days, row] = ~np.isnan(raw)
        self.level_cooldown[row] = t
        self.refresh_rows[row] = True

    def _abandoned(self, row: int, start: int, end: int) -> bool:
        if not self.is_feature[row] or self.run_sign[row] >= 0:
            return False
        r0, r1 = start - self.t0, end - self.t0 + 1
        days = self.flag[r0:r1, row] < 0
        if days.sum() < self.cfg.abandonment_min_days:
            return False
        actual = np.nanmean(self.x[row, start : end + 1][days])
        baseline = np.mean(np.expm1(self.forecast[r0:r1, row][days]))
        return baseline > 0 and actual / baseline <= self.cfg.abandonment_ratio

    def _level_check(self, t: int, level: np.ndarray, ready: np.ndarray):
        """Slow shifts (a gradual decline, creeping growth) never trip the daily test because
        the baseline follows them; compare the level now (the last two weeks' deseasonalized
        mean) with the level `level_lookback_days` ago."""
        G, L = self.cfg.level_lookback_days, self.L
        ref = self.level[t + L - G]
        week_ago = self.level[t + L - WEEK]
        with np.errstate(invalid="ignore"):
            d = level - ref
            # Noise of a difference of two levels (each a mean of noisy deseasonalized days).
            noise = self.res_sigma * np.sqrt(2.0) * self.op.level_noise
            bar = self.z_base * np.maximum(noise, MIN_SIGMA)
            ok = ready & ~self.active & (t - self.level_cooldown >= G) & ~np.isnan(ref)
            # The reference must itself come from a settled history, not a cold start.
            ok &= self.histt[max(t - G, 0)] >= self.cfg.min_history_days
            ok &= np.expm1(ref) >= LEVEL_VOLUME_FACTOR * self.min_volume
            down = ok & (d <= np.log1p(self.drop)) & (d <= -bar) & (week_ago - ref <= d / 2)
            up = ok & (d >= np.log1p(self.spike)) & (d >= bar) & (week_ago - ref >= d / 2)
        for row in np.flatnonzero(down | up):
            path = self.level[t + L - G : t + L + 1, row] - ref[row]
            moved = np.flatnonzero(np.abs(path) >= abs(d[row]) / 4)
            # A level is the mean of the 14 days before it: it moves about a week after the
            # days do.
            start = t - G + int(moved[0]) - WEEK if moved.size else t - G
            self.events.append(
                _Event(
                    int(row),
                    "pattern",
                    -1 if d[row] < 0 else 1,
                    max(start, self.t0),
                    t,
                    t,
                    level_from=float(ref[row]),
                    level_to=float(level[row]),
                    level_sd=float(bar[row] / self.z_base[row]),
                )
            )
            self.level_cooldown[row] = t

    def _weekly_check(self, t: int, e: np.ndarray):
        """A changed weekly profile (weekends now busy, a new day off): the same weekday
        flagged the same way three weeks running while the other days stay mostly normal.
        Once seen, that weekday's baseline history is shifted to the new level, so the new
        habit is the baseline from then on (a level shift is the horizon's business)."""
        r = t - self.t0
        weeks = WEEKLY_CHANGE_WEEKS
        span = WEEK * (weeks + 1)  # one spare week in case a holiday took one of them
        if r < WEEK * weeks - 1:
            return
        # A habit changes on a settled profile: four weeks of history before the weeks judged.
        settled = self.histt[max(t - span + 1, 0)] >= self.cfg.min_history_days
        if not (settled & (self.flag[r] != 0)).any():
            return
        flags = np.zeros((span, self.n), dtype=np.int8)
        excused = np.zeros((span, self.n), dtype=bool)
        lo = max(r - span + 1, 0)
        flags[span - (r + 1 - lo) :] = self.flag[lo : r + 1]
        excused[span - (r + 1 - lo) :] = self.excused[lo : r + 1]
        flags = flags.reshape(weeks + 1, WEEK, self.n)
        excused = excused.reshape(weeks + 1, WEEK, self.n)
        # Per weekday, walk back from this week over the days that count (holidays and
        # outages neither confirm nor break the streak): the last `weeks` of them must all be
        # flagged the same way.
        seen = np.zeros((WEEK, self.n), dtype=np.int64)
        sign = np.zeros((WEEK, self.n), dtype=np.int8)
        streak = np.ones((WEEK, self.n), dtype=bool)
        for week in range(weeks, -1, -1):
            counts = ~excused[week] & (seen < weeks)
            sign = np.where(counts & (seen == 0), flags[week], sign)
            streak &= ~counts | ((flags[week] == sign) & (sign != 0))
            seen += counts
        changed = streak & (seen >= weeks)  # (WEEK, n); row 6 is today's weekday
        # A change is confirmed by a day that shows it: today must itself be flagged. (A
        # holiday or outage today does not count, and judging on it would make a series'
        # result depend on whether another series of the batch was flagged today.)
        today = changed[-1] & settled & (self.flag[r] != 0)
        if not today.any():
            return
        n_changed = changed.sum(axis=0)
        recent = flags[1:].reshape(weeks * WEEK, self.n)
        others = (recent != 0).sum(axis=0) - weeks * n_changed
        rows = np.flatnonzero(
            today & (n_changed <= MAX_CHANGED_WEEKDAYS) & (others <= weeks * WEEK // 4)
        )
        L = self.L
        for row in rows:
            previous = self.weekly_events.get(int(row))
            recent_change = previous is not None and t - previous.end < WEEK
            done = set(previous.weekdays.split(", ")) if recent_change else set()
            offsets = [
                k
                for k in np.flatnonzero(changed[:, row])  # positions in the week, 6 is today
                if self.batch.day(t - (WEEK - 1 - int(k))).strftime("%A") not in done
            ]
            if not offsets:
                continue
            names = []
            earliest = t
            for k in offsets:
                days = t - (WEEK - 1 - k) - WEEK * np.arange(weeks + 1)
                days = days[days >= self.t0]
                days = days[~self.excused[days - self.t0, row]][:weeks]
                earliest = min(earliest, int(days.min()))
                rr = days - self.t0
                raw = self.yt[days, row]
                shift = float(np.nanmean(raw - self.forecast[rr, row]))
                # Every same-weekday day of the window moves by the change, the last weeks'
                # flagged days take their real values.
                column = t + L - (WEEK - 1 - k) - WEEK * np.arange(L // WEEK)
                column = column[column >= 0]
                self.clean[column, row] += shift
                observed = ~np.isnan(raw)
                self.clean[days[observed] + L, row] = raw[observed]
                names.append(self.batch.day(int(days[0])).strftime("%A"))
            if self.active[row]:
                self._close(np.array([row]), end="last")
            self.refresh_rows[row] = True
            # A weekend changes one day after the other: within a week it is one change.
            if recent_change:
                previous.end = t
                previous.weekdays += ", " + ", ".join(names)
                continue
            event = _Event(
                int(row),
                "pattern",
                int(self.flag[r, row]),
                earliest,
                t,
                t,
                weekdays=", ".join(names),
            )
            self.events.append(event)
            self.weekly_events[int(row)] = event

    # -- results --

    def portfolio_events(self) -> list[PortfolioEvent]:
        events: list[PortfolioEvent] = []
        for t, share, count in self.outage_days:
            day = self.batch.day(t)
            if events and (day - events[-1].end).days <= 1:
                last = events[-1]
                events[-1] = PortfolioEvent(
                    last.start,
                    day,
                    max(last.affected_share, share),
                    max(last.series_affected, count),
                )
            else:
                events.append(PortfolioEvent(day, day, share, count))
        return events

    def findings(self) -> list[Finding]:
        if not self.events:
            return []
        groups: dict[str, list[int]] = {}
        for row, group in enumerate(self.batch.groups):
            groups.setdefault(group, []).append(row)
        self.group_rows = {g: np.array(rows) for g, rows in groups.items()}
        # Only the series with events and their account's other series are summarised; `col`
        # maps a series to its column in the summaries.
        event_rows = {ev.row for ev in self.events}
        needed = np.unique(
            np.concatenate([self.group_rows[self.batch.groups[r]] for r in event_rows])
        )
        self.col = np.full(self.n, -1)
        self.col[needed] = np.arange(len(needed))

        forecast, sigma = self.forecast[:, needed], self.sigma[:, needed]
        expected = np.expm1(forecast)
        x = self.xt[self.t0 :, needed]
        # Running sums over the replay let every event's means come from two lookups instead
        # of slicing and averaging per event. For the account's other metrics: actual and
        # expected usage over the days that count (holidays and outage days left out).
        counts = ~np.isnan(expected) & self.obst[self.t0 :, needed] & (expected > 0)
        counts &= ~self.excused[:, needed]
        self.sum_actual = _running_sum(np.where(counts, x, 0.0))
        self.sum_expected = _running_sum(np.where(counts, expected, 0.0))
        # For the event itself: its flagged days, per direction.
        z_base = self.z_base[needed]
        low = np.maximum(np.expm1(forecast - z_base * sigma), 0.0)
        high = np.expm1(forecast + z_base * sigma)
        flag, seasonal = self.flag[:, needed], self.seasonal_flag[:, needed]
        self.flag_sums = {}
        for sign in (-1, 1):
            mask = flag == sign
            self.flag_sums[sign] = {
                "days": _running_sum(mask.astype(float)),
                "expected": _running_sum(np.where(mask, expected, 0.0)),
                "actual": _running_sum(np.where(mask, x, 0.0)),
                "low": _running_sum(np.where(mask, low, 0.0)),
                "high": _running_sum(np.where(mask, high, 0.0)),
                "seasonal": _running_sum((mask & seasonal).astype(float)),
            }
        out = [self._finding(event) for event in self.events]
        out.sort(key=lambda f: (f.series_id, f.start, f.detected_at))
        return out

    def _finding(self, ev: _Event) -> Finding:
        batch, cfg, row = self.batch, self.cfg, ev.row
        last = ev.end if ev.end is not None else self.T - 1
        r0, r1 = ev.start - self.t0, last - self.t0 + 1
        z_thr = self.z_base[row]
        sums, col = self.flag_sums[ev.sign], self.col[row]
        flagged_days = int(sums["days"][r1, col] - sums["days"][r0, col])
        if ev.kind == "pattern" and not math.isnan(ev.level_from):
            # Levels are log1p means and can dip below zero on near-empty series.
            baseline = max(float(np.expm1(ev.level_from)), 0.0)
            actual = max(float(np.expm1(ev.level_to)), 0.0)
            low = max(float(np.expm1(ev.level_from - z_thr * ev.level_sd)), 0.0)
            high = float(np.expm1(ev.level_from + z_thr * ev.level_sd))
            score = abs(ev.level_to - ev.level_from) / max(ev.level_sd, MIN_SIGMA)
            seasonal_share = 0.0
            last_seen = last
        else:
            # A run starts on a flagged day, so it has at least one.
            n_days = max(flagged_days, 1)

            def mean(name):
                return float(sums[name][r1, col] - sums[name][r0, col]) / n_days

            baseline, actual = mean("expected"), mean("actual")
            low, high, seasonal_share = mean("low"), mean("high"), mean("seasonal")
            flagged = self.flag[r0:r1, row] == ev.sign
            score = float(np.max(np.abs(self.z[r0:r1, row]), where=flagged, initial=0.0))
            last_seen = ev.start + int(np.flatnonzero(flagged)[-1]) if flagged.any() else last
        deviation = (actual / baseline - 1.0) * 100.0 if baseline > 0 else 0.0
        first = max(0, last - self.L + 1)
        observed = self.histt[last + 1, row] - self.histt[first, row]
        completeness = float(observed) / (last + 1 - first)
        confidence = "low" if self.histt[ev.start, row] < cfg.min_history_days else "normal"

        metric = batch.metrics[row]
        kind = classify.anomaly_type(
            kind=ev.kind,
            sign=ev.sign,
            is_feature=bool(self.is_feature[row]),
            ratio=actual / baseline if baseline > 0 else 1.0,
            flagged_days=flagged_days,
            seasonal_share=seasonal_share,
            config=cfg,
        )
        siblings = self._sibling_changes(row, ev.start, last)
        return Finding(
            series_id=batch.series_ids[row],
            account=batch.groups[row],
            metric=metric,
            type=kind,
            severity=classify.severity(
                kind=kind,
                sign=ev.sign,
                metric=metric,
                change=deviation / 100.0,
                days=last_seen - ev.start + 1,
                baseline=baseline,
                min_volume=float(self.min_volume[row]),
            ),
            direction="negative" if ev.sign < 0 else "positive",
            start=batch.day(ev.start),
            end=None if ev.end is None else batch.day(ev.end),
            detected_at=batch.day(ev.detected),
            last_seen=batch.day(last_seen),
            baseline=baseline,
            actual=actual,
            deviation_percent=deviation,
            expected_low=low,
            expected_high=high,
            score=score,
            completeness=completeness,
            confidence=confidence,
            possible_cause=(
                f"Weekly pattern changed ({ev.weekdays}): new working days or a new routine"
                if ev.weekdays
                else classify.possible_cause(
                    kind=kind,
                    sign=ev.sign,
                    metric=metric,
                    siblings=siblings,
                    drop=float(-self.drop[row]),
                )
            ),
        )

    def _sibling_changes(self, row: int, start: int, end: int) -> dict[str, float | None]:
        """Mean relative change of each other series of the account against its own forecast
        over an event's days (None where no day counts)."""
        rows = self.group_rows[self.batch.groups[row]]
        rows = rows[rows != row]
        r0, r1 = max(start - self.t0, 0), end - self.t0 + 1
        cols = self.col[rows]
        actual = self.sum_actual[r1, cols] - self.sum_actual[r0, cols]
        expected = self.sum_expected[r1, cols] - self.sum_expected[r0, cols]
        return {
            self.batch.metrics[other]: (float(a / e - 1.0) if e > 0 else None)
            for other, a, e in zip(rows.tolist(), actual.tolist(), expected.tolist(), strict=True)
        }


def _running_sum(values: np.ndarray) -> np.ndarray:
    """Sums along the day axis with a zero row first: days [a, b) sum to s[b] - s[a]."""
    return np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])


def _nanmedian_rows(values: np.ndarray) -> np.ndarray:
    return row_quantiles(values, (0.5,))[0][0]


def _nanmedian_axis0(stack: np.ndarray) -> np.ndarray:
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


@dataclass(frozen=True)
class SeriesTrace:
    """What the replay expected of each day of one series: for charts and the API."""

    start: dt.date
    actual: np.ndarray
    expected: np.ndarray
    expected_low: np.ndarray
    expected_high: np.ndarray
    flagged: np.ndarray  # -1, 0 or +1 per day


def series_trace(
    values: Sequence[float] | np.ndarray,
    *,
    start: dt.date,
    metric: str = "series",
    config: DetectionConfig | None = None,
) -> SeriesTrace:
    """Replay one series day by day and return each day's expectation and band (NaN until the
    series has enough history). Same computation as `detect(..., backtest=True)`."""
    row = np.asarray([np.nan if v is None else v for v in values], dtype=float)[None, :]
    batch = SeriesBatch(row, start, (f"series/{metric}",), (metric,), ("series",))
    shared, thresholds = _resolve_configs(config, 1)
    checked = _validated_values(batch)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        replay = _Replay(batch, checked, shared, thresholds, np.ones((1, 2)), backtest=True)
        replay.run()
        f, s = replay.forecast[:, 0], replay.sigma[:, 0]
        z = thresholds["z_threshold"][0]
        decided = replay.histt[:-1, 0] >= shared.min_points
        expected = np.where(decided, np.expm1(f), np.nan)
        low = np.where(decided, np.maximum(np.expm1(f - z * s), 0.0), np.nan)
        high = np.where(decided, np.expm1(f + z * s), np.nan)
    return SeriesTrace(start, row[0], expected, low, high, replay.flag[:, 0].copy())
