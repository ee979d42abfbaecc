"""Event-by-event scoring of anomaly reports against labeled windows: pure functions.

Matching follows a `MatchRule`. The synthetic corpus's (`CORPUS_RULE`): a report matches a
label when both are on the same series and the report's days [start, end] (end = the series'
last day while the report is open) overlap the label's window [label.start - 2 days,
label.end + tolerance]; the tolerance is 3 days for drops and spikes and 14 days for slow or
permanent changes, which a detector needs longer to be sure of. real_daily's README defines
its own (`REAL_DAILY_RULE`: +-2 days for every type, an open report is one day) and an onset
rule (`ONSET_RULE`: of those, only a report starting in [label.start - 2, label.start + 14]).
Matching ignores the type: a `drop` report on a gradual decline is a detection (the type
confusion table shows how reports were named).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from anomalies.detection.vocabulary import AnomalyType

# A report may begin slightly before the labeled start: injected changes ramp in from
# noise, and daily data blur the exact first day.
LEAD_DAYS = 2
TOLERANCE_DAYS = {
    AnomalyType.DROP: 3,
    AnomalyType.SPIKE: 3,
    AnomalyType.PATTERN_CHANGE: 14,
    AnomalyType.GRADUAL_DECLINE: 14,
    AnomalyType.FEATURE_ABANDONMENT: 14,
}
DEFAULT_TOLERANCE_DAYS = 3
# The order label types are shown in.
LABEL_ORDER = (
    AnomalyType.DROP,
    AnomalyType.SPIKE,
    AnomalyType.FEATURE_ABANDONMENT,
    AnomalyType.PATTERN_CHANGE,
    AnomalyType.GRADUAL_DECLINE,
)
DAYS_PER_YEAR = 365.25
MISSED = "missed"
# real_daily's README: "a tolerance of +-2 days" on both sides, whatever the type.
REAL_DAILY_TOLERANCE_DAYS = 2
# real_daily's "onset" recall: a report counts only if it starts by label start + 14 days.
ONSET_LATE_DAYS = 14


@dataclass(frozen=True, eq=False)
class MatchRule:
    """When a report counts as finding a label (always on the same series).

    The report's days overlap [label.start - lead_days, label.end + tolerance of the
    label's type]; an open report (no end) covers up to the series' last day when
    `open_runs_to_end`, else its start day alone. An onset rule (`onset_late_days` set)
    also asks that the report start in [label.start - lead_days, label.start +
    onset_late_days]: a report weeks into a permanent change overlaps it but is late.
    """

    name: str
    lead_days: int
    tolerance_days: Mapping[str, int]
    default_tolerance_days: int
    open_runs_to_end: bool
    onset_late_days: int | None = None


CORPUS_RULE = MatchRule("corpus", LEAD_DAYS, TOLERANCE_DAYS, DEFAULT_TOLERANCE_DAYS, True)
REAL_DAILY_RULE = MatchRule(
    "real_daily", REAL_DAILY_TOLERANCE_DAYS, {}, REAL_DAILY_TOLERANCE_DAYS, False
)
ONSET_RULE = MatchRule(
    "onset", REAL_DAILY_TOLERANCE_DAYS, {}, REAL_DAILY_TOLERANCE_DAYS, False, ONSET_LATE_DAYS
)


@dataclass(frozen=True)
class Label:
    series_id: str
    start: dt.date
    end: dt.date
    type: str

    def window(self, rule: MatchRule = CORPUS_RULE) -> tuple[dt.date, dt.date]:
        tol = rule.tolerance_days.get(self.type, rule.default_tolerance_days)
        return self.start - dt.timedelta(days=rule.lead_days), self.end + dt.timedelta(days=tol)


@dataclass(frozen=True)
class Report:
    series_id: str
    start: dt.date
    end: dt.date | None
    detected_at: dt.date
    type: str = "?"


Span = tuple[dt.date, dt.date]


@dataclass
class Score:
    """The scores of one detector on one labeled corpus. Rates are None when undefined."""

    reports: int
    matched_reports: int
    outage_alerts: int
    labels: int
    detected: int
    precision: float | None
    recall: float | None
    f1: float | None
    series_years: float
    false_alarms: int
    false_alarms_per_series_year: float | None
    clean_series_years: float
    clean_reports: int
    false_alarms_per_clean_series_year: float | None
    labels_by_type: dict[str, int] = field(default_factory=dict)
    detected_by_type: dict[str, int] = field(default_factory=dict)
    delays_by_type: dict[str, list[int]] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    chance_recall: float | None = None

    def recall_of(self, label_type: str) -> float | None:
        n = self.labels_by_type.get(label_type, 0)
        return self.detected_by_type.get(label_type, 0) / n if n else None

    def delay_median(self, label_type: str) -> float | None:
        d = self.delays_by_type.get(label_type)
        return float(np.median(d)) if d else None

    def delay_p90(self, label_type: str) -> float | None:
        d = self.delays_by_type.get(label_type)
        return float(np.percentile(d, 90)) if d else None

    @property
    def recall_above_chance(self) -> float | None:
        if self.recall is None or self.chance_recall is None:
            return None
        return self.recall - self.chance_recall

    def figures(self) -> dict:
        """The headline figures, for a JSON file two runs can be compared by."""
        types = sorted(self.labels_by_type)
        return {
            "reports": self.reports,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "chance_recall": self.chance_recall,
            "recall_above_chance": self.recall_above_chance,
            "false_alarms_per_series_year": self.false_alarms_per_series_year,
            "false_alarms_per_clean_series_year": self.false_alarms_per_clean_series_year,
            "outage_alerts": self.outage_alerts,
            "recall_by_type": {t: self.recall_of(t) for t in types},
            "delay_median_by_type": {t: self.delay_median(t) for t in types},
            "delay_p90_by_type": {t: self.delay_p90(t) for t in types},
        }


def _overlaps(a: tuple[dt.date, dt.date], b: tuple[dt.date, dt.date]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def report_days(
    report: Report, last_day: dt.date, rule: MatchRule = CORPUS_RULE
) -> tuple[dt.date, dt.date]:
    """The days a report covers; an open report runs to the series' last day, or under a
    rule without `open_runs_to_end` is its start day alone."""
    if report.end is not None:
        return report.start, report.end
    return report.start, max(last_day, report.start) if rule.open_runs_to_end else report.start


def matches(report: Report, label: Label, last_day: dt.date, rule: MatchRule = CORPUS_RULE) -> bool:
    if report.series_id != label.series_id:
        return False
    if not _overlaps(report_days(report, last_day, rule), label.window(rule)):
        return False
    if rule.onset_late_days is None:
        return True
    first = label.start - dt.timedelta(days=rule.lead_days)
    return first <= report.start <= label.start + dt.timedelta(days=rule.onset_late_days)


def in_outage(report: Report, outage: Span | None) -> bool:
    """Reports that begin on an outage day: data-quality noise, always counted as false."""
    return outage is not None and outage[0] <= report.start <= outage[1]


def _span_years(span: Span) -> float:
    return ((span[1] - span[0]).days + 1) / DAYS_PER_YEAR


def _label_hits(reports: Mapping[str, list[Report]], labels: list[Label], rule: MatchRule) -> int:
    # Every report here has an end, so the series' last day is not needed.
    return sum(
        any(matches(r, lab, r.start, rule) for r in reports.get(lab.series_id, ()))
        for lab in labels
    )


def shift_interval(
    days: tuple[dt.date, dt.date], offset: int, span: Span
) -> list[tuple[dt.date, dt.date]]:
    """`days` moved `offset` days later inside `span`, wrapping past the end to the start
    (so it may come back as two pieces). Lengths are kept, clipped to the span's length."""
    first, last = span
    length = (last - first).days + 1
    start = (days[0] - first).days
    dur = min((days[1] - days[0]).days, length - 1)
    s = (start + offset) % length
    e = s + dur

    def day(k: int) -> dt.date:
        return first + dt.timedelta(days=k)

    if e < length:
        return [(day(s), day(e))]
    return [(day(s), last), (first, day(e - length))]


