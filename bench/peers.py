"""Three textbook detectors that speak the engine's CLI contract, as yardsticks.

    .venv/bin/python bench/peers.py {naive_z,rolling_iqr,stl_mad} INPUT.csv [--backtest]

- naive_z: trailing 28-day mean and standard deviation (today excluded), flag |z| > 3.
- rolling_iqr: trailing 28-day quartiles, flag outside [Q1 - 3 IQR, Q3 + 3 IQR].
- stl_mad: per series STL(period=7, robust) refit every 7 days on the trailing 56 days;
  each day of the next week is forecast as the last trend value plus the seasonal value of
  the same weekday; flag |residual| > 3.5 robust sigmas (MAD) of the fit's residuals.

Every flag on day t uses only data up to t, so the flags of one pass over the file are what
a scan run every day would have raised: the backtest is that pass. Events are runs of flagged
days of one sign, bridged across a single unflagged or missing day, and are printed as JSON
lines; without --backtest only events still open on the last day are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from anomalies.detection.vocabulary import AnomalyType  # noqa: E402
from bench.series_io import WideSeries, read_wide  # noqa: E402

WINDOW_DAYS = 28
Z_THRESHOLD = 3.0
IQR_FACTOR = 3.0
# Below this many observed days in the trailing window a rule stays silent.
MIN_HISTORY_DAYS = 14
STL_WINDOW_DAYS = 56
STL_REFIT_DAYS = 7
STL_PERIOD = 7
# MAD of a normal sample times this is its standard deviation.
MAD_TO_SIGMA = 1.4826
STL_THRESHOLD_SIGMAS = 3.5
# An STL window with more missing days than this is not fitted; its week gets no flags.
STL_MAX_MISSING = 14

DESCRIPTIONS = {
    "naive_z": "|z| > 3 against the trailing 28-day mean and standard deviation",
    "rolling_iqr": "outside the trailing 28-day quartiles by more than 3 IQR",
    "stl_mad": "STL forecast residual beyond 3.5 robust sigmas",
}


def _trailing(values: np.ndarray) -> pd.core.window.Rolling:
    # Days down the rows so pandas rolls along time; shift(1) keeps today out of its own
    # baseline.
    frame = pd.DataFrame(values.T).shift(1)
    return frame.rolling(WINDOW_DAYS, min_periods=MIN_HISTORY_DAYS)


def naive_z(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flags (-1, 0, +1) and the expected value for every series and day."""
    roll = _trailing(values)
    mean = roll.mean().to_numpy().T
    sd = roll.std().to_numpy().T
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (values - mean) / sd
    flagged = np.abs(z) > Z_THRESHOLD
    return np.where(flagged, np.sign(values - mean), 0).astype(np.int8), mean


