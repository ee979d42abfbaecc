"""Tuning proposals, the pure part: which scopes have too many false positives and what
concrete threshold change to propose for each, in words. No database, no settings, no
clock: the service (anomalies.services.tuning) passes the counts, the thresholds in force
and the target, then backtests each draft over stored usage before anyone sees it.

The change climbs a ladder from the thresholds in force: first one more day of minimum
duration (a blip must last longer to count), then the type's own threshold up a step. A
scope far above the target (at least SECOND_RUNG_FACTOR times it) takes both rungs at
once; every value stays within its bound, and a scope already at both bounds gets no
proposal (nothing the settings can do: someone should look at the data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .detection.vocabulary import AnomalyType, Direction

# Fewer judged anomalies than this and one dismissal moves the rate by more than 5 points:
# too few to change anyone's thresholds on.
MIN_JUDGED = 20
# A scope at twice the target or more takes both rungs of the ladder in one proposal.
SECOND_RUNG_FACTOR = 2.0
# The minimum duration never goes past a week: longer, and a real outage is reported after
# the customer has already called.
MAX_MIN_DURATION_DAYS = 7
# Percentage thresholds move by ten points a step ("30 % -> 40 %"), up to bounds past which
# only a collapse would be reported (drops) or only a doubling several times over (spikes).
PERCENT_STEP = 10.0
MAX_DROP_PERCENT = 80.0
MAX_SPIKE_PERCENT = 300.0
# Types that go either way have no percentage of their own: their evidence bar (robust z)
# rises half a point a step, up to 6 (far beyond any preset's 3 to 4.5).
Z_STEP = 0.5
MAX_Z_THRESHOLD = 6.0

# Each field's words: its name, and the unit after the old and after the new value ("2 → 3
# days" reads better than "2 days → 3 days"; "30 % → 40 %" needs both).
_LABELS = {
    "min_duration_days": ("minimum duration", "", " days"),
    "drop_percent": ("drop threshold", " %", " %"),
    "spike_percent": ("spike threshold", " %", " %"),
    "z_threshold": ("evidence bar (robust z)", "", ""),
}


@dataclass(frozen=True)
class ScopeCounts:
    """Judged anomalies of one type on one metric family (one severity, or all: "")."""

    anomaly_type: str
    metric_family: str
    judged: int
    false_positives: int
    severity: str = ""

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.judged if self.judged else 0.0


@dataclass(frozen=True)
class Step:
    field: str
    old: float
    new: float

    @property
    def text(self) -> str:
        label, old_unit, new_unit = _LABELS[self.field]
        return f"{label} {_number(self.old)}{old_unit} → {_number(self.new)}{new_unit}"


@dataclass(frozen=True)
class Draft:
    """A proposal before its backtest: the scope, its counts and the change."""

    counts: ScopeCounts
    steps: tuple[Step, ...]

    @property
    def change(self) -> dict:
        """The change as stored: {field: {"from": old, "to": new}}."""
        return {s.field: {"from": s.old, "to": s.new} for s in self.steps}

    @property
    def text(self) -> str:
        """ "feature:* drops: minimum duration 2 → 3 days, drop threshold 30 % → 40 %"."""
        return f"{scope_text(self.counts)}: {', '.join(s.text for s in self.steps)}"


def scope_text(counts: ScopeCounts) -> str:
    """ "feature:* drops", "api_calls spikes (warning)"."""
    kind = AnomalyType(counts.anomaly_type).label.lower() + "s"
    severity = f" ({counts.severity})" if counts.severity else ""
    return f"{counts.metric_family} {kind}{severity}"


def threshold_rung(anomaly_type: str) -> tuple[str, float, float]:
    """The second rung for a type: (threshold field, step, bound)."""
    direction = AnomalyType(anomaly_type).direction
    if direction == Direction.NEGATIVE:
        return "drop_percent", PERCENT_STEP, MAX_DROP_PERCENT
    if direction == Direction.POSITIVE:
        return "spike_percent", PERCENT_STEP, MAX_SPIKE_PERCENT
    return "z_threshold", Z_STEP, MAX_Z_THRESHOLD


def proposal_drafts(
    counts: Iterable[ScopeCounts],
    *,
    thresholds: Mapping[str, Mapping[str, float]],
    target: float,
    min_judged: int = MIN_JUDGED,
) -> list[Draft]:
    """A draft for every scope with at least `min_judged` judged anomalies whose false-positive
    rate exceeds `target` (a share, 0.2 for 20 %), worst first. `thresholds` maps each metric
    family to the values in force for it (min_duration_days and the percentage and z
    thresholds)."""
    if not 0 < target < 1:
        raise ValueError(f"target must be a share between 0 and 1, got {target!r}")
    drafts = []
    for scope in counts:
        if scope.judged < min_judged or scope.false_positive_rate <= target:
            continue
        rungs = 2 if scope.false_positive_rate >= SECOND_RUNG_FACTOR * target else 1
        steps = _climb(thresholds[scope.metric_family], scope.anomaly_type, rungs)
        if steps:
            drafts.append(Draft(scope, steps))
    drafts.sort(key=lambda d: (-d.counts.false_positive_rate, d.text))
    return drafts


def _climb(current: Mapping[str, float], anomaly_type: str, rungs: int) -> tuple[Step, ...]:
    """Up to `rungs` steps of the ladder; a rung already at its bound is skipped, so a scope
    whose duration is at the bound still gets its threshold step."""
    field, step, bound = threshold_rung(anomaly_type)
    ladder = (("min_duration_days", 1, MAX_MIN_DURATION_DAYS), (field, step, bound))
    steps: list[Step] = []
    for name, size, limit in ladder:
        old = current[name]
        if len(steps) < rungs and old < limit:
            steps.append(Step(name, old, min(old + size, limit)))
    return tuple(steps)


def _number(value: float) -> str:
    """30.0 -> "30", 3.5 -> "3.5": thresholds as a person writes them."""
    return f"{value:g}"
