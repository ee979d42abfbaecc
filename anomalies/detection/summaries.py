"""Summaries: the replay's events as `Finding`s (baseline against actual, band, score, type,
severity, possible cause) and its outage days as `PortfolioEvent`s.

Running sums over the replay let every event's means come from two lookups instead of
slicing and averaging per event; only the series with events and their accounts' other
series are summarised.
"""

from __future__ import annotations

import math

import numpy as np

from . import classify
from .baseline import MIN_SIGMA
from .events import Event
from .types import CohortEvent, Finding, PortfolioEvent
from .vocabulary import Direction


def portfolio_events(batch, outage_days: list[tuple[int, float, int]]) -> list[PortfolioEvent]:
    """Consecutive outage days become one event, with the largest share and count seen."""
    events: list[PortfolioEvent] = []
    for t, share, count in outage_days:
        day = batch.day(t)
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


def cohort_events(batch, moves) -> list[CohortEvent]:
    """The cohort moves of consecutive days (per cohort and direction) as one event each."""
    events: list[CohortEvent] = []
    open_by_key: dict[tuple, int] = {}
    for move in sorted(moves, key=lambda m: m.t):
        key = (move.label, move.direction)
        day = batch.day(move.t)
        series = tuple(batch.series_ids[row] for row in move.series)
        index = open_by_key.get(key)
        if index is not None and (day - events[index].end).days <= 1:
            last = events[index]
            events[index] = CohortEvent(
                last.start,
                day,
                last.cohort,
                last.direction,
                tuple(dict.fromkeys(last.series_ids + series)),
                max(last.cohort_size, move.cohort_size),
                max(last.moving, move.moving),
            )
            continue
        open_by_key[key] = len(events)
        events.append(
            CohortEvent(
                day,
                day,
                move.label,
                Direction.of(move.direction),
                series,
                move.cohort_size,
                move.moving,
            )
        )
    return events


