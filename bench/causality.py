"""No future leak: a backtest must report on each day what a scan on that day would have.

The detector runs again on the same file cut after a day `cut`. Every event of the full run
detected on or before the cut must be in the cut run with the same series, start and
`detected_at`, and every event of the cut run must be in the full run (the cut run cannot
detect anything after its last day). The `end` is not compared: an event still open on the
cut day ends later in the full run. Any difference means the full run's answer on some day
depended on data after it.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from bench.runs import Run, run_detector
from bench.scoring import Report
from bench.tables import table

Key = tuple[str, dt.date, dt.date]
ONLY_FULL = "only in the full run"
ONLY_CUT = "only in the cut run"


@dataclass(frozen=True)
class Mismatch:
    side: str
    series_id: str
    start: dt.date
    detected_at: dt.date


@dataclass
class CutCheck:
    cut: dt.date
    run: Run
    mismatches: list[Mismatch]
    compared: int  # events of the full run detected on or before the cut


def _key(report: Report) -> Key:
    return report.series_id, report.start, report.detected_at


def compare(full: list[Report], cut_run: list[Report], cut: dt.date) -> list[Mismatch]:
    """Events detected on or before `cut` that one run has and the other has not, sorted by
    detection day."""
    before = {_key(r) for r in full if r.detected_at <= cut}
    in_cut = {_key(r) for r in cut_run if r.detected_at <= cut}
    after = [r for r in cut_run if r.detected_at > cut]
    out = [Mismatch(ONLY_FULL, *k) for k in before - in_cut]
    out += [Mismatch(ONLY_CUT, *k) for k in in_cut - before]
    # An event the cut run dates after its own last day is a bug of its own; list it too.
    out += [Mismatch(ONLY_CUT, *_key(r)) for r in after]
    return sorted(out, key=lambda m: (m.detected_at, m.series_id, m.start, m.side))


def write_cut(series_csv: Path, cut: dt.date, out: Path) -> Path:
    """The rows of `series_csv` dated on or before `cut`, byte for byte."""
    out.parent.mkdir(parents=True, exist_ok=True)
    last = cut.isoformat()  # ISO dates sort as text
    with open(series_csv, newline="") as src, open(out, "w", newline="") as dst:
        reader, writer = csv.reader(src), csv.writer(dst, lineterminator="\n")
        writer.writerow(next(reader))
        writer.writerows(row for row in reader if row[1] <= last)
    return out


def check(
    name: str,
    command: str,
    series_csv: Path,
    full: list[Report],
    cuts: list[dt.date],
    out_dir: Path,
    timeout: float,
) -> list[CutCheck]:
    checks = []
    for cut in cuts:
        path = write_cut(series_csv, cut, out_dir / f"{series_csv.stem}_to_{cut}.csv")
        run = run_detector(name, command, path, timeout)
        found = [] if run.error else compare(full, run.reports, cut)
        compared = sum(r.detected_at <= cut for r in full)
        checks.append(CutCheck(cut, run, found, compared))
    return checks


def render(checks: list[CutCheck], first: int = 5) -> str:
    rows = []
    for c in checks:
        status = f"error: {c.run.error}" if c.run.error else str(len(c.mismatches))
        rows.append([c.run.name, str(c.cut), str(c.compared), status, f"{c.run.seconds:.1f}"])
    header = ["detector", "cut", "events to the cut (full run)", "mismatches", "seconds"]
    parts = [table(header, rows)]
    for c in checks:
        if c.mismatches:
            shown = [
                [m.side, m.series_id, str(m.start), str(m.detected_at)]
                for m in c.mismatches[:first]
            ]
            parts.append(f"First mismatches, cut {c.cut}:")
            parts.append(table(["side", "series", "start", "detected_at"], shown))
    return "\n\n".join(parts)
