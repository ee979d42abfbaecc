"""The usage health score: how an account's usage is doing, 0 (gone) to 100 (growing, no
open problems), from its usage trend and its open anomalies.

Pure numbers, like the rest of the engine: arrays in, arrays out; no Django, no clock. The
scan writes one score per scanned account and day (`anomalies.services.health`), the demo
computes its history with the same functions, and the customer page explains a score with
`anomaly_points`.

The formula
-----------

1. **Trend ratio per series.** The last `RECENT_DAYS` days (t-13..t) against the
   `BASELINE_DAYS` days before them (t-97..t-14), weekday for weekday: each recent day with
   data is expected to be its weekday's mean over the baseline, and the ratio is the recent
   days' sum over what was expected of them. Missing days and holidays (public holidays,
   bridge days, the year-end season: the engine's calendar) are left out of both windows,
   so a quiet Thanksgiving is no decline. A series with fewer than `MIN_RECENT_PRESENT`
   recent or `MIN_BASELINE_PRESENT` baseline days with data, or a zero baseline, has no
   ratio (missing data is not a drop). Each ratio is capped at
   `SERIES_RATIO_CAP` (1.25, the curve's full marks), so one metric's boom cannot hide
   another's collapse.
2. **Trend ratio per account.** The plain mean of its core metrics' ratios (API calls,
   logins, active users: what the account pays for); an account with none of them uses all
   its metrics. An account with no ratio at all reads as steady (`UNKNOWN_TREND_RATIO`).
3. **Trend points** from the ratio on the piecewise-linear `TREND_CURVE`: 0 at ratio 0,
   20 at 0.5 (usage halved), 80 at 1.0 (steady), 100 at 1.25 and above (growing). Steady
   usage is healthy but leaves room: full marks need growth.
4. **Anomaly points.** Each open anomaly moves the score: a loss costs
   `NEGATIVE_POINTS[severity]` (critical 25, warning 12, info 4), a gain of any severity
   earns `POSITIVE_POINTS` (5). Losses together cost at most `PENALTY_CAP` (60), gains earn
   at most `BONUS_CAP` (10). Dismissed and resolved anomalies do not count. An open drop
   also lowers the trend: it is counted twice on purpose, since the trend is slow to show an
   acute loss and the anomaly says it is one.
5. **Usage component** = clip(trend points - capped penalty + capped bonus, 0, 100), to one
   decimal. The **score** is the usage component rounded half up to a whole number: support
   tickets, NPS and other non-usage components are out of scope for Tremor, so the overall
   score is the usage component alone.

Worked example (DataFlow in the demo): API calls fell to a third for the last 5 of 14
recent days, logins and active users steady. Ratios: API calls (9 + 5/3) / 14 = 0.762,
logins 1.0, active users 1.0; account ratio 0.921. Trend points on the curve between
(0.5, 20) and (1.0, 80): 20 + (0.921 - 0.5) / 0.5 x 60 = 70.5. One open critical drop: -25.
Usage component 45.5, score 46.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .vocabulary import CORE_METRICS, Direction, Severity

# Two whole weeks of recent usage against the twelve whole weeks before them.
RECENT_DAYS = 14
BASELINE_DAYS = 84
# Days with data a window needs before it means anything (half of each; the year-end season
# leaves about five of fourteen, and then the trend is unknown, read as steady).
MIN_RECENT_PRESENT = 7
MIN_BASELINE_PRESENT = 42
# One series' ratio counts at most the curve's full marks: growth past them earns nothing
# more, so logins that tripled cannot hide API calls that halved.
SERIES_RATIO_CAP = 1.25
# (trend ratio, points), increasing ratios; np.interp holds the ends beyond them.
TREND_CURVE = ((0.0, 0.0), (0.5, 20.0), (1.0, 80.0), (1.25, 100.0))
# An account whose trend cannot be measured (new, or its data lost) is taken as steady.
UNKNOWN_TREND_RATIO = 1.0
# What one open anomaly costs (losses, by severity) or earns (gains), and the caps on each
# side: a handful of critical drops already says "at risk", more adds nothing.
NEGATIVE_POINTS = {Severity.CRITICAL: 25.0, Severity.WARNING: 12.0, Severity.INFO: 4.0}
POSITIVE_POINTS = 5.0
PENALTY_CAP = 60.0
BONUS_CAP = 10.0
SCORE_MIN, SCORE_MAX = 0.0, 100.0


@dataclass(frozen=True)
class HealthScores:
    """One entry per account, in `accounts` order."""

    accounts: tuple[str, ...]
    trend_ratio: np.ndarray  # NaN where it could not be measured (then read as steady)
    trend_points: np.ndarray
    penalty: np.ndarray  # capped, >= 0
    bonus: np.ndarray  # capped, >= 0
    usage_component: np.ndarray  # 0..100, one decimal
    score: np.ndarray  # int, 0..100


def series_trend_ratios(values: np.ndarray, *, holidays: np.ndarray | None = None) -> np.ndarray:
    """Each series' trend ratio on its last day: one per row of `values` (series x days, the
    last column the day scored, NaN for a missing day), NaN where it is unknown.

    The recent days are compared weekday for weekday: each present recent day is expected to
    be its weekday's mean over the baseline, and the ratio is the recent days' sum over the
    sum of what was expected of them. A lost day or a holiday (`holidays`, a boolean mask
    shaped like `values`) is left out of both windows, so neither a quiet Thanksgiving nor a
    window missing its Friday reads as a decline. Both windows are whole weeks counted back
    from the last day, so their columns line up by weekday without knowing which day is a
    Monday. Capped at SERIES_RATIO_CAP."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-dimensional (series x days), got {values.ndim}")
    span = RECENT_DAYS + BASELINE_DAYS
    n, n_days = values.shape
    skip = np.zeros(values.shape, dtype=bool) if holidays is None else np.asarray(holidays, bool)
    try:
        skip = np.broadcast_to(skip, values.shape)  # one calendar may serve every series
    except ValueError:
        raise ValueError(
            f"holidays must be shaped like values {values.shape}, got {skip.shape}"
        ) from None
    window = np.full((n, span), np.nan)
    keep = min(span, n_days)
    # An infinite value is bad data, not usage: missing, like a lost day.
    window[:, span - keep :] = np.where(skip | ~np.isfinite(values), np.nan, values)[
        :, n_days - keep :
    ]
    # Whole weeks: (series, week, day of the week as counted from the window's first day).
    base = window[:, :BASELINE_DAYS].reshape(n, BASELINE_DAYS // 7, 7)
    recent = window[:, BASELINE_DAYS:].reshape(n, RECENT_DAYS // 7, 7)
    base_n = np.sum(~np.isnan(base), axis=1)
    # Absurdly large values may overflow a sum: that series' ratio is then unknown (below).
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        expected_day = np.nansum(base, axis=1) / base_n  # NaN for a weekday without data
        judged = ~np.isnan(recent) & ~np.isnan(expected_day)[:, None, :]
        actual = np.where(judged, recent, 0.0).sum(axis=(1, 2))
        expected = (judged.sum(axis=1) * np.where(np.isnan(expected_day), 0.0, expected_day)).sum(
            axis=1
        )
        ratio = actual / expected
    known = (
        (judged.sum(axis=(1, 2)) >= MIN_RECENT_PRESENT)
        & (base_n.sum(axis=1) >= MIN_BASELINE_PRESENT)
        & np.isfinite(actual)
        & np.isfinite(expected)
        & (expected > 0)
    )
    return np.where(known & np.isfinite(ratio), np.minimum(ratio, SERIES_RATIO_CAP), np.nan)


def series_trend_ratio_history(
    values: np.ndarray, *, days: int, holidays: np.ndarray | None = None
) -> np.ndarray:
    """series_trend_ratios on each of the last `days` days (fewer if `values` is shorter):
    series x days. A loop over days, each vectorized across series (for the demo's history;
    a scan scores one day)."""
    values = np.asarray(values, dtype=float)
    n_days = values.shape[1]
    out = []
    for end in range(max(n_days - days, 0) + 1, n_days + 1):
        start = max(end - RECENT_DAYS - BASELINE_DAYS, 0)
        out.append(
            series_trend_ratios(
                values[:, start:end],
                holidays=None if holidays is None else np.asarray(holidays)[:, start:end],
            )
        )
    return np.stack(out, axis=1) if out else np.zeros((values.shape[0], 0))


def account_trend_ratios(
    ratios: np.ndarray, *, groups: Sequence[str], metrics: Sequence[str]
) -> tuple[tuple[str, ...], np.ndarray]:
    """The accounts (sorted) and each one's trend ratio: the mean of its core metrics' known
    ratios, or of all its metrics' when it has no core one known; NaN when none is known.
    `ratios` is series x days (or a 1-D array, one ratio per series); `groups` names each
    series' account and `metrics` its metric."""
    ratios = np.asarray(ratios, dtype=float)
    flat = ratios.ndim == 1
    if flat:
        ratios = ratios[:, None]
    if not len(groups) == len(metrics) == ratios.shape[0]:
        raise ValueError(
            f"groups ({len(groups)}) and metrics ({len(metrics)}) must name each of the "
            f"{ratios.shape[0]} series"
        )
    accounts, code = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    known = ~np.isnan(ratios)
    core = np.isin(np.asarray(metrics, dtype=object).astype(str), CORE_METRICS)[:, None]

    def mean_of(mask: np.ndarray) -> np.ndarray:
        total = np.zeros((len(accounts), ratios.shape[1]))
        count = np.zeros_like(total)
        np.add.at(total, code, np.where(mask, ratios, 0.0))
        np.add.at(count, code, mask)
        with np.errstate(divide="ignore", invalid="ignore"):
            return total / count

    core_mean = mean_of(known & core)
    result = np.where(np.isnan(core_mean), mean_of(known), core_mean)
    return tuple(accounts.tolist()), result[:, 0] if flat else result


def trend_points(ratio) -> np.ndarray:
    """Points on TREND_CURVE for each trend ratio; an unknown (NaN) ratio reads as steady."""
    ratio = np.asarray(ratio, dtype=float)
    x, y = zip(*TREND_CURVE, strict=True)
    return np.interp(np.where(np.isnan(ratio), UNKNOWN_TREND_RATIO, ratio), x, y)


def anomaly_points(*, direction: str, severity: str) -> float:
    """What one open anomaly does to the score before the caps: negative for a loss (its
    severity's NEGATIVE_POINTS), POSITIVE_POINTS for a gain."""
    if Direction(direction) == Direction.POSITIVE:
        return POSITIVE_POINTS
    return -NEGATIVE_POINTS[Severity(severity)]


def usage_component(trend_ratio, *, penalty, bonus) -> np.ndarray:
    """clip(trend points - min(penalty, PENALTY_CAP) + min(bonus, BONUS_CAP), 0, 100) to one
    decimal; `penalty` and `bonus` are the uncapped sums of anomaly points (both >= 0)."""
    raw = (
        trend_points(trend_ratio)
        - np.minimum(np.asarray(penalty, dtype=float), PENALTY_CAP)
        + np.minimum(np.asarray(bonus, dtype=float), BONUS_CAP)
    )
    return np.round(np.clip(raw, SCORE_MIN, SCORE_MAX), 1)


def score_of(component) -> np.ndarray:
    """The whole-number score of a usage component, rounded half up."""
    return np.floor(np.asarray(component, dtype=float) + 0.5).astype(int)


def health_scores(
    *,
    values: np.ndarray,
    groups: Sequence[str],
    metrics: Sequence[str],
    anomalies: Iterable[tuple[str, str, str]] = (),
    holidays: np.ndarray | None = None,
) -> HealthScores:
    """The score of every account in a batch on its last day. `values` is series x days
    (NaN for a missing day), the last column the day scored; `holidays` an optional mask
    like it of days to leave out;
    `groups` and `metrics` name each series' account and metric; `anomalies` are the
    accounts' open anomalies as (account, direction, severity). Anomalies of accounts without
    series are ignored."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"values must be series x days with at least one day, got {values.shape}")
    ratios = series_trend_ratios(values, holidays=holidays)
    accounts, ratio = account_trend_ratios(ratios, groups=groups, metrics=metrics)
    index = {account: i for i, account in enumerate(accounts)}
    penalty = np.zeros(len(accounts))
    bonus = np.zeros(len(accounts))
    for account, direction, severity in anomalies:
        i = index.get(str(account))
        if i is None:
            continue
        points = anomaly_points(direction=direction, severity=severity)
        if points < 0:
            penalty[i] -= points
        else:
            bonus[i] += points
    component = usage_component(ratio, penalty=penalty, bonus=bonus)
    return HealthScores(
        accounts=accounts,
        trend_ratio=ratio,
        trend_points=trend_points(ratio),
        penalty=np.minimum(penalty, PENALTY_CAP),
        bonus=np.minimum(bonus, BONUS_CAP),
        usage_component=component,
        score=score_of(component),
    )
