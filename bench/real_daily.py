"""real_daily: detectors on 46 real daily series, untouched and with injected anomalies.

The figures are the ones real_daily's README defines (read it before trusting them):

- `untouched/`: alerts per series-year = reports / (rows / 365.25), rows with a missing
  value counted; by source (series-id prefix) and by failure class
  (bench/failure_classes.py), and the series with the most alerts.
- `injected/`: event-level precision, recall and F1 under the README's +-2-day rule
  (`REAL_DAILY_RULE`), recall by label type; onset recall and the median detection delay
  per type under `ONSET_RULE` (a report starting in [label start - 2, label start + 14],
  delay = its `detected_at` - label start, floored at 0); reports per series-year on the
  series that carry no label.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from anomalies.detection.vocabulary import AnomalyType
from bench import failure_classes as fc
from bench import misses
from bench.runs import Run, parse_date, read_labels
from bench.scoring import (
    DAYS_PER_YEAR,
    LABEL_ORDER,
    ONSET_RULE,
    REAL_DAILY_RULE,
    Label,
    Report,
    Score,
    Span,
    score,
)
from bench.series_io import WideSeries, read_long, read_wide, series_spans, to_wide
from bench.tables import Target, at_least, at_most, num, pct, table

# The targets on real_daily.
TARGET_ALERTS_PER_SERIES_YEAR = 1.0
TARGET_F1 = 0.5
TARGET_ONSET_DELAY_DAYS = {AnomalyType.DROP: 2, AnomalyType.GRADUAL_DECLINE: 21}
TOP_SERIES = 10


@dataclass
class RealData:
    untouched_csv: Path
    injected_csv: Path
    untouched: WideSeries
    injected: WideSeries
    rows: dict[str, int]  # untouched rows per series, missing values included
    labels: list[Label]
    unlabeled_series: set[str]  # injected series without a label
    evidence: fc.Evidence


def read_events(path: Path, kinds: tuple[str, ...]) -> dict[str, list[Span]]:
    """Periods of unlabeled_events.csv of the given kinds, by series."""
    frame = pd.read_csv(path, dtype=str)
    out: dict[str, list[Span]] = {}
    for r in frame[frame["kind"].isin(kinds)].itertuples(index=False):
        out.setdefault(r.series_id, []).append((parse_date(r.start), parse_date(r.end)))
    return out


def load(path: Path) -> RealData:
    untouched_csv, injected_csv = path / "untouched/series.csv", path / "injected/series.csv"
    frame = read_long(untouched_csv)
    untouched = to_wide(frame)
    injected = read_wide(injected_csv)
    labels = read_labels(path / "injected/labels.csv")
    events = read_events(path / "injected/unlabeled_events.csv", fc.REAL_EVENT_KINDS)
    return RealData(
        untouched_csv=untouched_csv,
        injected_csv=injected_csv,
        untouched=untouched,
        injected=injected,
        rows=frame.groupby("series_id").size().to_dict(),
        labels=labels,
        unlabeled_series=set(injected.series_ids) - {lab.series_id for lab in labels},
        evidence=fc.evidence_build(untouched, events),
    )


def series_years(rows: int) -> float:
    return rows / DAYS_PER_YEAR


def alerts_per_series_year(alerts: int, rows: int) -> float | None:
    """real_daily's first figure: reports over rows / 365.25 (missing values are rows)."""
    return alerts / series_years(rows) if rows else None


@dataclass
class Untouched:
    """One detector's alerts on `untouched/`, with the failure class of each."""

    alerts: int
    rows: int
    rows_by_source: dict[str, int]
    alerts_by_source: Counter
    classes: Counter
    classes_by_series: dict[str, Counter]
    # The recurring_yearly rule's hit rate a year back and at the control lag (chance).
    recurring_year: float | None
    recurring_control: float | None

    @property
    def per_series_year(self) -> float | None:
        return alerts_per_series_year(self.alerts, self.rows)

    def source_rate(self, source: str) -> float | None:
        return alerts_per_series_year(
            self.alerts_by_source[source], self.rows_by_source.get(source, 0)
        )

    def class_rate(self, name: str) -> float | None:
        return alerts_per_series_year(self.classes[name], self.rows)

    def class_share(self, name: str) -> float | None:
        return self.classes[name] / self.alerts if self.alerts else None

    def figures(self) -> dict:
        return {
            "alerts": self.alerts,
            "alerts_per_series_year": self.per_series_year,
            "by_source": {s: self.source_rate(s) for s in self.rows_by_source},
            "by_class": {
                c: {
                    "alerts": self.classes[c],
                    "per_series_year": self.class_rate(c),
                    "share": self.class_share(c),
                }
                for c in fc.CLASSES
            },
            "recurring_rule_year_back": self.recurring_year,
            "recurring_rule_control_lag": self.recurring_control,
        }