def rolling_iqr(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    roll = _trailing(values)
    q1 = roll.quantile(0.25).to_numpy().T
    q3 = roll.quantile(0.75).to_numpy().T
    median = roll.median().to_numpy().T
    iqr = q3 - q1
    with np.errstate(invalid="ignore"):
        low = values < q1 - IQR_FACTOR * iqr
        high = values > q3 + IQR_FACTOR * iqr
    flags = np.where(low, -1, np.where(high, 1, 0)).astype(np.int8)
    return flags, median


def _stl_one(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from statsmodels.tsa.seasonal import STL

    n = row.size
    flags = np.zeros(n, dtype=np.int8)
    expected = np.full(n, np.nan)
    idx = np.arange(STL_WINDOW_DAYS)
    for k in range(STL_WINDOW_DAYS, n, STL_REFIT_DAYS):
        window = row[k - STL_WINDOW_DAYS : k]
        ok = ~np.isnan(window)
        if (~ok).sum() > STL_MAX_MISSING:
            continue
        filled = np.interp(idx, idx[ok], window[ok])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = STL(filled, period=STL_PERIOD, robust=True).fit()
        resid = fit.resid
        mad = np.median(np.abs(resid - np.median(resid)))
        limit = STL_THRESHOLD_SIGMAS * MAD_TO_SIGMA * mad
        week = min(STL_REFIT_DAYS, n - k)
        # Day k + m has the weekday of window position 56 - 7 + m.
        forecast = fit.trend[-1] + fit.seasonal[STL_WINDOW_DAYS - STL_PERIOD :][:week]
        actual = row[k : k + week]
        expected[k : k + week] = forecast
        with np.errstate(invalid="ignore"):
            flagged = np.abs(actual - forecast) > limit
        flags[k : k + week] = np.where(flagged, np.sign(actual - forecast), 0)
    return flags, expected


def stl_mad(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    workers = max(1, min(os.cpu_count() or 1, 8))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_stl_one, list(values), chunksize=8))
    flags = np.vstack([r[0] for r in results]) if results else np.zeros_like(values, np.int8)
    expected = np.vstack([r[1] for r in results]) if results else np.full_like(values, np.nan)
    return flags, expected


DETECTORS = {"naive_z": naive_z, "rolling_iqr": rolling_iqr, "stl_mad": stl_mad}


def flag_runs(flags: np.ndarray, sign: int) -> list[tuple[int, int]]:
    """Runs (first, last index) of days flagged with `sign` in one series, bridged across a
    single day that is unflagged or missing (but not across a day flagged the other way)."""
    idx = np.flatnonzero(flags == sign)
    if idx.size == 0:
        return []
    gap = np.diff(idx)
    breaks = gap > 2
    one_day = np.flatnonzero(gap == 2)
    breaks[one_day] |= flags[idx[one_day] + 1] == -sign
    cut = np.flatnonzero(breaks)
    starts = np.concatenate([[idx[0]], idx[cut + 1]])
    ends = np.concatenate([idx[cut], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _severity(deviation_percent: float) -> str:
    size = abs(deviation_percent)
    return "high" if size >= 50 else "medium" if size >= 25 else "low"


def events(wide: WideSeries, flags: np.ndarray, expected: np.ndarray, detector: str) -> list[dict]:
    out = []
    for i, sid in enumerate(wide.series_ids):
        for sign in (-1, 1):
            for s, e in flag_runs(flags[i], sign):
                days = slice(s, e + 1)
                hit = flags[i, days] == sign
                baseline = float(np.nanmean(expected[i, days][hit]))
                actual = float(np.nanmean(wide.values[i, days][hit]))
                deviation = 100.0 * (actual - baseline) / abs(baseline) if baseline else 0.0
                out.append(
                    {
                        "series_id": sid,
                        "start": wide.day(s).isoformat(),
                        "end": None if e >= wide.last[i] else wide.day(e).isoformat(),
                        "detected_at": wide.day(s).isoformat(),
                        "type": AnomalyType.DROP if sign < 0 else AnomalyType.SPIKE,
                        "severity": _severity(deviation),
                        "direction": "down" if sign < 0 else "up",
                        "baseline": round(baseline, 2),
                        "actual": round(actual, 2),
                        "deviation_percent": round(deviation, 1),
                        "possible_cause": f"{detector}: {DESCRIPTIONS[detector]}",
                    }
                )
    out.sort(key=lambda ev: (ev["detected_at"], ev["series_id"]))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detector", choices=sorted(DETECTORS))
    parser.add_argument("input", type=Path)
    parser.add_argument("--backtest", action="store_true")
    # Accepted so any caller of the engine can call a peer; the peers have one setting.
    parser.add_argument("--sensitivity", choices=("low", "medium", "high"), default="medium")
    args = parser.parse_args(argv)
    wide = read_wide(args.input)
    flags, expected = DETECTORS[args.detector](wide.values)
    found = events(wide, flags, expected, args.detector)
    if not args.backtest:
        found = [ev for ev in found if ev["end"] is None]
    sys.stdout.writelines(json.dumps(ev) + "\n" for ev in found)


if __name__ == "__main__":
    main()
