"""Progress of a long command step as a few plain lines, e.g.

    seeding demo: 120,000 / 269,694 usage rows (3.1 s)

not a redrawn bar: `make run` shows its commands' output through make, and logs and CI keep
it, where a bar's carriage returns turn into one endless line. A line at most every
PROGRESS_INTERVAL_SECONDS, and always the last one, so a fast step prints one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PROGRESS_INTERVAL_SECONDS = 2.0


class ProgressLines:
    def __init__(
        self,
        write: Callable[[str], object],
        label: str,
        *,
        total: int,
        unit: str,
        interval: float = PROGRESS_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._write, self._label, self._unit = write, label, unit
        self.total, self.done = total, 0
        self._interval, self._clock = interval, clock
        self._started = clock()
        self._printed_at = self._started

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def update(self, n: int, note: str = "") -> None:
        """`n` more done; `note` is appended to the line (", 337 series")."""
        self.at(self.done + n, note)

    def at(self, done: int, note: str = "") -> None:
        self.done = done
        now = self._clock()
        if done >= self.total or now - self._printed_at >= self._interval:
            self._printed_at = now
            self._write(
                f"{self._label}: {done:,} / {self.total:,} {self._unit}{note} "
                f"({now - self._started:.1f} s)"
            )


def progress_output(stream, *, verbosity: int) -> Callable[[str], object]:
    """Where a management command's progress lines go: its stderr stream (its stdout is the
    result, which callers and tests read), or nowhere at verbosity 0."""
    return stream.write if verbosity > 0 else _silent


def _silent(text: str) -> None:
    pass