def rows_by_source(rows: dict[str, int]) -> dict[str, int]:
    """Rows per source, sources in the README's order."""
    counts: Counter = Counter()
    for sid, n in rows.items():
        counts[fc.source_of(sid)] += n
    return {s: counts[s] for s in (*fc.SOURCES, "other") if counts[s]}


def untouched_score(reports: list[Report], data: RealData) -> Untouched:
    by_series: dict[str, Counter] = {sid: Counter() for sid in data.rows}
    classes: Counter = Counter()
    for r in reports:
        name = fc.failure_class(data.evidence, r)
        classes[name] += 1
        by_series.setdefault(r.series_id, Counter())[name] += 1
    return Untouched(
        alerts=len(reports),
        rows=sum(data.rows.values()),
        rows_by_source=rows_by_source(data.rows),
        alerts_by_source=Counter(fc.source_of(r.series_id) for r in reports),
        classes=classes,
        classes_by_series=by_series,
        recurring_year=fc.recurring_rate(data.evidence, reports, fc.YEAR_DAYS),
        recurring_control=fc.recurring_rate(data.evidence, reports, fc.CONTROL_LAG_DAYS),
    )


def series_rates(u: Untouched, data: RealData) -> dict[str, float | None]:
    return {
        sid: alerts_per_series_year(sum(c.values()), data.rows.get(sid, 0))
        for sid, c in u.classes_by_series.items()
    }


@dataclass
class Injected:
    """One detector on `injected/`: the README's +-2-day match and the onset match."""

    overlap: Score
    onset: Score

    def figures(self) -> dict:
        out = self.overlap.figures()
        # Series without a label still carry real events: not every report there is false.
        out["reports_per_series_year_unlabeled"] = out.pop("false_alarms_per_clean_series_year")
        del out["outage_alerts"], out["delay_median_by_type"], out["delay_p90_by_type"]
        types = sorted(self.onset.labels_by_type)
        out["onset_recall"] = self.onset.recall
        out["onset_recall_by_type"] = {t: self.onset.recall_of(t) for t in types}
        out["onset_delay_median_by_type"] = {t: self.onset.delay_median(t) for t in types}
        return out


def injected_score(reports: list[Report], data: RealData) -> Injected:
    spans = series_spans(data.injected)
    clean = data.unlabeled_series
    return Injected(
        overlap=score(reports, data.labels, spans, clean=clean, rule=REAL_DAILY_RULE),
        onset=score(reports, data.labels, spans, rule=ONSET_RULE),
    )


def targets(u: Untouched | None, inj: Injected | None) -> list[Target]:
    out = [
        at_most(
            "untouched alerts/series-yr",
            None if u is None else u.per_series_year,
            TARGET_ALERTS_PER_SERIES_YEAR,
        ),
        at_least("injected F1", None if inj is None else inj.overlap.f1, TARGET_F1),
    ]
    for kind, days in TARGET_ONSET_DELAY_DAYS.items():
        delay = None if inj is None else inj.onset.delay_median(kind)
        out.append(at_most(f"{kind} onset delay median (d)", delay, days))
    return out


def _error_row(run: Run, width: int) -> list[str]:
    return [run.name, f"error: {run.error}"] + [""] * (width - 2)


def render_untouched(data: RealData, results: list[tuple[Run, Untouched | None]]) -> str:
    years = series_years(sum(data.rows.values()))
    head = f"## real_daily / untouched: {len(data.rows)} series, {years:.1f} series-years"
    parts = [head, "Alerts per series-year, overall and by source:", source_table(data, results)]
    scored = [(run, u) for run, u in results if u is not None]
    if scored:
        parts += [
            "Alerts per series-year by failure class (bench/failure_classes.py):",
            class_table(scored),
            "How often the recurring_yearly rule holds (whatever the class), a year back and"
            f" at a {fc.CONTROL_LAG_DAYS}-day control lag (its rate by chance):",
            table(
                ["detector", "a year back", f"{fc.CONTROL_LAG_DAYS} days back"],
                [[run.name, pct(u.recurring_year), pct(u.recurring_control)] for run, u in scored],
            ),
        ]
    for run, u in scored:
        if run.name == "engine":
            parts += [f"The engine's {TOP_SERIES} series with the most alerts:", top_table(u, data)]
    return "\n\n".join(parts)