def chance_recall(
    reports: list[Report],
    labels: list[Label],
    spans: Mapping[str, Span],
    *,
    rule: MatchRule = CORPUS_RULE,
    shuffles: int = 20,
    seed: int = 0,
) -> float | None:
    """Recall of the same reports, each series' reports moved together by one random offset
    (uniform over the series' length, wrapping around), averaged over `shuffles` draws.

    It keeps how often and how long a detector alerts per series but not when, so it is
    the recall a detector gets by alerting that much regardless of the data.
    """
    if not labels:
        return None
    by_series: dict[str, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for r in reports:
        if r.series_id in spans:
            by_series[r.series_id].append(report_days(r, spans[r.series_id][1], rule))
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(shuffles):
        moved: dict[str, list[Report]] = {}
        for sid in sorted(by_series):
            span = spans[sid]
            offset = int(rng.integers(0, (span[1] - span[0]).days + 1))
            moved[sid] = [
                Report(sid, a, b, a)
                for iv in by_series[sid]
                for a, b in shift_interval(iv, offset, span)
            ]
        total += _label_hits(moved, labels, rule) / len(labels)
    return total / shuffles


def score(
    reports: list[Report],
    labels: list[Label],
    spans: Mapping[str, Span],
    *,
    clean: set[str] | None = None,
    outage: Span | None = None,
    rule: MatchRule = CORPUS_RULE,
    shuffles: int = 20,
    seed: int = 0,
) -> Score:
    """Score `reports` against `labels`, matching by `rule`.

    `spans` gives each series' first and last day (series-years and open reports come from
    it). `clean` names the series with no anomaly at all; when given, false alarms are also
    counted per clean series-year (every report on a clean series is false). Reports that
    start on an `outage` day count as false even if they overlap a label. The delay of a
    detected label is days from its start to the earliest `detected_at` among its matching
    reports, floored at 0 (a report already open when the anomaly begins counts as day 0).
    """
    counted = [r for r in reports if not in_outage(r, outage)]
    labels_by_series: dict[str, list[Label]] = defaultdict(list)
    for lab in labels:
        labels_by_series[lab.series_id].append(lab)

    matched_reports = 0
    first_match: dict[Label, Report] = {}
    for r in counted:
        span = spans.get(r.series_id)
        last_day = span[1] if span else r.start
        hit = False
        for lab in labels_by_series.get(r.series_id, ()):
            if matches(r, lab, last_day, rule):
                hit = True
                best = first_match.get(lab)
                if best is None or r.detected_at < best.detected_at:
                    first_match[lab] = r
        matched_reports += hit

    types = sorted({lab.type for lab in labels})
    labels_by_type = {t: sum(lab.type == t for lab in labels) for t in types}
    detected_by_type = {t: sum(lab.type == t for lab in first_match) for t in types}
    delays: dict[str, list[int]] = {t: [] for t in types}
    confusion: dict[str, dict[str, int]] = {t: defaultdict(int) for t in types}
    for lab in labels:
        r = first_match.get(lab)
        if r is None:
            confusion[lab.type][MISSED] += 1
            continue
        confusion[lab.type][r.type] += 1
        delays[lab.type].append(max(0, (r.detected_at - lab.start).days))

    n_reports = len(reports)
    precision = matched_reports / n_reports if n_reports else None
    recall = len(first_match) / len(labels) if labels else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    series_years = sum(_span_years(s) for s in spans.values())
    false_alarms = n_reports - matched_reports
    clean_years = sum(_span_years(spans[s]) for s in clean or () if s in spans)
    clean_reports = sum(r.series_id in clean for r in reports) if clean else 0
    return Score(
        reports=n_reports,
        matched_reports=matched_reports,
        outage_alerts=n_reports - len(counted),
        labels=len(labels),
        detected=len(first_match),
        precision=precision,
        recall=recall,
        f1=f1,
        series_years=series_years,
        false_alarms=false_alarms,
        false_alarms_per_series_year=false_alarms / series_years if series_years else None,
        clean_series_years=clean_years,
        clean_reports=clean_reports,
        false_alarms_per_clean_series_year=clean_reports / clean_years if clean_years else None,
        labels_by_type=labels_by_type,
        detected_by_type=detected_by_type,
        delays_by_type=delays,
        confusion={t: dict(c) for t, c in confusion.items()},
        chance_recall=chance_recall(
            counted, labels, spans, rule=rule, shuffles=shuffles, seed=seed
        ),
    )
