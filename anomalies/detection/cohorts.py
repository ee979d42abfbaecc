"""Cohorts: accounts whose usage moves together (one region's stores, one city's stations,
one data source, one segment). A move a large share of a series' cohort shares on the same
day is the cohort's (a storm, a regional holiday, a local outage), not the customer's.

A series' cohort is given (`SeriesBatch.cohorts`: the series sharing any of its labels, which
are separated by COHORT_SEPARATOR, e.g. "region:emea|segment:retail") or, where none is given,
inferred from history: the series of *other* accounts whose daily moves over the last
COHORT_WINDOW_DAYS correlate with its own at COHORT_MIN_CORRELATION or more. (Never the
account's own other metrics: an account falling on every metric at once is churn, the very
thing to report.)

A daily move is the day's log value against the median of the same weekday in the four
weeks before it: computed from the raw data, before any judgement of the engine, so a
cohort is the same whatever the engine flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stl_operator import WEEK

# Separates a series' cohort labels (one per grouping: region, segment, source).
COHORT_SEPARATOR = "|"
# Weeks of same-weekday history a day's move is measured against.
MOVE_REFERENCE_WEEKS = 4
# Days of moves whose correlation makes a cohort (13 weeks: a season's weather and events).
COHORT_WINDOW_DAYS = 91
# Fewest days two series must both have data on in the window for their correlation to count.
COHORT_MIN_OVERLAP_DAYS = 28
# Correlation of daily moves from which two series are one cohort: above half of each
# other's day-to-day variation is shared (weather drives bicycle counters at about 0.7).
COHORT_MIN_CORRELATION = 0.5
# Moves beyond this many standard deviations are clipped before correlating, so one shared
# outage day does not make two series a cohort.
MOVE_CLIP_SD = 3.0
# A flagged day is the cohort's when at least this share of its cohort's series with data
# that day moved the same way by at least half the flag's percentage threshold, and at least
# COHORT_MIN_MOVING of them did (a cohort of one other series proves nothing).
COHORT_MOVING_SHARE = 0.5
COHORT_MIN_MOVING = 2
# Series whose cohorts are inferred together (bounds the memory of one correlation block).
INFER_BLOCK_ROWS = 256
# A shared move starts together: a member counts as moving with a flagged series only when
# its own run of moves in that direction began within this many days of the series' run.
# (Two accounts that each have their own anomaly, weeks apart but overlapping today, are two
# anomalies, not one cohort event.)
COHORT_ONSET_DAYS = 1


def daily_moves(yt: np.ndarray) -> np.ndarray:
    """(days, series) log1p value minus the median of the same weekday in the previous
    MOVE_REFERENCE_WEEKS weeks (NaN without data or with under two reference days)."""
    T, n = yt.shape
    assert MOVE_REFERENCE_WEEKS == 4  # the median of up to four values, without sorting
    count = np.zeros((T, n), dtype=np.int8)
    total = np.zeros((T, n))
    high = np.full((T, n), np.nan)
    low = np.full((T, n), np.nan)
    for k in range(1, MOVE_REFERENCE_WEEKS + 1):
        lag = WEEK * k
        if lag >= T:
            break
        past = yt[: T - lag]  # the same weekday k weeks before days lag .. T - 1
        seen = ~np.isnan(past)
        count[lag:] += seen
        total[lag:] += np.where(seen, past, 0.0)
        np.fmax(high[lag:], past, out=high[lag:])
        np.fmin(low[lag:], past, out=low[lag:])
    with np.errstate(invalid="ignore"):
        middle = total - high - low  # the middle two of four, or the middle one of three
        reference = np.where(
            count == 4,
            middle / 2,
            np.where(count == 3, middle, np.where(count == 2, total / 2, np.nan)),
        )
    return yt - reference


@dataclass(frozen=True)
class CohortMove:
    t: int
    direction: int
    series: tuple[int, ...]  # the flagged series the move excused
    cohort_size: int
    moving: int
    label: str  # the given cohort, or "inferred"


class Cohorts:
    def __init__(self, yt: np.ndarray, accounts: tuple[str, ...], given: tuple[str, ...] | None):
        self.moves = daily_moves(yt)
        self.n = yt.shape[1]
        account_ids = {a: i for i, a in enumerate(dict.fromkeys(accounts))}
        self.account = np.array([account_ids[a] for a in accounts])
        labels = [label or "" for label in given] if given is not None else [""] * self.n
        self.labels = np.array(labels, dtype=object)
        # Given cohorts: the series sharing each label.
        self._by_label: dict[str, list[int]] = {}
        for row, label in enumerate(labels):
            for part in filter(None, label.split(COHORT_SEPARATOR)):
                self._by_label.setdefault(part, []).append(row)
        self._members: dict[int, tuple[int, np.ndarray]] = {}
        # (direction, onset day) -> flagged series no cohort can share that run with.
        self._hopeless: dict[tuple[int, int], set[int]] = {}
        # The first day of each series' current run of moves down (0) and up (1), -1 when
        # it is not moving that way: days without data neither extend nor break a run.
        self.onset = np.full((2, self.n), -1, dtype=np.int64)

    def members(self, row: int, t: int) -> np.ndarray:
        """The series of other accounts in `row`'s cohort, from the moves before day t."""
        label = self.labels[row]
        if label:
            rows = np.array(
                sorted(
                    {
                        m
                        for part in label.split(COHORT_SEPARATOR)
                        for m in self._by_label.get(part, [])
                    }
                ),
                dtype=np.int64,
            )
            return rows[self.account[rows] != self.account[row]]
        cached = self._members.get(row)
        if cached is not None and cached[0] == t:
            return cached[1]
        return self._infer(np.array([row]), t)[0]

    def _standardized(self, end: int, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The moves of `series` over the COHORT_WINDOW_DAYS before day `end`, standardized
        per series and clipped, 0 where missing; and the mask of days with data. Both
        (W, len(series)), float32 (only the few series asked about are touched)."""
        lo = max(end - COHORT_WINDOW_DAYS, 0)
        window = self.moves[lo:end, series]
        observed = ~np.isnan(window)
        filled = np.where(observed, window, 0.0)
        count = observed.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = filled.sum(axis=0) / np.maximum(count, 1)
            centred = np.where(observed, window - mean, 0.0)
            sd = np.sqrt((centred**2).sum(axis=0) / np.maximum(count - 1, 1))
            z = np.where(sd > 0, centred / sd, 0.0)
        z = np.clip(z, -MOVE_CLIP_SD, MOVE_CLIP_SD)
        return z.astype(np.float32), observed.astype(np.float32)

    def _correlated(self, rows: np.ndarray, columns: np.ndarray, end: int) -> np.ndarray:
        """(rows, columns) mask, from the moves before day `end`: the column series is in the
        row series' cohort (its moves correlate, enough days overlap, another account)."""
        out = np.zeros((rows.size, columns.size), dtype=bool)
        if not rows.size or not columns.size:
            return out
        zc, oc = self._standardized(end, columns)
        sc = zc**2
        # In blocks, so a day on which thousands of series are flagged does not hold a
        # thousands-by-batch matrix at once.
        for first in range(0, rows.size, INFER_BLOCK_ROWS):
            block = rows[first : first + INFER_BLOCK_ROWS]
            zb, ob = self._standardized(end, block)
            # Sums over the days both series have data, for every pair.
            overlap = ob.T @ oc
            products = zb.T @ zc
            norm = np.sqrt(((zb**2).T @ oc) * (ob.T @ sc))
            with np.errstate(invalid="ignore", divide="ignore"):
                correlation = np.where(norm > 0, products / norm, 0.0)
            out[first : first + block.size] = (
                (correlation >= COHORT_MIN_CORRELATION)
                & (overlap >= COHORT_MIN_OVERLAP_DAYS)
                & (self.account[columns][None, :] != self.account[block][:, None])
            )
        return out

    def _infer(self, rows: np.ndarray, end: int) -> list[np.ndarray]:
        """The cohorts of `rows` from the moves before day `end` (the start of the move being
        judged: its own days must not make two series look alike)."""
        everyone = np.arange(self.n)
        member = self._correlated(rows, everyone, end)
        out = []
        for k, row in enumerate(rows):
            members = np.flatnonzero(member[k])
            self._members[int(row)] = (end, members)
            out.append(members)
        return out

    def observe(self, t: int, drop: np.ndarray, spike: np.ndarray) -> tuple[np.ndarray, ...]:
        """Update each series' run of moves with day t; (moving down, moving up) today."""
        today = self.moves[t]
        observed = ~np.isnan(today)
        with np.errstate(invalid="ignore"):
            down = today <= np.log1p(drop / 2)
            up = today >= np.log1p(spike / 2)
        for k, moving in enumerate((down, up)):
            onset = self.onset[k]
            onset[observed & ~moving] = -1
            onset[moving & (onset < 0)] = t
        return down, up

    def guard(
        self,
        t: int,
        neg: np.ndarray,
        pos: np.ndarray,
        drop: np.ndarray,
        spike: np.ndarray,
        on_holiday: np.ndarray,
    ) -> tuple[np.ndarray, list[CohortMove]]:
        """The flags of day t that their cohort shares, and the cohort moves found. Call once
        per day, in order (it follows each series' run of moves).

        A member on a public holiday of its own calendar (`on_holiday`, per series) sits the
        day out: its dip is its holiday's, and says nothing about a member whose calendar
        has no holiday that day (American accounts' Thanksgiving Friday does not excuse a
        German account's drop, even when they share a segment)."""
        excused = np.zeros_like(neg)
        down, up = self.observe(t, drop, spike)
        present_today = ~np.isnan(self.moves[t]) & ~on_holiday
        found: list[CohortMove] = []
        for k, (direction, flags, moving) in enumerate(((-1, neg, down), (1, pos, up))):
            rows = np.flatnonzero(flags)
            if not rows.size:
                continue
            onset = self.onset[k]
            start = np.where(onset[rows] >= 0, onset[rows], t)
            # Cheap first: an inferred cohort can only share the move if at least
            # COHORT_MIN_MOVING correlated series moved with it today, in step. Only series
            # that pass need their whole cohort (for the share).
            inferred = rows[self.labels[rows] == ""]
            hopeless: set[int] = set()
            # An inferred cohort is judged on the moves before the move being judged began:
            # a shared move's own days would make any two series that share it look alike.
            starts = start[self.labels[rows] == ""]
            for began in np.unique(starts):
                group = inferred[starts == began]
                # Known already: after its onset's days, no new series can move in step with
                # a run, only stop moving; a run hopeless once stays hopeless.
                known = self._hopeless.get((k, int(began)), set())
                hopeless |= known & set(group.tolist())
                group = np.array([r for r in group if r not in known], dtype=np.int64)
                if not group.size:
                    continue
                # Cheap first: the cohort can only share the move if at least
                # COHORT_MIN_MOVING correlated series moved with it, in step. Only series
                # that pass need their whole cohort (for the share).
                movers = np.flatnonzero(
                    moving & present_today & (np.abs(onset - began) <= COHORT_ONSET_DAYS)
                )
                count = self._correlated(group, movers, int(began)).sum(axis=1)
                lost = set(group[count < COHORT_MIN_MOVING].tolist())
                hopeless |= lost
                if t > began + COHORT_ONSET_DAYS:
                    self._hopeless.setdefault((k, int(began)), set()).update(lost)
                stale = [
                    r
                    for r in group
                    if r not in hopeless
                    and (r not in self._members or self._members[r][0] != began)
                ]
                if stale:
                    self._infer(np.array(stale), int(began))
            shared: dict[tuple, list[int]] = {}
            for row, first in zip(rows, start, strict=True):
                if int(row) in hopeless:
                    continue
                members = self.members(int(row), int(first))
                present = members[present_today[members]]
                if not present.size:
                    continue
                # A flagged day is itself moving; its run began at onset[row] (today when
                # the daily move is milder than the flag's bar).
                together = moving[present] & (np.abs(onset[present] - first) <= COHORT_ONSET_DAYS)
                count = int(together.sum())
                if count >= COHORT_MIN_MOVING and count >= COHORT_MOVING_SHARE * present.size:
                    excused[row] = True
                    key = (self.labels[row] or "inferred", present.size, count)
                    shared.setdefault(key, []).append(int(row))
            for (label, size, count), series in shared.items():
                found.append(CohortMove(t, direction, tuple(series), size, count, label))
        return excused, found

    def shared_level_change(
        self,
        t: int,
        span: int,
        sign: np.ndarray,
        rows: np.ndarray,
        level: np.ndarray,
        *,
        portfolio_share: float,
        portfolio_min_accounts: int,
    ) -> np.ndarray:
        """For the series `rows` whose level moved in direction `sign` (per row) over the
        `span` days before t: whether their cohort's level moved alike (at least
        COHORT_MOVING_SHARE of the members with data moved at least half as far, and at
        least COHORT_MIN_MOVING of them), or a `portfolio_share` of all other accounts'
        series did, spanning at least `portfolio_min_accounts` accounts: a season, a regional
        trend or the whole market, not the account. `level` is (days, series), e.g.
        yearly.trailing_level."""
        shared = np.zeros(rows.size, dtype=bool)
        if t - span < 0:
            return shared
        change = level[t] - level[t - span]
        present = ~np.isnan(change)
        for k, row in enumerate(rows):
            own = sign[k] * change[row]
            if not own > 0:
                continue
            others = present & (self.account != self.account[row])
            alike = others & (sign[k] * change >= 0.5 * own)
            if (
                alike.sum() >= portfolio_share * others.sum()
                # The series' own account is one of the accounts that moved.
                and np.unique(self.account[alike]).size + 1 >= portfolio_min_accounts
            ):
                shared[k] = True
                continue
            # The cohort from before the change began, as for days. Cheap first: at least
            # COHORT_MIN_MOVING correlated series must have moved alike.
            began = max(t - span, 1)
            alike_rows = np.flatnonzero(present & (sign[k] * change >= 0.5 * own))
            if self._correlated(np.array([row]), alike_rows, began).sum() < COHORT_MIN_MOVING:
                continue
            members = self.members(int(row), began)
            moved = change[members]
            moved = moved[~np.isnan(moved)]
            if not moved.size:
                continue
            alike = int((sign[k] * moved >= 0.5 * own).sum())
            shared[k] = alike >= COHORT_MIN_MOVING and alike >= COHORT_MOVING_SHARE * moved.size
        return shared