def source_table(data: RealData, results: list[tuple[Run, Untouched | None]]) -> str:
    by_source = rows_by_source(data.rows)
    sources = list(by_source)
    header = ["detector", "alerts", "alerts/series-yr"]
    header += [f"{s} ({series_years(by_source[s]):.1f} sy)" for s in sources]
    header.append("seconds")
    rows = []
    for run, u in results:
        if u is None:
            rows.append(_error_row(run, len(header)))
            continue
        rows.append(
            [run.name, str(u.alerts), num(u.per_series_year)]
            + [num(u.source_rate(s)) for s in sources]
            + [f"{run.seconds:.1f}"]
        )
    return table(header, rows)


def class_table(scored: list[tuple[Run, Untouched]]) -> str:
    header = ["failure class"]
    header += [c for run, _ in scored for c in (f"{run.name} /sy", f"{run.name} share")]
    rows = [
        [name] + [c for _, u in scored for c in (num(u.class_rate(name)), pct(u.class_share(name)))]
        for name in fc.CLASSES
    ]
    total = [c for _, u in scored for c in (num(u.per_series_year), pct(1.0 if u.alerts else None))]
    return table(header, rows + [["total"] + total])


def top_table(u: Untouched, data: RealData) -> str:
    rates = series_rates(u, data)
    top = sorted(rates, key=lambda s: (-(rates[s] or 0), s))[:TOP_SERIES]
    rows = []
    for sid in top:
        counts = u.classes_by_series[sid]
        why = ", ".join(f"{c} {counts[c]}" for c in fc.CLASSES if counts[c])
        n = data.rows.get(sid, 0)
        rows.append(
            [sid, str(sum(counts.values())), f"{series_years(n):.2f}", num(rates[sid]), why]
        )
    return table(["series", "alerts", "series-yr", "alerts/series-yr", "classes"], rows)


def render_injected(data: RealData, results: list[tuple[Run, Injected | None]]) -> str:
    types = [t for t in LABEL_ORDER if any(lab.type == t for lab in data.labels)]
    n = len(data.injected.series_ids)
    head = f"## real_daily / injected: {n} series ({len(data.unlabeled_series)} without a label)"
    head += f", {len(data.labels)} labels, matched +-2 days"
    header = ["detector", "reports", "precision", "recall", "F1", "chance recall"]
    header += ["onset recall", "reports/sy on unlabeled series", "seconds"]
    rows = []
    for run, inj in results:
        if inj is None:
            rows.append(_error_row(run, len(header)))
            continue
        o = inj.overlap
        rows.append(
            [run.name, str(o.reports), pct(o.precision), pct(o.recall), num(o.f1)]
            + [pct(o.chance_recall), pct(inj.onset.recall)]
            + [num(o.false_alarms_per_clean_series_year), f"{run.seconds:.1f}"]
        )
    parts = [head, table(header, rows)]
    scored = [(run, inj) for run, inj in results if inj is not None]
    if scored:
        counts = scored[0][1].overlap.labels_by_type
        header = ["detector"] + [
            f"{t} (n={counts.get(t, 0)}) recall / onset / delay med" for t in types
        ]
        rows = [
            [run.name]
            + [
                f"{pct(inj.overlap.recall_of(t))} / {pct(inj.onset.recall_of(t))}"
                f" / {num(inj.onset.delay_median(t), 1)}"
                for t in types
            ]
            for run, inj in scored
        ]
        parts += ["Recall, onset recall and onset delay (days) by label type:", table(header, rows)]
    for run, _ in scored:
        if run.name == "engine":
            why = misses.explain(
                run.reports,
                data.labels,
                data.injected,
                rule=REAL_DAILY_RULE,
                country_of=country_of,
            )
            parts += ["Labels the engine missed, and why (bench/misses.py):", why]
    return "\n\n".join(parts)


def country_of(series_id: str) -> str:
    return fc.COUNTRY_OF_SOURCE.get(fc.source_of(series_id), fc.DEFAULT_COUNTRY)[0]
