"""Cold start from cohorts: recall, false alarms and confidence in new accounts' first 8 weeks,
without the cohort prior and with it (given cohorts, or nearest peers by shape).

    .venv/bin/python bench/cold_start.py [--new 600] [--mature 150] [--seed 13]
        [--sensitivity medium] [--json OUT]

A labeled portfolio is generated (`generate`): `--mature` accounts with PEER_DAYS of history
before the first new account starts, and `--new` accounts starting on a random day (so on
any weekday) in the next two weeks, each with logins and API calls. Accounts belong to a
segment: B2B (people off at weekends: quiet Saturdays and Sundays, quieter Fridays), B2C
(busier weekends) or 24/7 operations (flat), and a size tier; their cohort label is
"segment:<s>|tier:<t>". Half of the new series of at least MIN_INJECTABLE_LEVEL a day carry
one injected drop or spike starting in their weeks 2 to 8; the other half are clean. Every
value is drawn through a Poisson with lognormal day noise, like bench/corpus.py.

The engine runs one backtest per mode over the whole portfolio (holiday calendar off: the
generator has no holidays):
- off: `cohort_cold_start=False` (the engine's own cold start: a raised z bar and low
  confidence for 4 weeks);
- cohort: the prior from the given cohort (labels passed);
- nearest: no labels passed, the prior from the most similar peers by the first week's shape.

Scored on each new series' first NEW_DAYS days: recall (a label is found when a finding in
its direction overlaps it, MATCH_SLACK_DAYS of slack after its end), false alarms per new
account (findings overlapping no label), of which on a weekend (starting on a Saturday or
Sunday), the share of alerts with normal confidence, and the share of found labels found
with normal confidence.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomalies.detection import SeriesBatch, detect, preset  # noqa: E402
from bench.tables import num, pct, table  # noqa: E402

# History the mature accounts have before the first new account starts.
PEER_DAYS = 70
# New accounts start on one of this many days (any weekday).
START_SPREAD_DAYS = 14
# The days of a new series that are scored: its first 8 weeks.
NEW_DAYS = 56
# Injections start in weeks 2 to 8 and end inside them.
FIRST_INJECTION_DAY = 7
LABELED_SHARE = 0.5
# Series below this mean per day are never injected: the engine does not alert below its
# minimum volume (10 a day), and a Poisson count of a few a day is all noise.
MIN_INJECTABLE_LEVEL = 50.0
# A finding matches a label that it overlaps, or that ended at most this many days before it.
MATCH_SLACK_DAYS = 2
SEGMENTS = ("b2b", "b2c", "ops")
SEGMENT_WEIGHTS = (0.5, 0.25, 0.25)
METRICS = ("logins", "api_calls")
START = dt.date(2026, 1, 5)


@dataclass
class Portfolio:
    batch: SeriesBatch
    first: np.ndarray  # each series' first day (index)
    new: np.ndarray  # (n,) bool: a new account's series
    segment: list[str]
    labels: list[tuple[int, int, int, int]]  # (row, start, end, sign)


def _weekly(segment: str, metric: str, rng: np.random.Generator) -> np.ndarray:
    """Monday..Sunday multipliers of one series."""
    if segment == "b2b":
        dip = rng.uniform(0.55, 0.85) if metric == "logins" else rng.uniform(0.3, 0.6)
        return np.array([1.0, 1.05, 1.05, 1.0, 1 - 0.2 * dip, 1 - dip, 1 - dip * 1.05])
    if segment == "b2c":
        lift = rng.uniform(0.2, 0.5)
        return np.array([0.9, 0.9, 0.95, 0.95, 1.05, 1 + lift, 1 + lift * 0.9])
    return np.ones(7) * np.exp(rng.normal(0, 0.02, 7))


def generate(*, new: int = 600, mature: int = 150, seed: int = 13) -> Portfolio:
    rng = np.random.default_rng(seed)
    n_days = PEER_DAYS + START_SPREAD_DAYS + NEW_DAYS
    weekday = (START.weekday() + np.arange(n_days)) % 7
    rows, ids, metrics, groups, cohorts, firsts, is_new, segments = [], [], [], [], [], [], [], []
    labels: list[tuple[int, int, int, int]] = []
    for a in range(mature + new):
        young = a >= mature
        account = f"{'new' if young else 'acct'}-{a:04d}"
        segment = str(rng.choice(SEGMENTS, p=SEGMENT_WEIGHTS))
        level = float(np.exp(rng.uniform(np.log(40), np.log(20_000))))
        tier = "small" if level < 300 else "mid" if level < 3000 else "large"
        first = PEER_DAYS + int(rng.integers(0, START_SPREAD_DAYS)) if young else 0
        for metric in METRICS:
            base = level * (3.0 if metric == "api_calls" else 0.1)
            noise = rng.uniform(0.04, 0.12)
            mean = base * _weekly(segment, metric, rng)[weekday]
            mean = mean * np.exp(np.cumsum(rng.normal(0, 0.005, n_days)))
            row = len(rows)
            if young and base >= MIN_INJECTABLE_LEVEL and rng.random() < LABELED_SHARE:
                start = first + int(rng.integers(FIRST_INJECTION_DAY, NEW_DAYS - 3))
                length = int(rng.integers(3, 15))
                end = min(start + length, first + NEW_DAYS) - 1
                if rng.random() < 0.6:
                    mean[start : end + 1] *= 1 - rng.uniform(0.5, 0.9)
                    labels.append((row, start, end, -1))
                else:
                    mean[start : end + 1] *= 1 + rng.uniform(1.0, 3.0)
                    labels.append((row, start, end, 1))
            lam = mean * np.exp(rng.normal(0, noise, n_days) - noise**2 / 2)
            values = rng.poisson(lam).astype(float)
            values[:first] = np.nan
            rows.append(values)
            ids.append(f"{account}/{metric}")
            metrics.append(metric)
            groups.append(account)
            cohorts.append(f"segment:{segment}|tier:{tier}")
            firsts.append(first)
            is_new.append(young)
            segments.append(segment)
    batch = SeriesBatch(
        np.array(rows), START, tuple(ids), tuple(metrics), tuple(groups), cohorts=tuple(cohorts)
    )
    return Portfolio(batch, np.array(firsts), np.array(is_new), segments, labels)


def _without_labels(batch: SeriesBatch) -> SeriesBatch:
    return SeriesBatch(batch.values, batch.start, batch.series_ids, batch.metrics, batch.groups)


def evaluate(portfolio: Portfolio, mode: str, *, sensitivity: str = "medium") -> dict:
    """Run one mode and score the new series' first NEW_DAYS days."""
    config = preset(sensitivity).with_overrides(
        cohort_cold_start=mode != "off", holiday_country=None
    )
    batch = portfolio.batch if mode != "nearest" else _without_labels(portfolio.batch)
    began = time.perf_counter()
    findings = detect(batch, config=config, backtest=True).findings
    seconds = time.perf_counter() - began
    row_of = {sid: i for i, sid in enumerate(batch.series_ids)}
    labels_of: dict[int, list[tuple[int, int, int]]] = {}
    for row, start, end, sign in portfolio.labels:
        labels_of.setdefault(row, []).append((start, end, sign))
    found: set[tuple[int, int]] = set()
    found_normal: set[tuple[int, int]] = set()
    alerts = normal = false_alarms = weekend_false = 0
    for f in findings:
        row = row_of[f.series_id]
        if not portfolio.new[row]:
            continue
        start = (f.start - START).days
        last = (f.end or f.last_seen) - START
        first = int(portfolio.first[row])
        if not first <= start < first + NEW_DAYS:
            continue
        alerts += 1
        normal += f.confidence == "normal"
        sign = -1 if f.direction == "negative" else 1
        hit = [
            (s, e)
            for s, e, lsign in labels_of.get(row, [])
            if lsign == sign and start <= e + MATCH_SLACK_DAYS and last.days >= s
        ]
        for s, _ in hit:
            found.add((row, s))
            if f.confidence == "normal":
                found_normal.add((row, s))
        if not hit:
            false_alarms += 1
            weekend_false += f.start.weekday() >= 5
    new_accounts = len({portfolio.batch.groups[r] for r in np.flatnonzero(portfolio.new)})
    return {
        "mode": mode,
        "labels": len(portfolio.labels),
        "recall": len(found) / max(len(portfolio.labels), 1),
        "false_alarms": false_alarms,
        "false_alarms_per_new_account": false_alarms / max(new_accounts, 1),
        "weekend_false_alarms": weekend_false,
        "alerts": alerts,
        "normal_confidence_share": normal / alerts if alerts else None,
        "found_with_normal_confidence": len(found_normal) / len(found) if found else None,
        "seconds": round(seconds, 1),
    }