class Summaries:
    def __init__(self, replay):
        self.rp = replay
        rp = replay
        groups: dict[str, list[int]] = {}
        for row, group in enumerate(rp.batch.groups):
            groups.setdefault(group, []).append(row)
        self.group_rows = {g: np.array(rows) for g, rows in groups.items()}
        event_rows = {ev.row for ev in rp.tracker.events}
        needed = np.unique(
            np.concatenate([self.group_rows[rp.batch.groups[r]] for r in event_rows])
        )
        # `col` maps a series to its column in the summaries.
        self.col = np.full(rp.n, -1)
        self.col[needed] = np.arange(len(needed))

        rec = rp.record
        forecast, sigma = rec.forecast[:, needed], rec.sigma[:, needed]
        expected = np.expm1(forecast)
        x = rp.xt[rp.t0 :, needed]
        # For the account's other metrics: actual and expected usage over the days that count
        # (holidays and outage days left out).
        counts = ~np.isnan(expected) & rp.obst[rp.t0 :, needed] & (expected > 0)
        counts &= ~rec.excused[:, needed]
        self.sum_actual = running_sum(np.where(counts, x, 0.0))
        self.sum_expected = running_sum(np.where(counts, expected, 0.0))
        # For the event itself: its flagged days, per direction.
        z_base = rp.bars.z_base[needed]
        low = np.maximum(np.expm1(forecast - z_base * sigma), 0.0)
        high = np.expm1(forecast + z_base * sigma)
        flag, seasonal = rec.flag[:, needed], rec.seasonal[:, needed]
        support = rec.support[:, needed]
        self.flag_sums = {}
        for sign in (-1, 1):
            # An event's days: its flagged days and the days that supported it.
            mask = (flag == sign) | (support == sign)
            self.flag_sums[sign] = {
                "days": running_sum(mask.astype(float)),
                "expected": running_sum(np.where(mask, expected, 0.0)),
                "actual": running_sum(np.where(mask, x, 0.0)),
                "low": running_sum(np.where(mask, low, 0.0)),
                "high": running_sum(np.where(mask, high, 0.0)),
                "seasonal": running_sum((mask & seasonal).astype(float)),
            }

    def findings(self) -> list[Finding]:
        out = [self.finding(event) for event in self.rp.tracker.events]
        out.sort(key=lambda f: (f.series_id, f.start, f.detected_at))
        return out

    def finding(self, ev: Event) -> Finding:
        rp = self.rp
        batch, cfg, row, rec = rp.batch, rp.cfg, ev.row, rp.record
        last = ev.end if ev.end is not None else rp.T - 1
        r0, r1 = ev.start - rp.t0, last - rp.t0 + 1
        z_thr = rp.bars.z_base[row]
        sums, col = self.flag_sums[ev.sign], self.col[row]
        flagged_days = int(sums["days"][r1, col] - sums["days"][r0, col])
        projected = None
        if ev.kind in ("level", "trend"):
            # Levels are log1p means and can dip below zero on near-empty series.
            baseline = max(float(np.expm1(ev.level_from)), 0.0)
            actual = max(float(np.expm1(ev.level_to)), 0.0)
            low = max(float(np.expm1(ev.level_from - z_thr * ev.level_sd)), 0.0)
            high = float(np.expm1(ev.level_from + z_thr * ev.level_sd))
            score = abs(ev.level_to - ev.level_from) / max(ev.level_sd, MIN_SIGMA)
            seasonal_share = 0.0
            last_seen = last
            if not math.isnan(ev.projected):
                projected = max(float(np.expm1(ev.projected)), 0.0)
        else:
            # A run starts on a flagged day, so it has at least one.
            n_days = max(flagged_days, 1)

            def mean(name):
                return float(sums[name][r1, col] - sums[name][r0, col]) / n_days

            baseline, actual = mean("expected"), mean("actual")
            low, high, seasonal_share = mean("low"), mean("high"), mean("seasonal")
            flagged = rec.flag[r0:r1, row] == ev.sign
            score = float(np.max(np.abs(rec.z[r0:r1, row]), where=flagged, initial=0.0))
            last_seen = ev.start + int(np.flatnonzero(flagged)[-1]) if flagged.any() else last
        deviation = (actual / baseline - 1.0) * 100.0 if baseline > 0 else 0.0
        first = max(0, last - rp.L + 1)
        observed = rp.histt[last + 1, row] - rp.histt[first, row]
        completeness = float(observed) / (last + 1 - first)
        confidence = "low" if rp.histt[ev.start, row] < rp.mature_days[row] else "normal"

        metric = batch.metrics[row]
        kind = classify.anomaly_type(
            kind=ev.kind,
            sign=ev.sign,
            is_feature=bool(rp.is_feature[row]),
            ratio=actual / baseline if baseline > 0 else 1.0,
            flagged_days=flagged_days,
            seasonal_share=seasonal_share,
            config=cfg,
        )
        siblings = self.sibling_changes(row, ev.start, last)
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
                min_volume=float(rp.bars.min_volume[row]),
            ),
            direction=Direction.of(ev.sign),
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
            projected=projected,
            evidence=float(rp.bars.hinted[row, int(ev.sign > 0)]),
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
                    drop=float(-rp.bars.drop[row]),
                )
            ),
        )

    def sibling_changes(self, row: int, start: int, end: int) -> dict[str, float | None]:
        """Mean relative change of each other series of the account against its own forecast
        over an event's days (None where no day counts)."""
        rp = self.rp
        rows = self.group_rows[rp.batch.groups[row]]
        rows = rows[rows != row]
        r0, r1 = max(start - rp.t0, 0), end - rp.t0 + 1
        cols = self.col[rows]
        actual = self.sum_actual[r1, cols] - self.sum_actual[r0, cols]
        expected = self.sum_expected[r1, cols] - self.sum_expected[r0, cols]
        return {
            rp.batch.metrics[other]: (float(a / e - 1.0) if e > 0 else None)
            for other, a, e in zip(rows.tolist(), actual.tolist(), expected.tolist(), strict=True)
        }


def running_sum(values: np.ndarray) -> np.ndarray:
    """Sums along the day axis with a zero row first: days [a, b) sum to s[b] - s[a]."""
    return np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
