"""Why a detector missed a label: a reason read off the data, so every miss in the accuracy
report comes with an explanation instead of a shrug.

The reasons, checked in this order (the first that applies is given):
- first week: fewer than 7 days of history before the label; Tremor decides nothing then.
- holiday: the label's most deviant day is a public holiday or bridge day (US calendar), which
  Tremor damps on purpose.
- under threshold: no day of the window moved 30 % (drops) or 50 % (spikes) from the median of
  the week before it: below the medium preset's percentage thresholds.
- one day: exactly one day of the window passes the threshold; a single-day blip is never an
  event in Tremor (min duration 2 days).
- cold start: under 28 days of history; Tremor asks for 1.5x the usual evidence then.
- within noise: the move is inside the series' own day-to-day spread (under 3.5 robust sigmas
  of its log day-to-day changes in the four weeks before).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomalies.detection.calendar import holiday_mask  # noqa: E402
from bench.scoring import CORPUS_RULE, Label, MatchRule, Report, matches  # noqa: E402
from bench.series_io import WideSeries  # noqa: E402
from bench.tables import table  # noqa: E402

FIRST_WEEK = 7
COLD_START = 28
DROP, SPIKE = 0.30, 0.50
Z = 3.5
MAD_TO_SIGMA = 1.4826


def missed(
    reports: Sequence[Report],
    labels: Sequence[Label],
    wide: WideSeries,
    rule: MatchRule = CORPUS_RULE,
) -> list[Label]:
    last = {sid: wide.day(int(wide.last[i])) for i, sid in enumerate(wide.series_ids)}
    by_series: dict[str, list[Report]] = {}
    for report in reports:
        by_series.setdefault(report.series_id, []).append(report)
    return [
        lab
        for lab in labels
        if not any(
            matches(r, lab, last[lab.series_id], rule) for r in by_series.get(lab.series_id, [])
        )
    ]


def reason(label: Label, wide: WideSeries, country: str | None = "US") -> tuple[str, str]:
    """(reason, detail) for one missed label."""
    row = wide.series_ids.index(label.series_id)
    values = wide.values[row]
    first = int(wide.first[row])
    a, b = (label.start - wide.start).days, (label.end - wide.start).days
    history = a - first
    if history < FIRST_WEEK:
        return "first week", f"{history} days of history"

    ratios = []
    for t in range(a, b + 1):
        before = values[max(first, t - 7) : t]
        base = np.nanmedian(before) if np.any(~np.isnan(before)) else np.nan
        ratios.append(values[t] / base if base and not np.isnan(values[t]) else np.nan)
    ratios = np.array(ratios)
    change = np.where(np.isnan(ratios), 0.0, ratios - 1.0)
    worst = int(np.argmax(np.abs(change)))
    detail = f"largest move {change[worst]:+.0%} on {label.start + dt.timedelta(days=worst)}"

    holidays = holiday_mask(country, wide.start, values.shape[0])
    if country and holidays[a + worst]:
        return "holiday", detail
    over = (change <= -DROP) | (change >= SPIKE)
    if not over.any():
        return "under threshold", detail
    if over.sum() == 1:
        return "one day", detail
    if history < COLD_START:
        return "cold start", f"{history} days of history; {detail}"
    past = np.log1p(values[max(first, a - 28) : a])
    steps = np.diff(past[~np.isnan(past)])
    spread = MAD_TO_SIGMA * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2)
    z = np.log1p(change[worst]) / spread if spread > 0 else np.inf
    if abs(z) < Z:
        return "within noise", f"{detail}, {z:+.1f} robust sigmas"
    return "other", detail


def explain(
    reports: Sequence[Report],
    labels: Sequence[Label],
    wide: WideSeries,
    *,
    rule: MatchRule = CORPUS_RULE,
    country_of: Callable[[str], str | None] = lambda series_id: "US",
) -> str:
    """Every missed label with its reason, as a table and a tally by reason."""
    rows = []
    for lab in missed(reports, labels, wide, rule):
        why, detail = reason(lab, wide, country_of(lab.series_id))
        rows.append([lab.series_id, f"{lab.start} .. {lab.end}", lab.type, why, detail])
    if not rows:
        return "none"
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[3]] = counts.get(row[3], 0) + 1
    tally = ", ".join(f"{why}: {n}" for why, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return table(["series", "label", "type", "reason", "detail"], rows) + f"\n\n{tally}"