def render(results: list[dict], portfolio: Portfolio) -> str:
    new = int(portfolio.new.sum())
    header = [
        "mode",
        "recall",
        "false alarms / new account",
        "of them on a weekend",
        "alerts",
        "normal confidence (alerts)",
        "normal confidence (found)",
        "seconds",
    ]
    rows = [
        [
            r["mode"],
            pct(r["recall"]),
            num(r["false_alarms_per_new_account"], 3),
            str(r["weekend_false_alarms"]),
            str(r["alerts"]),
            pct(r["normal_confidence_share"]),
            pct(r["found_with_normal_confidence"]),
            num(r["seconds"], 1),
        ]
        for r in results
    ]
    title = (
        f"Cold start: {new} new series ({len(portfolio.labels)} labeled), their first "
        f"{NEW_DAYS} days, next to {int((~portfolio.new).sum())} mature series"
    )
    return title + "\n\n" + table(header, rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new", type=int, default=600, help="new accounts")
    parser.add_argument("--mature", type=int, default=150, help="mature accounts")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--sensitivity", default="medium", choices=("low", "medium", "high"))
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    portfolio = generate(new=args.new, mature=args.mature, seed=args.seed)
    results = [
        evaluate(portfolio, mode, sensitivity=args.sensitivity)
        for mode in ("off", "cohort", "nearest")
    ]
    print(render(results, portfolio))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
