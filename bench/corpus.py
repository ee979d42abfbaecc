"""A labeled synthetic corpus of SaaS usage for the accuracy benchmark.

    .venv/bin/python bench/corpus.py --out bench/out/corpus [--accounts 60] [--days 730]
        [--seed 7] [--end 2026-10-31]

Writes, under --out: series.csv (series_id,date,value; empty value = missing day),
labels.csv (series_id,start,end,type), outage.csv (start,end) and corpus_meta.json.

Each series is level x growth x weekly profile x recurring holidays x slow AR(1) drift x
lognormal noise, drawn through a Poisson so small accounts are as noisy as real ones. The
holiday calendar is the same every year and for every account, so a detector that has seen
a year can learn it. About half of the series carry one injected anomaly; the rest are
clean and measure false alarms. Everything follows from --seed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomalies.detection.vocabulary import (  # noqa: E402
    ACTIVE_USERS,
    API_CALLS,
    LOGINS,
    PEOPLE_METRICS,
    AnomalyType,
    feature_metric,
    is_feature_metric,
)
from customers.usage_series import ar1  # noqa: E402

FEATURES = tuple(
    feature_metric(name)
    for name in ("reports", "exports", "dashboards", "alerts", "integrations", "sso")
)
ACCOUNT_WORDS = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "aperture",
    "nakatomi",
    "oscorp",
    "piedpiper",
    "massive",
    "dunder",
    "gringotts",
    "monarch",
)
# The types the corpus injects: every engine type but seasonal deviations, which the corpus's
# calendar makes by itself.
LABEL_TYPES = (
    AnomalyType.DROP,
    AnomalyType.SPIKE,
    AnomalyType.FEATURE_ABANDONMENT,
    AnomalyType.PATTERN_CHANGE,
    AnomalyType.GRADUAL_DECLINE,
)

# api_calls per weekday, log-uniform over this range: a trial account to a large integration.
API_CALLS_RANGE = (5.0, 200_000.0)
# No injection before this day: detectors need history, and the first months are warm-up.
FIRST_INJECTION_DAY = 150
# Permanent changes (level shift, abandonment) are labeled with this window, the days in
# which a detector is expected to notice them; reports on later days are not credited.
PERMANENT_WINDOW_DAYS = 28
# Injections stay this many days clear of holidays and of the outage, so a label never
# coincides with a dip that the calendar alone explains.
CALENDAR_CLEARANCE_DAYS = 3
# Share of series that carry an injected anomaly; the rest are clean.
LABELED_SHARE = 0.47
# A series whose day-to-day coefficient of variation (noise plus Poisson) exceeds this is
# never injected: a -40% drop there is within a day's noise, and labeling it would measure
# luck rather than detection.
MAX_INJECTABLE_CV = 0.25
# The outage keeps this far from any holiday, so its dip cannot be mistaken for one.
OUTAGE_HOLIDAY_CLEARANCE_DAYS = 10


@dataclass
class Corpus:
    """A generated corpus: `values[i, j]` is series i on day `start + j` (NaN = missing)."""

    start: dt.date
    series_ids: list[str]
    accounts: list[str]
    metrics: list[str]
    values: np.ndarray
    labels: list[dict]
    outage: tuple[dt.date, dt.date]
    series_meta: list[dict] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=j) for j in range(self.values.shape[1])]


def thanksgiving(year: int) -> dt.date:
    """US Thanksgiving: the fourth Thursday of November."""
    first = dt.date(year, 11, 1)
    first_thursday = first + dt.timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + dt.timedelta(weeks=3)


def holiday_profile(dates: list[dt.date]) -> dict[str, np.ndarray]:
    """Per holiday, the share of that holiday's full depth felt on each day (0..1).

    Christmas to New Year is one block (New Year's Day at full depth inside it); August is a
    mild, smooth summer dip rather than a holiday, and injections may overlap it.
    """
    n = len(dates)
    prof = {name: np.zeros(n) for name in ("winter", "thanksgiving", "july4", "august")}
    for j, d in enumerate(dates):
        if (d.month == 12 and d.day >= 24) or (d.month == 1 and d.day == 1):
            prof["winter"][j] = 1.0 if (d.month, d.day) in {(12, 25), (1, 1)} else 0.75
        if d.month == 12 and d.day == 24:
            prof["winter"][j] = 0.55
        tg = thanksgiving(d.year)
        if d == tg:
            prof["thanksgiving"][j] = 1.0
        elif d == tg + dt.timedelta(days=1):
            prof["thanksgiving"][j] = 0.7
        if d.month == 7 and d.day == 4:
            prof["july4"][j] = 1.0
        if d.month == 8:
            prof["august"][j] = np.sin(np.pi * (d.day - 0.5) / 31) ** 2
    return prof


def holiday_mask(dates: list[dt.date]) -> np.ndarray:
    """Days on which some holiday (not the August dip) lowers usage."""
    prof = holiday_profile(dates)
    return (prof["winter"] > 0) | (prof["thanksgiving"] > 0) | (prof["july4"] > 0)


def _dilate(mask: np.ndarray, days: int) -> np.ndarray:
    out = mask.copy()
    for k in range(1, days + 1):
        out[k:] |= mask[:-k]
        out[:-k] |= mask[k:]
    return out


def _drift(rng: np.random.Generator, n: int, sd: float, phi: float = 0.98) -> np.ndarray:
    # Stationary AR(1) with marginal sd `sd`: a slow wander of a few percent, not noise. Its
    # draws in this order (the innovations, then the first day) keep each seed's corpus.
    innovations = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    return ar1(rng.normal(0.0, sd), innovations, phi=phi)


def _pick_outage(rng: np.random.Generator, dates: list[dt.date]) -> int:
    n = len(dates)
    near_holiday = _dilate(holiday_mask(dates), OUTAGE_HOLIDAY_CLEARANCE_DAYS)
    lo = min(365, max(n // 2, FIRST_INJECTION_DAY))
    candidates = [j for j in range(lo, n - 14) if not near_holiday[j] and not near_holiday[j + 1]]
    if not candidates:
        raise ValueError(f"no room for the outage in {n} days; use --days >= 200")
    return int(rng.choice(candidates))


def _pick_start(
    rng: np.random.Generator, forbidden: np.ndarray, span: int, n_days: int
) -> int | None:
    """A start day whose [start, start + span) window avoids `forbidden`, or None."""
    last = n_days - span
    if last < FIRST_INJECTION_DAY:
        return None
    for _ in range(200):
        s = int(rng.integers(FIRST_INJECTION_DAY, last + 1))
        if not forbidden[s : s + span].any():
            return s
    return None


def _effect(kind: str, rng: np.random.Generator, n_days: int, start: int, cv: float):
    """The multiplicative effect of one injection on the series mean, and its label end.

    Magnitudes are drawn from the issue's ranges, raised for noisy series so that the
    anomaly stands out from a day's noise by about three of its standard deviations.
    """
    f = np.ones(n_days)
    if kind == AnomalyType.DROP:
        length = int(rng.integers(3, 21))
        depth = rng.uniform(min(0.9, max(0.4, 3 * cv)), 0.9)
        f[start : start + length] = 1 - depth
        return f, start + length - 1, {"depth": round(depth, 3), "days": length}
    if kind == AnomalyType.SPIKE:
        length = int(rng.integers(3, 16))
        rise = rng.uniform(min(3.0, max(0.6, 4 * cv)), 3.0)
        f[start : start + length] = 1 + rise
        return f, start + length - 1, {"rise": round(rise, 3), "days": length}
    if kind == AnomalyType.FEATURE_ABANDONMENT:
        remaining = rng.uniform(0.0, 0.05)
        # Most abandonments are for good; some users come back after a month or more.
        if rng.random() < 0.7:
            stop = n_days
        else:
            stop = min(n_days, start + int(rng.integers(30, 91)))
        f[start:stop] = remaining
        end = start + PERMANENT_WINDOW_DAYS - 1
        return f, end, {"remaining": round(remaining, 3), "until": stop - 1}
    if kind == AnomalyType.PATTERN_CHANGE:
        if rng.random() < 0.6:
            shift = -rng.uniform(0.35, 0.60)
        else:
            shift = rng.uniform(0.50, 1.00)
        f[start:] = 1 + shift
        return f, start + PERMANENT_WINDOW_DAYS - 1, {"shift": round(shift, 3)}
    if kind == AnomalyType.GRADUAL_DECLINE:
        ramp = int(rng.integers(30, 61))
        depth = rng.uniform(0.40, 0.70)
        f[start : start + ramp] = 1 - depth * np.arange(1, ramp + 1) / ramp
        f[start + ramp :] = 1 - depth
        return f, start + ramp - 1, {"depth": round(depth, 3), "ramp_days": ramp}
    raise ValueError(f"unknown injection kind {kind!r}")


# How long a label window can run, to find a start that fits before the series ends.
MAX_SPAN = {
    AnomalyType.DROP: 20,
    AnomalyType.SPIKE: 15,
    AnomalyType.FEATURE_ABANDONMENT: PERMANENT_WINDOW_DAYS,
    AnomalyType.PATTERN_CHANGE: PERMANENT_WINDOW_DAYS,
    AnomalyType.GRADUAL_DECLINE: 60,
}
# Which anomalies a single series of each metric kind gets, and how often.
_CORE_KINDS = (
    AnomalyType.DROP,
    AnomalyType.SPIKE,
    AnomalyType.PATTERN_CHANGE,
    AnomalyType.GRADUAL_DECLINE,
)
SINGLE_KINDS = {
    API_CALLS: (_CORE_KINDS, (0.4, 0.15, 0.25, 0.2)),
    LOGINS: (_CORE_KINDS, (0.3, 0.2, 0.25, 0.25)),
    ACTIVE_USERS: (_CORE_KINDS, (0.3, 0.15, 0.3, 0.25)),
    # Sudden drops that recover are an account or integration matter, so core metrics only.
    "feature": ((AnomalyType.FEATURE_ABANDONMENT, *_CORE_KINDS[1:]), (0.45, 0.15, 0.2, 0.2)),
}


def generate(
    *, accounts: int = 60, days: int = 730, seed: int = 7, end: dt.date = dt.date(2026, 10, 31)
) -> Corpus:
    """Generate the corpus in memory; the same arguments always give the same corpus."""
    if accounts < 1:
        raise ValueError(f"accounts must be >= 1, got {accounts}")
    if days < 200:
        raise ValueError(f"days must be >= 200 (150 warm-up days plus room), got {days}")
    rng = np.random.default_rng(seed)
    start = end - dt.timedelta(days=days - 1)
    dates = [start + dt.timedelta(days=j) for j in range(days)]
    weekday = np.array([d.weekday() for d in dates])
    t_years = np.arange(days) / 365.25
    prof = holiday_profile(dates)
    outage_day = _pick_outage(rng, dates)
    outage_mask = np.zeros(days, dtype=bool)
    outage_mask[outage_day : outage_day + 2] = True
    forbidden = _dilate(holiday_mask(dates) | outage_mask, CALENDAR_CLEARANCE_DAYS)

    series_ids, account_of, metric_of, means, meta = [], [], [], [], []
    log_lo, log_hi = np.log(API_CALLS_RANGE[0]), np.log(API_CALLS_RANGE[1])
    for a in range(accounts):
        account = f"{ACCOUNT_WORDS[a % len(ACCOUNT_WORDS)]}-{a:02d}"
        api_level = float(np.exp(rng.uniform(log_lo, log_hi)))
        size = (np.log(api_level) - log_lo) / (log_hi - log_lo)  # 0 = smallest, 1 = largest
        users = max(1.0, api_level**0.75 * rng.uniform(0.5, 1.5))
        growth = 0.0 if rng.random() < 0.25 else rng.uniform(-0.25, 0.60)
        account_noise = 0.03 + 0.09 * (1 - size) + rng.uniform(0, 0.03)
        depth_jitter = rng.uniform(0.8, 1.2)
        n_features = int(rng.integers(1, 4))
        features = list(rng.choice(FEATURES, size=n_features, replace=False))
        levels = {
            API_CALLS: api_level,
            ACTIVE_USERS: users,
            LOGINS: users * rng.uniform(1.2, 2.5),
        }
        for feat in features:
            levels[feat] = users * rng.uniform(0.1, 0.7)
        for metric, level in levels.items():
            human = metric != API_CALLS
            weekend_dip = rng.uniform(0.4, 0.8) if human else rng.uniform(0.05, 0.25)
            week = np.ones(7)
            week[4] = 1 - 0.15 * weekend_dip  # Fridays are a little quieter
            week[5] = 1 - weekend_dip * rng.uniform(0.9, 1.0)
            week[6] = 1 - weekend_dip
            # Machines keep calling APIs over holidays; people stop logging in.
            h_scale = (1.0 if human else 0.4) * depth_jitter * rng.uniform(0.9, 1.1)
            log_holiday = (
                np.log(1 - min(0.7, 0.5 * h_scale) * prof["winter"])
                + np.log(1 - min(0.7, 0.5 * h_scale) * prof["thanksgiving"])
                + np.log(1 - min(0.7, 0.45 * h_scale) * prof["july4"])
                + np.log(1 - rng.uniform(0.10, 0.20) * prof["august"] * (1 if human else 0.5))
            )
            g = growth + rng.normal(0, 0.05)
            noise = float(np.clip(account_noise + rng.normal(0, 0.01), 0.03, 0.15))
            mean = (
                level
                * (1 + g) ** t_years
                * week[weekday]
                * np.exp(log_holiday)
                * np.exp(_drift(rng, days, rng.uniform(0.01, 0.04)))
            )
            series_ids.append(f"{account}/{metric}")
            account_of.append(account)
            metric_of.append(metric)
            means.append(mean)
            cv = float(np.sqrt(noise**2 + 1 / level))
            meta.append(
                {
                    "series_id": f"{account}/{metric}",
                    "account": account,
                    "metric": metric,
                    "level": round(level, 2),
                    "growth_per_year": round(g, 3),
                    "noise": round(noise, 3),
                    "cv": round(cv, 3),
                    "clean": True,
                }
            )
    n = len(series_ids)
    effect = np.ones((n, days))
    labels: list[dict] = []
    labeled = np.zeros(n, dtype=bool)
    injectable = np.array([m["cv"] <= MAX_INJECTABLE_CV for m in meta])

    def inject(i: int, kind: str, s: int) -> None:
        f, end_idx, params = _effect(kind, rng, days, s, meta[i]["cv"])
        effect[i] *= f
        labeled[i] = True
        meta[i]["clean"] = False
        meta[i]["injection"] = {"type": kind, **params}
        labels.append(
            {
                "series_id": series_ids[i],
                "start": dates[s].isoformat(),
                "end": dates[end_idx].isoformat(),
                "type": kind,
            }
        )

    def inject_together(i: int, kind: str, s: int, length: int, magnitude: float) -> None:
        # One member of an account-wide event: same start, length and size everywhere.
        effect[i, s : s + length] *= 1 - magnitude if kind == AnomalyType.DROP else 1 + magnitude
        labeled[i] = True
        meta[i]["clean"] = False
        key = "depth" if kind == AnomalyType.DROP else "rise"
        meta[i]["injection"] = {
            "type": kind,
            key: round(magnitude, 3),
            "days": length,
            "account_wide": True,
        }
        labels.append(
            {
                "series_id": series_ids[i],
                "start": dates[s].isoformat(),
                "end": dates[s + length - 1].isoformat(),
                "type": kind,
            }
        )

    # Account-wide events first: a churning account loses all its usage at once, and a
    # team onboarding wave lifts logins and active users together.
    by_account: dict[str, list[int]] = {}
    for i, acc in enumerate(account_of):
        by_account.setdefault(acc, []).append(i)
    for acc in sorted(by_account):
        members = by_account[acc]
        roll = rng.random()
        # Churn only where every series can show it: a drop left unlabeled on a noisy
        # series would turn a true detection into a false alarm.
        if roll < 0.10 and injectable[members].all():
            s = _pick_start(rng, forbidden, MAX_SPAN[AnomalyType.DROP], days)
            if s is not None:
                length, depth = int(rng.integers(3, 21)), rng.uniform(0.5, 0.9)
                for i in members:
                    inject_together(i, AnomalyType.DROP, s, length, depth)
        elif roll < 0.20:
            pair = [i for i in members if metric_of[i] in PEOPLE_METRICS]
            s = _pick_start(rng, forbidden, MAX_SPAN[AnomalyType.SPIKE], days)
            if injectable[pair].all() and s is not None:
                length, rise = int(rng.integers(3, 16)), rng.uniform(0.8, 3.0)
                for i in pair:
                    inject_together(i, AnomalyType.SPIKE, s, length, rise)

    # Then single-series events until the labeled share is reached.
    wanted = int(round(LABELED_SHARE * n)) - int(labeled.sum())
    pool = [i for i in range(n) if injectable[i] and not labeled[i]]
    for i in rng.permutation(pool)[: max(0, wanted)]:
        i = int(i)
        key = "feature" if is_feature_metric(metric_of[i]) else metric_of[i]
        kinds, weights = SINGLE_KINDS[key]
        kind = str(rng.choice(kinds, p=weights))
        s = _pick_start(rng, forbidden, MAX_SPAN[kind], days)
        if s is not None:
            inject(i, kind, s)

    mean = np.vstack(means) * effect
    # Partial ingestion: every series of the portfolio reads only a fraction of its usage.
    mean[:, outage_mask] *= rng.uniform(0.05, 0.25, size=(n, 1))
    noise_sd = np.array([m["noise"] for m in meta])[:, None]
    lam = mean * np.exp(rng.normal(0, 1, size=mean.shape) * noise_sd - noise_sd**2 / 2)
    values = rng.poisson(lam).astype(float)

    values[rng.random(values.shape) < 0.01] = np.nan
    # Runs of missing days stay out of label windows: an anomaly nobody could see is not a
    # fair miss. Single missing days may land anywhere.
    in_label = np.zeros_like(values, dtype=bool)
    index_of = {sid: i for i, sid in enumerate(series_ids)}
    for lab in labels:
        i = index_of[lab["series_id"]]
        s = (dt.date.fromisoformat(lab["start"]) - start).days
        e = (dt.date.fromisoformat(lab["end"]) - start).days
        in_label[i, max(0, s - 3) : e + 4] = True
    for i in range(n):
        if rng.random() < 0.15:
            length = int(rng.integers(3, 8))
            for _ in range(50):
                s = int(rng.integers(0, days - length))
                if not in_label[i, s : s + length].any():
                    values[i, s : s + length] = np.nan
                    meta[i]["missing_run"] = [
                        dates[s].isoformat(),
                        dates[s + length - 1].isoformat(),
                    ]
                    break

    labels.sort(key=lambda r: (r["series_id"], r["start"]))
    return Corpus(
        start=start,
        series_ids=series_ids,
        accounts=account_of,
        metrics=metric_of,
        values=values,
        labels=labels,
        outage=(dates[outage_day], dates[outage_day + 1]),
        series_meta=meta,
        params={"accounts": accounts, "days": days, "seed": seed, "end": end.isoformat()},
    )


def series_frame(corpus: Corpus) -> pd.DataFrame:
    """The long `series_id,date,value` frame, values as nullable integers."""
    n, days = corpus.values.shape
    dates = pd.date_range(corpus.start, periods=days, freq="D").strftime("%Y-%m-%d")
    return pd.DataFrame(
        {
            "series_id": np.repeat(corpus.series_ids, days),
            "date": np.tile(dates, n),
            "value": pd.array(corpus.values.ravel(), dtype="Float64").astype("Int64"),
        }
    )


def write(corpus: Corpus, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    series_frame(corpus).to_csv(out / "series.csv", index=False, na_rep="")
    pd.DataFrame(corpus.labels, columns=["series_id", "start", "end", "type"]).to_csv(
        out / "labels.csv", index=False
    )
    o_start, o_end = corpus.outage
    (out / "outage.csv").write_text(f"start,end\n{o_start.isoformat()},{o_end.isoformat()}\n")
    meta = {
        "args": corpus.params,
        "start": corpus.start.isoformat(),
        "end": corpus.dates[-1].isoformat(),
        "days": corpus.values.shape[1],
        "outage": {"start": o_start.isoformat(), "end": o_end.isoformat()},
        "series": corpus.series_meta,
    }
    (out / "corpus_meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def summary(corpus: Corpus) -> str:
    n = len(corpus.series_ids)
    clean = sum(m["clean"] for m in corpus.series_meta)
    by_type = {t: 0 for t in LABEL_TYPES}
    for lab in corpus.labels:
        by_type[lab["type"]] += 1
    missing = int(np.isnan(corpus.values).sum())
    return (
        f"{n} series in {len(set(corpus.accounts))} accounts, {corpus.values.shape[1]} days "
        f"({corpus.start} .. {corpus.dates[-1]}); {clean} clean; {len(corpus.labels)} labels: "
        + ", ".join(f"{t} {c}" for t, c in by_type.items())
        + f"; outage {corpus.outage[0]} .. {corpus.outage[1]}; {missing} missing values"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/corpus"))
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 10, 31))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        corpus = generate(accounts=args.accounts, days=args.days, seed=args.seed, end=args.end)
    except ValueError as exc:
        sys.exit(f"bench/corpus.py: {exc}")
    write(corpus, args.out)
    print(f"{summary(corpus)}; written to {args.out} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
