"""The engine's inputs and outputs: plain dataclasses, no behaviour beyond conversions. The
words their fields hold (types, severities, directions) are named in `vocabulary`."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .vocabulary import AnomalyType, Direction, Severity


@dataclass(frozen=True)
class SeriesBatch:
    """Many daily series on one shared calendar.

    `values[i, j]` is series i on day `start + j`, in the metric's own units per day; NaN is
    a missing day (never read as zero). `groups[i]` names the account the series belongs to
    (series of one account explain each other's anomalies); `metrics[i]` is its metric slug.
    """

    values: np.ndarray
    start: dt.date
    series_ids: tuple[str, ...]
    metrics: tuple[str, ...]
    groups: tuple[str, ...]
    # The cohort each series belongs to for the group guard: accounts that share a region, a
    # segment, a plan or a data source move together on a local holiday, a regional outage
    # or a storm. None (or "" for one series): the engine infers cohorts from history.
    cohorts: tuple[str, ...] | None = None
    # The holiday calendar of each series: an ISO 3166 country code, optionally with a
    # subdivision ("US", "DE-BY", "AU-VIC"). None (or None for one series): the config's
    # holiday_country.
    countries: tuple[str | None, ...] | None = None

    @property
    def n_series(self) -> int:
        return self.values.shape[0]

    @property
    def n_days(self) -> int:
        return self.values.shape[1]

    def day(self, index: int) -> dt.date:
        return self.start + dt.timedelta(days=int(index))

    def index_of(self, day: dt.date) -> int:
        return (day - self.start).days


@dataclass(frozen=True)
class SeriesHints:
    """What earlier reviews of a series' anomalies tell the engine (the learning loop).

    `exclude[i, j]`: day j of series i is known bad data (dismissed as a data issue); it is
    treated as missing, kept out of every baseline. `rebaseline_from[i]`: day index from which
    series i has a new normal; history before it is ignored. `evidence[i]`: the factor on
    the evidence a negative (column 0) or positive (column 1) event needs, learned from the
    series' reviewed anomalies (learned.py: MIN_EVIDENCE_FACTOR to MAX_EVIDENCE_FACTOR, at
    least 1 for a core metric).
    """

    exclude: np.ndarray | None = None
    rebaseline_from: np.ndarray | None = None
    evidence: np.ndarray | None = None


# The CLI's stable output keys, in order; other keys follow them.
CONTRACT_KEYS = (
    "series_id",
    "start",
    "end",
    "detected_at",
    "type",
    "severity",
    "direction",
    "baseline",
    "actual",
    "deviation_percent",
    "possible_cause",
)


_ROUNDING = {
    "baseline": 2,
    "actual": 2,
    "expected_low": 2,
    "expected_high": 2,
    "deviation_percent": 1,
    "score": 2,
    "completeness": 3,
    "projected": 2,
    "evidence": 2,
}


@dataclass(frozen=True)
class Finding:
    """One anomalous event of one series: a run of days with a start and an end (None while
    it is still going on as of the scan day)."""

    series_id: str
    account: str
    metric: str
    type: AnomalyType
    severity: Severity
    direction: Direction
    start: dt.date
    end: dt.date | None
    detected_at: dt.date
    last_seen: dt.date
    baseline: float
    actual: float
    deviation_percent: float
    expected_low: float
    expected_high: float
    score: float
    completeness: float
    confidence: str
    possible_cause: str
    # For a gradual decline: the daily level it reaches in four weeks at its current pace.
    projected: float | None = None
    # The learned evidence factor in force for this direction (SeriesHints.evidence): how
    # many times the configured evidence this series' reviewed history made the engine need.
    evidence: float = 1.0

    @property
    def ongoing(self) -> bool:
        return self.end is None

    @property
    def duration_days(self) -> int:
        return ((self.end or self.last_seen) - self.start).days + 1

    def to_json(self) -> dict:
        """The CLI contract's object (plus the extra fields, after the contract's ones)."""
        data = {key: None for key in CONTRACT_KEYS} | asdict(self)
        for key in ("start", "end", "detected_at", "last_seen"):
            data[key] = data[key].isoformat() if data[key] is not None else None
        for key, digits in _ROUNDING.items():
            value = data[key]
            if value is None:
                continue
            # JSON has no NaN or infinity: an unbounded band edge (astronomic inputs) is null.
            data[key] = round(value, digits) if math.isfinite(value) else None
        return data


@dataclass(frozen=True)
class PortfolioEvent:
    """Days on which a large share of all series fell together: a data outage or a global
    holiday, not customer anomalies."""

    start: dt.date
    end: dt.date
    affected_share: float
    series_affected: int


@dataclass(frozen=True)
class CohortEvent:
    """Days on which a share of a cohort's series moved together (a regional holiday, a
    storm, a local outage): the series it excused were not reported as anomalies."""

    start: dt.date
    end: dt.date
    cohort: str  # the given label, or "inferred" (series whose daily moves correlate)
    direction: Direction
    series_ids: tuple[str, ...]  # the flagged series the move excused
    cohort_size: int  # the largest number of cohort series with data on one of its days
    moving: int  # how many of them moved with it


@dataclass(frozen=True)
class DetectionResult:
    findings: list[Finding]
    portfolio_events: list[PortfolioEvent] = field(default_factory=list)
    as_of: dt.date | None = None
    cohort_events: list[CohortEvent] = field(default_factory=list)
