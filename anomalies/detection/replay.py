"""The replay: a causal day-by-day pass over many series at once.

Every day t, for all series at once: the baseline forecasts the day and its spread
(baseline.py); the day is flagged or excused (flags.py); runs of flags become events
(events.py); slow level changes and changed weekly habits are looked for (patterns.py); the
day enters the history. The summaries (summaries.py) read the record of every day afterwards.

A backtest replays every day of the input; a scan replays the last `replay_days`, after
cleaning the window before them as a whole, so it reconstructs the events a daily run would
have found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .baseline import Baseline
from .calendar import holiday_masks
from .cohorts import CohortMove, Cohorts
from .coldstart import cold_start_prior, no_prior
from .config import DetectionConfig
from .events import EventTracker
from .flags import (
    Day,
    DayFlags,
    Thresholds,
    holiday_excuse,
    portfolio_guard,
    raw_flags,
    support_sign,
)
from .patterns import LevelCheck, SlowChangeInputs, TrendCheck, WeeklyCheck
from .stl_operator import WEEK, stl_operator
from .summaries import Summaries, cohort_events, portfolio_events
from .tails import TailEvidence
from .types import CohortEvent, Finding, PortfolioEvent, SeriesBatch
from .vocabulary import is_feature_metric
from .yearly import Yearly


@dataclass
class DayRecord:
    """What each replayed day decided, per series, in replay coordinates (r = t - t0)."""

    forecast: np.ndarray
    sigma: np.ndarray
    z: np.ndarray
    flag: np.ndarray  # -1, 0, +1
    support: np.ndarray  # -1, 0, +1: a supporting day (flags.SUPPORT_Z) of that sign
    seasonal: np.ndarray  # flagged although last year's same season moved the same way
    excused: np.ndarray  # a holiday, last year's season or an outage explained the day
    held: np.ndarray  # -1, 0, +1: a flag a public holiday excused (a drop that may start there)

    @classmethod
    def empty(cls, days: int, n: int) -> DayRecord:
        return cls(
            forecast=np.full((days, n), np.nan),
            sigma=np.full((days, n), np.nan),
            z=np.zeros((days, n), dtype=np.float32),
            flag=np.zeros((days, n), dtype=np.int8),
            support=np.zeros((days, n), dtype=np.int8),
            seasonal=np.zeros((days, n), dtype=bool),
            excused=np.zeros((days, n), dtype=bool),
            held=np.zeros((days, n), dtype=np.int8),
        )


class Replay:
    def __init__(
        self,
        batch: SeriesBatch,
        values: np.ndarray,
        cfg: DetectionConfig,
        bars: Thresholds,
        *,
        backtest: bool,
    ):
        self.batch, self.cfg, self.bars = batch, cfg, bars
        self.n, self.T = values.shape
        self.L = cfg.window_days
        self.op = stl_operator(self.L)
        self.t0 = 0 if backtest else max(0, self.T - cfg.replay_days)
        n, T, L = self.n, self.T, self.L

        # The `.T` views serve the per-series work (findings, the first window); the day loop
        # reads day-major arrays, one contiguous row per day.
        self.x = values
        self.xt = np.ascontiguousarray(values.T)
        with np.errstate(invalid="ignore"):
            self.yt = np.log1p(self.xt)
        self.y = self.yt.T
        self.obst = ~np.isnan(self.xt)
        # Observed days strictly before each day: history length for cold start.
        self.histt = np.concatenate(
            [np.zeros((1, n), dtype=np.int32), np.cumsum(self.obst, axis=0, dtype=np.int32)]
        )
        dow = (batch.start.weekday() + np.arange(-L, T)) % WEEK  # padded coordinates
        # Each series' own calendar: (days, series), or (days, 1) when all share one.
        self.holiday = holiday_masks(batch.countries, cfg.holiday_country, batch.start, T)
        self.is_feature = np.array([is_feature_metric(m) for m in batch.metrics])

        self.record = DayRecord.empty(T - self.t0, n)
        self.outage_days: list[tuple[int, float, int]] = []
        self.prior = (
            cold_start_prior(
                self.yt,
                first_weekday=batch.start.weekday(),
                metrics=batch.metrics,
                groups=batch.groups,
                cohorts=batch.cohorts,
                min_points=cfg.min_points,
                t0=self.t0,
            )
            if cfg.cohort_cold_start
            else no_prior(n, T)
        )
        # Days of history after which each series is mature (confidence normal, the
        # configured z bar): fewer for a series with a cold-start prior.
        self.mature_days = self.prior.mature_days(cfg.min_history_days)
        self.baseline = Baseline(
            yt=self.yt,
            obst=self.obst,
            t0=self.t0,
            cfg=cfg,
            op=self.op,
            dow=dow,
            drop=bars.drop,
            prior=self.prior,
        )
        self.cohorts = Cohorts(self.yt, batch.groups, batch.cohorts)
        self.yearly = Yearly(self.yt, self.cohorts.moves)
        slow_change = SlowChangeInputs(
            cfg=cfg,
            op=self.op,
            bars=bars,
            baseline=self.baseline,
            history=self.histt,
            t0=self.t0,
            yearly=self.yearly,
            cohorts=self.cohorts,
        )
        self.level_check = LevelCheck(n, slow_change)
        # No component refers back to the replay (a reference cycle would keep a chunk's
        # arrays alive until the garbage collector runs, and the next chunk would pay for
        # fresh memory).
        self.tracker = EventTracker(
            n,
            cfg=cfg,
            bars=bars,
            history=self.histt,
            mature_days=self.mature_days,
            edits=HistoryEdits(
                baseline=self.baseline,
                record=self.record,
                level_check=self.level_check,
                yt=self.yt,
                x=self.x,
                t0=self.t0,
                cfg=cfg,
                is_feature=self.is_feature,
            ),
        )
        self.trend_check = TrendCheck(slow_change)
        self.weekly_check = WeeklyCheck(
            batch=batch,
            cfg=cfg,
            t0=self.t0,
            yt=self.yt,
            histt=self.histt,
            record=self.record,
            baseline=self.baseline,
            tracker=self.tracker,
        )
        self.tails = TailEvidence(
            self.cohorts.moves,
            z=bars.z_base,
            drop=bars.drop,
            spike=bars.spike,
            min_duration=bars.min_duration,
        )
        self.cohort_moves: list[CohortMove] = []
        if self.t0 > 0:
            self.baseline.prior_weight = self.prior.weights(self.t0, self.histt[self.t0])
            self.baseline.preclean(self.t0)

    # -- the day loop --

    def run(self) -> None:
        self.baseline.start_gap_count(self.t0)
        for t in range(self.t0, self.T):
            self.step(t)
        self.tracker.close(np.flatnonzero(self.tracker.active), end=None)

    def step(self, t: int) -> None:
        cfg, op, base = self.cfg, self.op, self.baseline
        r = t - self.t0
        self.bars.apply(self.tails.at(t))
        base.prior_weight = self.prior.weights(t, self.histt[t])
        base.tame_first_days(t, self.histt[t])
        window = base.window(t)
        f = op.forecast @ window
        level = op.level @ window
        base.update_scale(window, t, r)

        expected = np.expm1(f)
        sigma = base.sigma(expected)
        y, x, ob = self.yt[t], self.xt[t], self.obst[t]
        e = np.where(ob, y - f, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(expected > 0, x / expected - 1.0, 0.0)
        hist = self.histt[t]
        day = Day(
            t=t,
            f=f,
            sigma=sigma,
            e=e,
            z=e / sigma,
            change=change,
            observed=ob,
            # A young series' borrowed spread stands in for residuals it does not have yet.
            decidable=(hist >= cfg.min_points)
            & ((base.res_count >= cfg.min_points) | (base.prior_weight > 0)),
            mature=hist >= self.mature_days,
        )
        flags = self._judge(day, expected)

        base.enter(
            t,
            f=f,
            e=e,
            y=y,
            sigma=sigma,
            normal=ob & flags.normal,
            decidable=day.decidable,
            level=level,
        )
        rec, sign = self.record, flags.sign
        rec.forecast[r] = f
        rec.sigma[r] = sigma
        rec.z[r] = day.z
        rec.flag[r] = sign
        rec.support[r] = flags.support
        rec.seasonal[r] = flags.seasonal & (sign != 0)
        rec.excused[r] = flags.excused
        rec.held[r] = flags.held

        # Missing and excused days neither extend nor end an event, nor do days too small to
        # judge (a weekday-only account's quiet weekend does not end its drop).
        judged = ob & ~flags.excused & flags.eligible
        self.tracker.advance(t, sign, judged, flags.support)
        ready = day.decidable & day.mature
        for event in self.trend_check.check(
            t,
            window,
            ready,
            self.tracker.active,
            self.tracker.last_report,
            self.level_check.cooldown,
        ):
            self.tracker.add(event)
            # The decline is known now: its days become the baseline, so the daily test
            # follows the slide instead of reporting it again as a drop when it goes on.
            self.tracker.edits.rebaseline(event.row, event.start, t)
        for event in self.level_check.check(
            t, level, ready, self.tracker.active, self.tracker.last_report
        ):
            self.tracker.add(event)
        self.weekly_check.check(t)

    def _judge(self, day: Day, expected: np.ndarray) -> DayFlags:
        fence_lo, fence_hi = self.baseline.fences()
        neg, pos, eligible = raw_flags(
            day,
            bars=self.bars,
            cfg=self.cfg,
            fence_lo=fence_lo,
            fence_hi=fence_hi,
            expected=expected,
        )
        excused = holiday_excuse(day, neg, self.holiday[day.t])
        # Flags a holiday or last year's same days excused: the first days of an event, if
        # the first ordinary day after them is flagged the same way (events.py).
        held = -(neg & excused).astype(np.int8)
        neg &= ~excused

        seasonal = np.zeros_like(neg)
        moves_today = self.cohorts.moves[day.t]
        for sign, flags, bar in ((-1, neg, self.bars.drop), (1, pos, self.bars.spike)):
            rows = np.flatnonzero(flags)
            size = np.abs(np.log1p(bar))
            recurring, deviation = self.yearly.days(day.t, moves_today, sign, rows, size)
            excused[rows[recurring]] = True
            flags[rows[recurring]] = False
            held[rows[recurring]] = sign
            seasonal[rows[deviation]] = True

        # A portfolio-wide move first (an outage, recorded once), then a cohort's.
        guarded, fired = portfolio_guard(
            neg, pos, eligible & day.mature, self.cohorts.account, self.cfg
        )
        for share, count in fired:
            self.outage_days.append((day.t, share, count))
        excused |= guarded
        neg &= ~guarded
        pos &= ~guarded

        on_holiday = np.broadcast_to(self.holiday[day.t], neg.shape)
        shared, moves = self.cohorts.guard(
            day.t, neg, pos, self.bars.drop, self.bars.spike, on_holiday
        )
        self.cohort_moves += moves
        excused |= shared
        neg &= ~shared
        pos &= ~shared
        support = support_sign(day, bars=self.bars, eligible=eligible)
        support[excused] = 0
        return DayFlags(
            neg=neg,
            pos=pos,
            excused=excused,
            seasonal=seasonal,
            support=support,
            eligible=eligible,
            held=held,
        )

    # -- results --

    def findings(self) -> list[Finding]:
        if not self.tracker.events:
            return []
        return Summaries(self).findings()

    def portfolio_events(self) -> list[PortfolioEvent]:
        return portfolio_events(self.batch, self.outage_days)

    def cohort_events(self) -> list[CohortEvent]:
        return cohort_events(self.batch, self.cohort_moves)


@dataclass
class HistoryEdits:
    """What closing and persisting runs do to the history (the event tracker's hooks)."""

    baseline: Baseline
    record: DayRecord
    level_check: LevelCheck
    yt: np.ndarray
    x: np.ndarray
    t0: int
    cfg: DetectionConfig
    is_feature: np.ndarray

    def release(self, row: int, start: int, last: int) -> None:
        """During cold start a run that ended before it became an event was most likely a
        weekday the profile had not learned yet: its days join the baseline as normal days
        do, Huber-clipped, instead of staying imputed. (Once the profile is settled, a lone
        odd weekday stays out of it; three in a row are a weekly pattern change.)"""
        r0, r1 = start - self.t0, last - self.t0 + 1
        flagged = self.record.flag[r0:r1, row] != 0
        days = np.arange(start, last + 1)[flagged]
        self.baseline.take_clipped(
            row,
            days,
            self.yt[start : last + 1, row][flagged],
            self.record.forecast[r0:r1, row][flagged],
            self.record.sigma[r0:r1, row][flagged],
        )

    def rebaseline(self, row: int, start: int, t: int) -> None:
        """A shift past the horizon is the new normal: its days become the history."""
        days = np.arange(start, t + 1)
        self.baseline.take_raw(row, days, self.yt[start : t + 1, row], genuine=True)
        self.level_check.cool_down(row, t)

    def held_start(self, row: int, start: int, sign: int) -> int:
        """The first of the days right before `start` that a holiday or last year's same
        days excused although they were flagged `sign` (a drop that began on Thanksgiving
        began on Thanksgiving), or `start` itself."""
        first = start
        while first - 1 >= self.t0 and self.record.held[first - 1 - self.t0, row] == sign:
            first -= 1
        return first

    def first_flag(self, row: int, start: int, t: int) -> int:
        """The first day from `start` to t that was flagged (not held)."""
        flagged = np.flatnonzero(self.record.flag[start - self.t0 : t - self.t0 + 1, row] != 0)
        return start + int(flagged[0]) if flagged.size else t

    def held_taken(self, row: int, first: int, start: int, sign: int) -> None:
        """The held days `first` .. `start` - 1 are an event's days now: its figures and its
        chart cover them."""
        self.record.flag[first - self.t0 : start - self.t0, row] = sign

    def abandoned(self, row: int, start: int, end: int, sign: int) -> bool:
        """A feature metric down to `abandonment_ratio` of its baseline on at least
        `abandonment_min_days` flagged days is abandoned (it stays an abandonment instead of
        becoming the new normal)."""
        if not self.is_feature[row] or sign >= 0:
            return False
        r0, r1 = start - self.t0, end - self.t0 + 1
        days = self.record.flag[r0:r1, row] < 0
        if days.sum() < self.cfg.abandonment_min_days:
            return False
        actual = np.nanmean(self.x[row, start : end + 1][days])
        baseline = np.mean(np.expm1(self.record.forecast[r0:r1, row][days]))
        return baseline > 0 and actual / baseline <= self.cfg.abandonment_ratio
