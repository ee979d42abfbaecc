"""The detection engine's entry points: `detect` (many series at once), `detect_series` (one
series, the batch path with a batch of one) and `series_trace` / `series_traces` (what the
replay expected of each day of one series, or of one account's series at once, for charts).

How a day is judged, module by module:

- baseline.py: each series' clean history (log1p, Huber-clipped normal days, imputed
  anomalous, missing and excused days) through the linear STL operator gives the forecast
  and its one-step spread;
- coldstart.py: a series with under 8 weeks of history borrows the weekly profile and
  spread of its cohort or its most similar peers;
- flags.py: a day is flagged when its robust z, its Tukey fence and its percentage change
  all agree, and excused for a holiday, last year's same season or the whole portfolio
  moving with it; the bars carry each series' evidence factor learned from its reviews
  (learned.py);
- events.py: runs of flagged days become events, and past the horizon the new normal;
- patterns.py: slow level changes and changed weekly habits;
- summaries.py: events as findings with baseline, actual, band, type, severity and cause;
- replay.py: the day loop that ties them together.

Nothing here reads a clock, a database or settings: the caller passes the data and the day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import inputs
from .config import SHARED_FIELDS, DetectionConfig, preset
from .flags import Thresholds
from .replay import Replay
from .types import DetectionResult, Finding, SeriesBatch, SeriesHints


def detect(
    batch: SeriesBatch,
    *,
    config: DetectionConfig | Sequence[DetectionConfig] | None = None,
    backtest: bool = False,
    as_of: dt.date | None = None,
    hints: SeriesHints | None = None,
) -> DetectionResult:
    """Find anomalous events in many daily series at once.

    `config` is one config for all series or one per series (their statistical fields must
    agree; thresholds may differ). Without `backtest` the result holds the events a scan on
    `as_of` (default: the batch's last day) reconstructs from its replay window, ongoing ones
    with `end=None`; with it, every event of a day-by-day replay of the whole batch.
    """
    shared, thresholds = inputs.resolve_configs(config, batch.n_series)
    values = inputs.validated_values(batch)
    if as_of is not None:
        last = batch.index_of(as_of)
        if not 0 <= last < batch.n_days:
            last_day = batch.day(batch.n_days - 1)
            raise ValueError(f"as_of {as_of} is outside the data ({batch.start} to {last_day})")
        values = values[:, : last + 1]
    values = inputs.apply_hints(values, hints)
    evidence = inputs.evidence_factors(hints, batch)
    if values.shape[1] == 0 or batch.n_series == 0:
        return DetectionResult([], [], as_of)
    bars = Thresholds.from_arrays(thresholds, evidence)
    # Astronomic inputs (1e300) overflow expm1 and ratios to inf; those end up as null in
    # JSON rather than as warnings in a worker's log.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        replay = Replay(batch, values, shared, bars, backtest=backtest)
        replay.run()
        findings = replay.findings()
    return DetectionResult(
        findings,
        replay.portfolio_events(),
        batch.day(values.shape[1] - 1),
        replay.cohort_events(),
    )


def detect_series(
    values: Sequence[float] | np.ndarray,
    *,
    start: dt.date,
    series_id: str = "series",
    config: DetectionConfig | None = None,
    backtest: bool = False,
    as_of: dt.date | None = None,
) -> list[Finding]:
    """One series (NaN or None for missing days); the batch path with a batch of one."""
    row = np.asarray([np.nan if v is None else v for v in values], dtype=float)[None, :]
    account, _, metric = series_id.rpartition("/")
    batch = SeriesBatch(row, start, (series_id,), (metric or series_id,), (account or series_id,))
    return detect(batch, config=config, backtest=backtest, as_of=as_of).findings


@dataclass(frozen=True)
class SeriesTrace:
    """What the replay expected of each day of one series: for charts and the API."""

    start: dt.date
    actual: np.ndarray
    expected: np.ndarray
    expected_low: np.ndarray
    expected_high: np.ndarray
    flagged: np.ndarray  # -1, 0 or +1 per day


def series_trace(
    values: Sequence[float] | np.ndarray,
    *,
    start: dt.date,
    metric: str = "series",
    config: DetectionConfig | None = None,
) -> SeriesTrace:
    """Replay one series day by day and return each day's expectation and band (NaN until the
    series has enough history). Same computation as `detect(..., backtest=True)`."""
    row = np.asarray([np.nan if v is None else v for v in values], dtype=float)[None, :]
    configs = [config if config is not None else preset("medium")]
    return series_traces(row, start=start, metrics=[metric], configs=configs)[0]


def series_traces(
    values: np.ndarray,
    *,
    start: dt.date,
    metrics: Sequence[str],
    configs: Sequence[DetectionConfig],
) -> list[SeriesTrace]:
    """`series_trace` of each row of `values` (one account's metrics, on one calendar), in as
    few replays as their configs allow: row i is what `series_trace(values[i],
    metric=metrics[i], config=configs[i])` returns, at a fraction of the cost (the day loop's
    fixed cost is paid once for all rows instead of once per row).

    The rows replay as the metrics of one account: nothing in the replay lets one metric of
    an account borrow from or excuse another (the cold-start prior, the cohort and the
    portfolio guards look at other accounts only), so each row's trace is its own. Rows
    whose configs differ in a statistical field (not only in thresholds) replay apart."""
    rows = np.asarray(values, dtype=float)
    if rows.ndim != 2 or rows.shape[0] != len(metrics) or len(metrics) != len(configs):
        raise ValueError(
            f"values of shape {rows.shape} for {len(metrics)} metrics and {len(configs)} configs"
        )
    replays: dict[tuple, list[int]] = {}
    for index, config in enumerate(configs):
        key = tuple(getattr(config, name) for name in SHARED_FIELDS)
        replays.setdefault(key, []).append(index)
    traces: dict[int, SeriesTrace] = {}
    for members in replays.values():
        replayed = _replay_traces(
            rows[members],
            start=start,
            metrics=[metrics[i] for i in members],
            configs=[configs[i] for i in members],
        )
        traces.update(zip(members, replayed, strict=True))
    return [traces[i] for i in range(len(metrics))]


def _replay_traces(
    rows: np.ndarray,
    *,
    start: dt.date,
    metrics: list[str],
    configs: list[DetectionConfig],
) -> list[SeriesTrace]:
    n = rows.shape[0]
    # One account ("series") for all rows: see series_traces.
    batch = SeriesBatch(
        rows, start, tuple(f"series/{m}" for m in metrics), tuple(metrics), ("series",) * n
    )
    shared, thresholds = inputs.resolve_configs(configs, n)
    checked = inputs.validated_values(batch)
    bars = Thresholds.from_arrays(thresholds, np.ones((n, 2)))
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        replay = Replay(batch, checked, shared, bars, backtest=True)
        replay.run()
        f, s = replay.record.forecast, replay.record.sigma  # (days, series)
        z = thresholds["z_threshold"]
        decided = replay.histt[:-1] >= shared.min_points
        expected = np.where(decided, np.expm1(f), np.nan)
        low = np.where(decided, np.maximum(np.expm1(f - z * s), 0.0), np.nan)
        high = np.where(decided, np.expm1(f + z * s), np.nan)
    flags = replay.record.flag
    return [
        SeriesTrace(start, rows[i], expected[:, i], low[:, i], high[:, i], flags[:, i].copy())
        for i in range(n)
    ]
