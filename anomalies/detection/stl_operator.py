"""STL as a matrix.

Without its robustness iterations STL is a chain of LOESS smoothers and moving averages, all
linear in the data: for a fixed length and period, seasonal = S @ y and trend = T @ y. We build
S and T by composing the matrices of those smoothers, step for step as statsmodels' STL runs
them (`statsmodels/tsa/stl/_stl.pyx`, a port of Cleveland et al.'s Fortran), then decompose a
whole batch of windows with one matrix product. Outliers and missing days are handled before
the operator (the engine imputes flagged and missing days), which is what the robustness
iterations would otherwise do.

Building the matrices here rather than decomposing unit vectors with statsmodels keeps
statsmodels (and the scipy it loads, 0.7 s) out of every process that runs the engine, the CLI
first; the tests check the result against statsmodels' own STL to 1e-10.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

WEEK = 7

# STL's seasonal smoother span (in periods): 21 weeks makes the weekly profile nearly fixed
# within a 12-week window, which is what a weekly habit is; statsmodels' default of 7 lets it
# wander and doubles the forecast's noise.
SEASONAL_SPAN = 21

# statsmodels' STL without robustness runs its inner loop five times (`fit(inner_iter=None)`).
INNER_ITERATIONS = 5


@dataclass(frozen=True)
class StlOperator:
    """Linear STL for windows of `length` days with a weekly period.

    `seasonal` and `trend` are (length, length) matrices acting on a column window; for a batch
    of windows in rows X, X @ seasonal.T is the seasonal part. `forecast` maps a window to the
    one-step-ahead prediction: the trend's last value plus the seasonal of the same weekday a
    week earlier. `forecast_inflation` converts the spread of in-sample residuals into the
    spread of one-step-ahead errors, for white noise.
    """

    length: int
    seasonal: np.ndarray
    trend: np.ndarray
    residual: np.ndarray
    forecast: np.ndarray
    level: np.ndarray
    forecast_inflation: float
    level_noise: float


@functools.lru_cache(maxsize=8)
def stl_operator(
    length: int, period: int = WEEK, seasonal_span: int = SEASONAL_SPAN
) -> StlOperator:
    if length < 2 * period:
        raise ValueError(f"an STL window needs at least two periods, got {length} days")
    seasonal, trend = stl_matrices(length, period, seasonal_span)
    residual = np.eye(length) - seasonal - trend
    deseasonalized = np.eye(length) - seasonal
    forecast = deseasonalized[-period:].mean(axis=0) + seasonal[-period]
    level = deseasonalized[-2 * period :].mean(axis=0)
    in_sample = float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
    inflation = float(np.sqrt(1.0 + forecast @ forecast)) / in_sample
    level_noise = float(np.linalg.norm(level)) / in_sample
    for matrix in (seasonal, trend, residual, forecast, level):
        matrix.setflags(write=False)
    return StlOperator(length, seasonal, trend, residual, forecast, level, inflation, level_noise)


def stl_matrices(length: int, period: int, seasonal_span: int) -> tuple[np.ndarray, np.ndarray]:
    """The (seasonal, trend) matrices of `STL(y, period, seasonal=seasonal_span,
    robust=False).fit()` for series of `length` points, with statsmodels' other defaults
    (locally linear fits, no jumps, its default trend and low-pass spans)."""
    n, p = length, period
    # statsmodels' defaults, as computed in STL.__init__.
    trend_span = math.ceil(1.5 * p / (1 - 1.5 / seasonal_span))
    trend_span += trend_span % 2 == 0
    low_pass_span = p + 1 + (p % 2)

    cycle = _cycle_subseries(n, p, seasonal_span)  # (n + 2p, n): each weekday smoothed
    low_pass = (
        _loess_smoother(n, low_pass_span)
        @ _moving_average(n + 2, 3)
        @ _moving_average(n + p + 1, p)
        @ _moving_average(n + 2 * p, p)
    )
    seasonal_step = cycle[p : p + n] - low_pass @ cycle  # acts on the detrended series
    trend_smoother = _loess_smoother(n, trend_span)

    identity = np.eye(n)
    trend = np.zeros((n, n))
    for _ in range(INNER_ITERATIONS):
        seasonal = seasonal_step @ (identity - trend)
        trend = trend_smoother @ (identity - seasonal)
    return seasonal, trend


def _loess(n: int, span: int, xs, nleft, nright) -> np.ndarray:
    """Rows of weights over points 1..n: STL's locally linear LOESS (`_est`) evaluated at each
    position xs (1-based, may lie just outside 1..n) from the points nleft..nright."""
    xs, nleft, nright = (np.asarray(a, dtype=np.float64)[:, None] for a in (xs, nleft, nright))
    j = np.arange(1, n + 1, dtype=np.float64)[None, :]
    h = np.maximum(xs - nleft, nright - xs)
    if span > n:
        h = h + (span - n) // 2
    r = np.abs(j - xs)
    with np.errstate(divide="ignore", invalid="ignore"):  # h == 0: only r == 0 is used
        tricube = np.where(r <= 0.001 * h, 1.0, (1.0 - (r / h) ** 3) ** 3)
    weights = np.where((j >= nleft) & (j <= nright) & (r <= 0.999 * h), tricube, 0.0)
    # Every window reaches a point within 0.999 h of xs, so no row sums to zero (STL's
    # fallback to the raw value never applies).
    weights /= weights.sum(axis=1, keepdims=True)

    centre = weights @ j.T
    spread = (weights * (j - centre) ** 2).sum(axis=1, keepdims=True)
    # STL fits a line only when the window's points are spread out enough.
    linear = (h > 0) & (np.sqrt(spread) > 0.001 * (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(linear, (xs - centre) / spread, 0.0)
    return weights * (slope * (j - centre) + 1.0)


def _loess_smoother(n: int, span: int) -> np.ndarray:
    """(n, n): STL's LOESS at each of the n points (`_ess` with no jumps): a window of `span`
    points that slides along once the position passes its middle."""
    xs = np.arange(1, n + 1)
    if span >= n:
        return _loess(n, span, xs, np.ones(n), np.full(n, n))
    shift = np.clip(xs - (span + 2) // 2, 0, n - span)
    return _loess(n, span, xs, 1 + shift, span + shift)


def _cycle_subseries(n: int, period: int, span: int) -> np.ndarray:
    """(n + 2 period, n): STL's `_ss`. Each phase's subseries (every period-th point) is
    smoothed and extended by one period at either end."""
    matrix = np.zeros((n + 2 * period, n))
    for phase in range(period):
        k = (n - 1 - phase) // period + 1
        rows = np.vstack(
            [
                _loess(k, span, [0], [1], [min(span, k)]),
                _loess_smoother(k, span),
                _loess(k, span, [k + 1], [max(1, k - span + 1)], [k]),
            ]
        )
        matrix[phase::period, phase::period] = rows
    return matrix


def _moving_average(n: int, span: int) -> np.ndarray:
    """(n - span + 1, n): means of `span` consecutive points."""
    out = n - span + 1
    matrix = np.zeros((out, n))
    for offset in range(span):
        matrix[np.arange(out), np.arange(out) + offset] = 1.0 / span
    return matrix
