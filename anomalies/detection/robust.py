"""Row-wise robust statistics of 2-D arrays with missing values (NaN), by sorting once.

numpy's nanmedian/nanpercentile on a (series, days) array fall back to slow paths; sorting
puts NaN last, so each row's k valid values are its first k and any quantile is one gather.
"""

from __future__ import annotations

import numpy as np

# MAD of a normal sample times this estimates its standard deviation.
MAD_TO_SIGMA = 1.4826


def row_quantiles(values: np.ndarray, qs: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles (linear interpolation) of each row's non-NaN values, and the count of them.

    Returns (quantiles of shape (len(qs), rows), counts); rows with no value give NaN.
    """
    ordered = np.sort(values, axis=1)
    counts = np.sum(~np.isnan(values), axis=1)
    last = np.maximum(counts - 1, 0)
    out = np.empty((len(qs), values.shape[0]))
    rows = np.arange(values.shape[0])
    for k, q in enumerate(qs):
        position = q * last
        below = np.floor(position).astype(np.intp)
        above = np.minimum(below + 1, last)
        weight = position - below
        out[k] = ordered[rows, below] * (1 - weight) + ordered[rows, above] * weight
    out[:, counts == 0] = np.nan
    return out, counts


def row_median(values: np.ndarray) -> np.ndarray:
    return row_quantiles(values, (0.5,))[0][0]


def row_mad_sigma(values: np.ndarray) -> np.ndarray:
    """Robust standard deviation of each row: MAD_TO_SIGMA * median(|x - median(x)|)."""
    center = row_median(values)
    return MAD_TO_SIGMA * row_median(np.abs(values - center[:, None]))
