"""The event tracker: runs of flagged days become events.

A run opens on a flagged day and takes same-sign flagged days; supporting days (flags.py,
SUPPORT_Z) keep it going without counting towards its duration, and missing and excused days
neither extend nor break it. It becomes a reported event once it has `min_duration_days`
flagged days (more after false-positive dismissals or for a spiky series), ends after
`recovery_days` counted normal days (or when the sign flips), and past
`pattern_horizon_days` it is the account's new normal: reported once more as a pattern
change, and its days become the baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .config import DetectionConfig
from .flags import Thresholds


@dataclass
class Event:
    row: int
    # "run" (a flagged run), "pattern" (a shift past the horizon, a level change or a changed
    # weekly habit) or "trend" (a gradual decline under way)
    kind: str
    sign: int
    start: int
    end: int | None
    detected: int
    level_from: float = math.nan
    level_to: float = math.nan
    level_sd: float = math.nan
    weekdays: str = ""  # for a changed weekly profile: the weekdays that changed
    projected: float = math.nan  # for a fall (trend, level): the level (log1p) at its pace


# A run that becomes an event within this many days after the series' last reported run of
# the same sign ended continues that event (a pause of a few good days inside one incident).
CONTINUATION_DAYS = 4


class HistoryEdits(Protocol):
    """What a closing or persisting run does to the rest of the replay."""

    def release(self, row: int, start: int, last: int) -> None: ...
    def rebaseline(self, row: int, start: int, t: int) -> None: ...
    def abandoned(self, row: int, start: int, end: int, sign: int) -> bool: ...
    def held_start(self, row: int, start: int, sign: int) -> int: ...
    def held_taken(self, row: int, first: int, start: int, sign: int) -> None: ...
    def first_flag(self, row: int, start: int, t: int) -> int: ...


class EventTracker:
    """Open runs of every series, and the events they became."""

    def __init__(
        self,
        n: int,
        *,
        cfg: DetectionConfig,
        bars: Thresholds,
        history: np.ndarray,
        mature_days: np.ndarray,
        edits: HistoryEdits,
    ):
        self.cfg, self.bars = cfg, bars
        # Observed days strictly before each day, (days + 1, n), and the days of history
        # after which each series is mature: cold start.
        self.history = history
        self.mature_days = mature_days
        # What a closing or persisting run does to the rest of the replay.
        self.edits = edits
        self.active = np.zeros(n, dtype=bool)
        self.sign = np.zeros(n, dtype=np.int8)
        self.start = np.zeros(n, dtype=np.int64)
        self.last = np.zeros(n, dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.quiet = np.zeros(n, dtype=np.int64)
        self.reported = np.zeros(n, dtype=bool)
        self.detected = np.zeros(n, dtype=np.int64)
        self.events: list[Event] = []
        # The last day a change of each direction (column 0 down, 1 up) was reported or, for
        # an event that went on, its last day.
        self.last_report = np.full((2, n), -(10**9), dtype=np.int64)
        # Each series' last reported run event, which a run soon after may continue.
        self.last_run: dict[int, Event] = {}

    def advance(
        self, t: int, sign: np.ndarray, counted: np.ndarray, support: np.ndarray | None = None
    ) -> None:
        """Day t's flags (-1, 0, +1 per series) and supporting days (the same, for days that
        may only keep an open run going); `counted` days may end a run by being normal
        (observed and not excused)."""
        cfg = self.cfg
        flagged = sign != 0
        if support is None:
            support = np.zeros_like(sign)
        supported = self.active & ~flagged & (support == self.sign)
        same = self.active & flagged & (sign == self.sign)
        flip = self.active & flagged & (sign == -self.sign)
        calm = self.active & ~flagged & ~supported & counted

        self.count[same] += 1
        self.last[same | supported] = t
        self.quiet[same | supported] = 0

        self.quiet[calm] += 1
        ended = calm & (self.quiet >= cfg.recovery_days)
        self.close(np.flatnonzero(ended | flip), end="last")

        opening = flagged & ~self.active
        self.active[opening] = True
        self.sign[opening] = sign[opening]
        self.start[opening] = t
        self.last[opening] = t
        self.count[opening] = 1
        self.quiet[opening] = 0
        self.reported[opening] = False
        # A run that opens on the first ordinary day after days a holiday (or last year's
        # same days) excused although they were flagged the same way: the holiday did not
        # cause the fall, which began on it (a drop that began on Thanksgiving). Those days
        # are the run's first days and count towards its duration.
        for row in np.flatnonzero(opening):
            first = self.edits.held_start(int(row), t, int(sign[row]))
            if first < t:
                self.start[row] = first
                self.count[row] += t - first

        need = np.where(self.sign < 0, self.bars.dur_neg, self.bars.dur_pos)
        newly = self.active & ~self.reported & (self.count >= need)
        self.reported[newly] = True
        self.detected[newly] = t
        self._reported_on(np.flatnonzero(newly), self.sign[newly], t)
        for row in np.flatnonzero(newly):
            first_flag = self.edits.first_flag(int(row), int(self.start[row]), t)
            if first_flag > self.start[row]:
                self.edits.held_taken(
                    int(row), int(self.start[row]), first_flag, int(self.sign[row])
                )
            self._continue_recent(int(row))

        # Past the horizon a persisting shift is the account's new normal: say so once, then
        # let its days into the baseline. An abandoned feature stays an abandonment instead.
        long = self.active & self.reported & (t - self.start + 1 >= cfg.pattern_horizon_days)
        for row in np.flatnonzero(long):
            start, run_sign = int(self.start[row]), int(self.sign[row])
            if self.edits.abandoned(int(row), start, t, run_sign):
                continue
            # One change, one report: the run seen on its detection day is the same event,
            # now known to last (a drop that became the new normal).
            self.add(Event(int(row), "pattern", run_sign, start, t, int(self.detected[row])))
            self.edits.rebaseline(int(row), start, t)
            self.active[row] = False

    def _continue_recent(self, row: int) -> None:
        """A run reported within CONTINUATION_DAYS of the end of the series' last reported run
        of the same sign is that event going on after a pause (two good days inside a
        week-long outage): one incident, one report. The earlier event is taken back and this
        run carries its start and detection day."""
        previous = self.last_run.get(row)
        if (
            previous is None
            or previous.sign != int(self.sign[row])
            or previous.end is None
            or self.start[row] - previous.end > CONTINUATION_DAYS
        ):
            return
        self.events.remove(previous)
        self.start[row] = previous.start
        self.detected[row] = previous.detected
        del self.last_run[row]

    def close(self, rows: np.ndarray, *, end: str | None) -> None:
        """End the runs of `rows`: on their last flagged day (`end="last"`), or still going on
        at the end of the data (`end=None`)."""
        for row in rows:
            start = int(self.start[row])
            if (
                not self.reported[row]
                and end is not None
                and self.history[start, row] < self.mature_days[row]
            ):
                self.edits.release(int(row), start, int(self.last[row]))
            if self.reported[row]:
                event = Event(
                    int(row),
                    "run",
                    int(self.sign[row]),
                    start,
                    None if end is None else int(self.last[row]),
                    int(self.detected[row]),
                )
                self.events.append(event)
                self.last_run[int(row)] = event
                # The change was news until its last day: slow-change checks measure from
                # after it.
                self._reported_on(np.array([row]), self.sign[row : row + 1], int(self.last[row]))
        self.active[rows] = False

    def add(self, event: Event) -> None:
        self.events.append(event)
        last = max(event.detected, event.end if event.end is not None else event.detected)
        self._reported_on(np.array([event.row]), np.array([event.sign]), last)

    def _reported_on(self, rows: np.ndarray, signs: np.ndarray, t: int) -> None:
        columns = (np.asarray(signs) > 0).astype(int)
        self.last_report[columns, rows] = np.maximum(self.last_report[columns, rows], t)
