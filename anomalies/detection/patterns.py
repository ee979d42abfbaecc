"""Pattern checks: changes the daily test cannot see because the baseline follows them.

- `TrendCheck`: a gradual decline (slow churn), a sustained negative slope over three to six
  weeks, found while it is under way.
- `LevelCheck`: a slow level change (a decline the trend check missed, creeping growth)
  between the level now and `level_lookback_days` ago.
- `WeeklyCheck`: a changed weekly habit (weekends now busy, a new day off), the same weekday
  flagged the same way three weeks running.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .baseline import MIN_SIGMA, Baseline
from .cohorts import Cohorts
from .config import DetectionConfig
from .events import Event, EventTracker
from .flags import Thresholds
from .stl_operator import WEEK, StlOperator
from .yearly import Yearly

# The level test averages weekdays with weekends; on small counts the quiet weekend days
# carry Poisson noise far above the series' median spread, so it waits for more volume.
LEVEL_VOLUME_FACTOR = 3.0
# A level change is a sustained move, not the last days' drop (the daily test's business):
# at least this share of it must already show in the level a week ago.
LEVEL_SHOWN_A_WEEK_AGO = 0.5
# The change started when the level had first moved this share of the way.
LEVEL_START_SHARE = 0.25
# Windows (days, ending today) a gradual decline's slope is fitted over: three to six weeks,
# whole weeks so the weekly profile cancels.
TREND_WINDOWS = (21, 28, 42)
# A slow change (a trend or a level change) must also be past this many robust standard
# deviations of the series' own drift over its span (yearly.drift): where neighbouring days
# move together (weather, seasons), noise estimated from independent days understates how far
# a level wanders on its own.
DRIFT_Z = 2.5
# Days back the start of a decline is looked for (a "flat, then falling" fit).
TREND_START_SEARCH_DAYS = 56
# A decline is projected this many days ahead, at its current pace, for the CSM.
TREND_PROJECTION_DAYS = 28
# A decline is gradual, not a step, when its weekly means fell week after week: at least this
# share of the window's week-to-week changes are falls.
TREND_FALLING_WEEKS_SHARE = 0.65
# A weekday flagged the same way this many weeks running is a changed weekly habit, when at
# most MAX_CHANGED_WEEKDAYS weekdays changed and the rest of those weeks stayed mostly normal
# (at most OTHER_DAYS_FLAGGED_SHARE of their days flagged).
WEEKLY_CHANGE_WEEKS = 3
MAX_CHANGED_WEEKDAYS = 2
OTHER_DAYS_FLAGGED_SHARE = 0.25


@dataclass(frozen=True)
class SlowChangeInputs:
    """What the level and trend checks both judge a slow change by: the replay's settings,
    operator, evidence bars, baseline, history lengths, first day, and the yearly and cohort
    excuses."""

    cfg: DetectionConfig
    op: StlOperator
    bars: Thresholds
    baseline: Baseline
    history: np.ndarray
    t0: int
    yearly: Yearly
    cohorts: Cohorts


class _SlowChangeCheck:
    def __init__(self, inputs: SlowChangeInputs):
        self.cfg, self.op, self.bars = inputs.cfg, inputs.op, inputs.bars
        self.baseline, self.history, self.t0 = inputs.baseline, inputs.history, inputs.t0
        self.yearly, self.cohorts = inputs.yearly, inputs.cohorts


class LevelCheck(_SlowChangeCheck):
    def __init__(self, n: int, inputs: SlowChangeInputs):
        super().__init__(inputs)
        # The day of each series' last level event or rebaseline: the next level event waits
        # `level_lookback_days` after it (the look back would see the same change again).
        self.cooldown = np.full(n, -(10**9), dtype=np.int64)

    def cool_down(self, row: int, t: int) -> None:
        self.cooldown[row] = t

    def check(
        self,
        t: int,
        level: np.ndarray,
        ready: np.ndarray,
        active: np.ndarray,
        last_report: np.ndarray,
    ) -> list[Event]:
        """Compare the level now (the last two weeks' deseasonalized mean) with the level
        `level_lookback_days` ago, for series without an open run (`active`). A change of a
        direction reported within the look back (`last_report`, per direction) is not
        reported again: the level moved because of it."""
        cfg, bars = self.cfg, self.bars
        G, L = cfg.level_lookback_days, self.baseline.L
        ref = self.baseline.level[t + L - G]
        week_ago = self.baseline.level[t + L - WEEK]
        with np.errstate(invalid="ignore"):
            d = level - ref
            # Noise of a difference of two levels (each a mean of noisy deseasonalized days).
            noise = self.baseline.res_sigma * np.sqrt(2.0) * self.op.level_noise
            bar = bars.z_base * np.maximum(noise, MIN_SIGMA)
            ok = ready & ~active & (t - self.cooldown >= G) & ~np.isnan(ref)
            # The reference must itself come from a settled history, not a cold start.
            ok &= self.history[max(t - G, 0)] >= cfg.min_history_days
            ok &= np.expm1(ref) >= LEVEL_VOLUME_FACTOR * bars.min_volume
            shown = week_ago - ref
            recent_down = t - last_report[0] <= G
            recent_up = t - last_report[1] <= G
            down = (
                ok
                & ~recent_down
                & (d <= np.log1p(bars.drop))
                & (d <= -bar)
                & (shown <= LEVEL_SHOWN_A_WEEK_AGO * d)
            )
            up = (
                ok
                & ~recent_up
                & (d >= np.log1p(bars.spike))
                & (d >= bar)
                & (shown >= LEVEL_SHOWN_A_WEEK_AGO * d)
            )
        events = []
        rows = np.flatnonzero(down | up)
        if rows.size:
            # Past the series' own drift over the span, in the change's direction.
            drift = self.yearly.drift(t, G, rows)
            evidence = np.where(d[rows] < 0, bars.evidence[rows, 0], bars.evidence[rows, 1])
            with np.errstate(invalid="ignore"):
                wanders = np.abs(d[rows]) >= DRIFT_Z * evidence * drift
            rows = rows[wanders]
        if rows.size:
            # The same weeks of earlier years moved alike (an autumn decline, a spring ramp),
            # or the cohort did: a season or a regional trend, not this account's doing.
            sign = np.where(d[rows] < 0, -1.0, 1.0)
            bar = np.abs(np.where(d < 0, np.log1p(bars.drop), np.log1p(bars.spike)))
            recurring, _ = self.yearly.level_change(t, G, sign, rows, bar)
            shared = self.cohorts.shared_level_change(
                t,
                G,
                sign,
                rows,
                self.yearly.level,
                portfolio_share=cfg.outage_share,
                portfolio_min_accounts=cfg.outage_min_accounts,
            )
            rows = rows[~recurring & ~shared]
        for row in rows:
            path = self.baseline.level[t + L - G : t + L + 1, row] - ref[row]
            moved = np.flatnonzero(np.abs(path) >= LEVEL_START_SHARE * abs(d[row]))
            # A level is the mean of the 14 days before it: it moves about a week after the
            # days do.
            start = t - G + int(moved[0]) - WEEK if moved.size else t - G
            # A fall is a gradual decline to the CSM (classify.py): where it heads at the pace
            # it fell since it began, as the trend check projects its declines.
            pace = d[row] / max(t - start, WEEK)
            projected = level[row] + pace * TREND_PROJECTION_DAYS if d[row] < 0 else math.nan
            events.append(
                Event(
                    int(row),
                    "level",
                    -1 if d[row] < 0 else 1,
                    max(start, self.t0),
                    t,
                    t,
                    level_from=float(ref[row]),
                    level_to=float(level[row]),
                    level_sd=float(bar[row] / bars.z_base[row]),
                    projected=float(projected),
                )
            )
            self.cooldown[row] = t
        return events


def _trend_operators(op: StlOperator, windows) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """For each window W: (slope, end) row vectors that map an STL window (L days) to the
    least-squares slope (log per day) and fitted value on its last day of the deseasonalized
    last W days: linear, so a whole batch is one product."""
    L = op.length
    deseasonalize = np.eye(L) - op.seasonal
    out = {}
    for W in windows:
        tau = np.arange(W, dtype=float)
        centred = tau - tau.mean()
        slope = centred / np.sum(centred**2)
        end = np.full(W, 1.0 / W) + slope * (W - 1 - tau.mean())
        pad = np.zeros((2, L))
        pad[0, L - W :] = slope
        pad[1, L - W :] = end
        out[W] = (pad[0] @ deseasonalize, pad[1] @ deseasonalize)
    return out


class TrendCheck(_SlowChangeCheck):
    """A gradual decline while it is under way: over the last W days (TREND_WINDOWS), the
    least-squares slope of the deseasonalized clean history is down by at least the drop
    bar (`drop_percent`: a fall worth an alert is one, fast or slow) across the window, and
    by more than DRIFT_Z times the series' own drift over W days (yearly.drift); its
    t-statistic (the slope over its standard error from the series' own daily spread) is
    past the z bar, and the weekly means fell week after week (a step is the daily test's).
    Reported once, from the day the fall began (the best "flat, then falling" fit), with the
    decline so far and the level it would reach in TREND_PROJECTION_DAYS at its pace."""

    def __init__(self, inputs: SlowChangeInputs):
        super().__init__(inputs)
        self.operators = _trend_operators(inputs.op, TREND_WINDOWS)

    def check(
        self,
        t: int,
        window: np.ndarray,
        ready: np.ndarray,
        active: np.ndarray,
        last_report: np.ndarray,
        cooldown: np.ndarray,
    ) -> list[Event]:
        bars = self.bars
        sigma = np.maximum(self.baseline.res_sigma * self.op.forecast_inflation, MIN_SIGMA)
        shortest = min(TREND_WINDOWS)
        # Not within a window of a decline already reported or of rewritten history (a
        # rebaseline): the slope would be that change again.
        candidates = (
            ready
            & ~active
            & (t - last_report[0] > shortest)
            & (t - cooldown > shortest)
            & (self.history[max(t - shortest, 0)] >= self.cfg.min_history_days)
        )
        if not candidates.any():
            return []
        found = np.zeros(window.shape[1], dtype=bool)
        fired_w = np.zeros(window.shape[1], dtype=np.int64)
        for W in TREND_WINDOWS:
            slope_op, _ = self.operators[W]
            slope = slope_op @ window
            se = sigma / np.sqrt(W * (W * W - 1) / 12.0)
            z_bar = bars.z_neg * bars.evidence[:, 0]
            with np.errstate(invalid="ignore", divide="ignore"):
                z = slope / se
                decline = slope * (W - 1)
            # A decline from a level worth alerting on (as the level test asks), in a window
            # clear of earlier reports and rebaselines.
            start_level = np.expm1(self.baseline.level[t + self.baseline.L - W])
            falling = (
                candidates
                & ~found
                & (t - last_report[0] > W)
                & (t - cooldown > W)
                & (start_level >= LEVEL_VOLUME_FACTOR * bars.min_volume)
                & (decline <= np.log1p(bars.drop))
                & (z <= -z_bar)
            )
            rows = np.flatnonzero(falling)
            if rows.size:
                # The series' own drift over W days, weather and seasons and all: days next
                # to each other move together, which the slope's standard error (from
                # independent days) does not know. (Only for the few series still in.)
                drift = self.yearly.drift(t, W, rows)
                with np.errstate(invalid="ignore"):
                    wanders = decline[rows] <= -DRIFT_Z * bars.evidence[rows, 0] * drift
                falling[rows[~wanders]] = False
            rows = np.array(
                [r for r in np.flatnonzero(falling) if self._week_after_week(window[-W:, r], W)],
                dtype=np.int64,
            )
            if not rows.size:
                continue
            # Earlier years' same weeks fell alike, or the cohort did: a season or a
            # regional trend, not this account's doing.
            sign = np.full(rows.size, -1.0)
            bar = np.abs(np.log1p(bars.drop))
            recurring, _ = self.yearly.level_change(t, W, sign, rows, bar)
            shared = self.cohorts.shared_level_change(
                t,
                W,
                sign,
                rows,
                self.yearly.level,
                portfolio_share=self.cfg.outage_share,
                portfolio_min_accounts=self.cfg.outage_min_accounts,
            )
            found[rows] = True  # judged at this window, reported or excused
            fired_w[rows[~recurring & ~shared]] = W
        return [self._event(t, int(row), window[:, row]) for row in np.flatnonzero(fired_w)]

    def _week_after_week(self, days: np.ndarray, W: int) -> bool:
        weekly = days.reshape(W // WEEK, WEEK).mean(axis=1)
        falls = np.diff(weekly) < 0
        return bool(falls.mean() >= TREND_FALLING_WEEKS_SHARE)

    def _event(self, t: int, row: int, window: np.ndarray) -> Event:
        """Where the fall began: the "flat until k, then a straight fall" fit with the least
        squared error over the last TREND_START_SEARCH_DAYS deseasonalized days."""
        L = self.baseline.L
        deseasonalized = window - self.op.seasonal @ window
        span = min(TREND_START_SEARCH_DAYS, L)
        y = deseasonalized[-span:]
        tau = np.arange(span, dtype=float)
        best = (np.inf, 0, 0.0, float(y.mean()))
        for k in range(0, span - WEEK):
            hinge = np.maximum(tau - k, 0.0)
            design = np.stack([np.ones(span), hinge], axis=1)
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            error = float(np.sum((design @ coef - y) ** 2))
            if error < best[0] and coef[1] < 0:
                best = (error, k, float(coef[1]), float(coef[0]))
        _, k, slope, flat = best
        if slope >= 0:  # no "flat, then falling" shape: the fall spans the whole search
            k, slope = 0, float(np.polyfit(tau, y, 1)[0])
            flat = float(y[0])
        start = max(t - (span - 1 - k), self.t0)
        now = flat + slope * (span - 1 - k)
        return Event(
            row,
            "trend",
            -1,
            start,
            t,
            t,
            level_from=flat,
            level_to=now,
            level_sd=float(self.baseline.res_sigma[row]),
            projected=now + slope * TREND_PROJECTION_DAYS,
        )


class WeeklyCheck:
    def __init__(
        self,
        *,
        batch,
        cfg: DetectionConfig,
        t0: int,
        yt: np.ndarray,
        histt: np.ndarray,
        record,
        baseline: Baseline,
        tracker: EventTracker,
    ):
        self.batch, self.cfg, self.t0, self.yt, self.histt = batch, cfg, t0, yt, histt
        # The replay's records (flags, excused days, forecasts): this check reads them, and
        # rewrites one weekday's history in the baseline when a habit changed.
        self.record, self.baseline, self.tracker = record, baseline, tracker
        self.n = yt.shape[1]
        self.events: dict[int, Event] = {}

    def check(self, t: int) -> None:
        """The same weekday flagged the same way WEEKLY_CHANGE_WEEKS weeks running while the
        other days stay mostly normal. Once seen, that weekday's baseline history is shifted
        to the new level, so the new habit is the baseline from then on (a level shift is
        the horizon's business)."""
        rec, n = self.record, self.n
        r = t - self.t0
        weeks = WEEKLY_CHANGE_WEEKS
        span = WEEK * (weeks + 1)  # one spare week in case a holiday took one of them
        if r < WEEK * weeks - 1:
            return
        # A habit changes on a settled profile: four weeks of history before the weeks judged.
        settled = self.histt[max(t - span + 1, 0)] >= self.cfg.min_history_days
        if not (settled & (rec.flag[r] != 0)).any():
            return
        # Typed as plain arrays: reshaped to (weeks, weekday, series) below.
        flags: np.ndarray = np.zeros((span, n), dtype=np.int8)
        excused: np.ndarray = np.zeros((span, n), dtype=bool)
        lo = max(r - span + 1, 0)
        flags[span - (r + 1 - lo) :] = rec.flag[lo : r + 1]
        excused[span - (r + 1 - lo) :] = rec.excused[lo : r + 1]
        flags = flags.reshape(weeks + 1, WEEK, n)
        excused = excused.reshape(weeks + 1, WEEK, n)
        # Per weekday, walk back from this week over the days that count (holidays and
        # outages neither confirm nor break the streak): the last `weeks` of them must all be
        # flagged the same way.
        seen = np.zeros((WEEK, n), dtype=np.int64)
        sign = np.zeros((WEEK, n), dtype=np.int8)
        streak = np.ones((WEEK, n), dtype=bool)
        for week in range(weeks, -1, -1):
            counts = ~excused[week] & (seen < weeks)
            sign = np.where(counts & (seen == 0), flags[week], sign)
            streak &= ~counts | ((flags[week] == sign) & (sign != 0))
            seen += counts
        changed = streak & (seen >= weeks)  # (WEEK, n); row 6 is today's weekday
        # A change is confirmed by a day that shows it: today must itself be flagged. (A
        # holiday or outage today does not count, and judging on it would make a series'
        # result depend on whether another series of the self.batch was flagged today.)
        today = changed[-1] & settled & (rec.flag[r] != 0)
        if not today.any():
            return
        n_changed = changed.sum(axis=0)
        recent = flags[1:].reshape(weeks * WEEK, n)
        others = (recent != 0).sum(axis=0) - weeks * n_changed
        rows = np.flatnonzero(
            today
            & (n_changed <= MAX_CHANGED_WEEKDAYS)
            & (others <= int(weeks * WEEK * OTHER_DAYS_FLAGGED_SHARE))
        )
        for row in rows:
            self._changed(t, r, int(row), changed[:, row], weeks)

    def _changed(self, t: int, r: int, row: int, changed: np.ndarray, weeks: int) -> None:
        previous = self.events.get(row)
        # The changes kept here are closed on the day they are seen: their end is set.
        recent = (
            previous
            if previous is not None and previous.end is not None and t - previous.end < WEEK
            else None
        )
        done = set(recent.weekdays.split(", ")) if recent is not None else set()
        offsets = [
            k
            for k in np.flatnonzero(changed)  # positions in the week, 6 is today
            if self.batch.day(t - (WEEK - 1 - int(k))).strftime("%A") not in done
        ]
        if not offsets:
            return
        names = []
        earliest = t
        for k in offsets:
            back = WEEK - 1 - int(k)
            days = t - back - WEEK * np.arange(weeks + 1)
            days = days[days >= self.t0]
            days = days[~self.record.excused[days - self.t0, row]][:weeks]
            earliest = min(earliest, int(days.min()))
            raw = self.yt[days, row]
            shift = float(np.nanmean(raw - self.record.forecast[days - self.t0, row]))
            # Every same-weekday day of the window moves by the change, the last weeks'
            # flagged days take their real values.
            self.baseline.shift_weekday(row, t, back, shift)
            self.baseline.take_raw(row, days, raw, genuine=False)
            names.append(self.batch.day(int(days[0])).strftime("%A"))
        if self.tracker.active[row]:
            self.tracker.close(np.array([row]), end="last")
        self.baseline.refresh_rows[row] = True
        # A weekend changes one day after the other: within a week it is one change.
        if recent is not None:
            recent.end = t
            recent.weekdays += ", " + ", ".join(names)
            return
        event = Event(
            row,
            "pattern",
            int(self.record.flag[r, row]),
            earliest,
            t,
            t,
            weekdays=", ".join(names),
        )
        self.tracker.add(event)
        self.events[row] = event
