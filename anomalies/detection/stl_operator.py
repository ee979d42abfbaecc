"""STL as a matrix.

Without its robustness iterations STL is a chain of LOESS smoothers and moving averages, all
linear in the data: for a fixed length and period, seasonal = S @ y and trend = T @ y. We get
S and T from statsmodels' own STL by decomposing the unit vectors once, then decompose a whole
batch of windows with one matrix product. Outliers and missing days are handled before the
operator (the engine imputes flagged and missing days), which is what the robustness
iterations would otherwise do.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from statsmodels.tsa.seasonal import STL

WEEK = 7


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


# STL's seasonal smoother span (in periods): 21 weeks makes the weekly profile nearly fixed
# within a 12-week window, which is what a weekly habit is; statsmodels' default of 7 lets it
# wander and doubles the forecast's noise.
SEASONAL_SPAN = 21


@functools.lru_cache(maxsize=8)
def stl_operator(
    length: int, period: int = WEEK, seasonal_span: int = SEASONAL_SPAN
) -> StlOperator:
    if length < 2 * period:
        raise ValueError(f"an STL window needs at least two periods, got {length} days")
    basis = np.eye(length)
    seasonal = np.empty((length, length))
    trend = np.empty((length, length))
    for j in range(length):
        fit = STL(basis[j], period=period, seasonal=seasonal_span, robust=False).fit()
        seasonal[:, j] = fit.seasonal
        trend[:, j] = fit.trend
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
