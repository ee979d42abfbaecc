"""Row-wise quantiles and robust spread against numpy's own nan-aware functions."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from anomalies.detection.robust import MAD_TO_SIGMA, row_mad_sigma, row_median, row_quantiles

QS = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def random_with_nan(seed, shape=(40, 33), nan_share=0.3):
    rng = np.random.default_rng(seed)
    values = rng.standard_cauchy(shape)
    values[rng.random(shape) < nan_share] = np.nan
    values[0] = np.nan  # one all-missing row
    values[1] = np.r_[0.5, np.full(shape[1] - 1, np.nan)]  # one row with a single value
    values[2] = np.r_[-1.0, 2.0, np.full(shape[1] - 2, np.nan)]  # and one with two
    return values


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_row_quantiles_match_nanquantile(seed):
    values = random_with_nan(seed)

    quantiles, counts = row_quantiles(values, QS)

    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanquantile(values, QS, axis=1)
    assert_allclose(quantiles, expected, rtol=1e-12, equal_nan=True)
    assert_array_equal(counts, np.sum(~np.isnan(values), axis=1))


@pytest.mark.parametrize("seed", [0, 1])
def test_row_median_and_mad_sigma_match_numpy(seed):
    values = random_with_nan(seed)[1:]  # every row but the all-missing one
    median = np.nanmedian(values, axis=1)
    mad = np.nanmedian(np.abs(values - median[:, None]), axis=1)

    assert_allclose(row_median(values), median, rtol=1e-12)
    assert_allclose(row_mad_sigma(values), MAD_TO_SIGMA * mad, rtol=1e-12)


def test_float32_input():
    values = random_with_nan(5).astype(np.float32)[1:]

    (median,), _ = row_quantiles(values, (0.5,))

    assert_allclose(median, np.nanmedian(values, axis=1), rtol=1e-6)


def test_all_missing_rows_give_nan():
    values = np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 3.0]])

    quantiles, counts = row_quantiles(values, (0.25, 0.5))

    assert np.isnan(quantiles[:, 0]).all()
    assert_allclose(quantiles[:, 1], [1.5, 2.0])
    assert_array_equal(counts, [0, 2])
    assert np.isnan(row_mad_sigma(values)[0])
    assert np.isnan(row_median(values)[0])


@pytest.mark.parametrize(
    ("row", "median", "mad_sigma"),
    [
        ([5.0], 5.0, 0.0),
        ([1.0, 2.0, 3.0, 4.0, 100.0], 3.0, MAD_TO_SIGMA * 1.0),
        ([1.0, np.nan, 3.0, np.nan], 2.0, MAD_TO_SIGMA * 1.0),
        ([2.0, 2.0, 2.0, 2.0], 2.0, 0.0),
        ([-1.0, 1.0], 0.0, MAD_TO_SIGMA * 1.0),
    ],
)
def test_hand_checked_rows(row, median, mad_sigma):
    values = np.array([row])

    assert row_median(values)[0] == pytest.approx(median)
    assert row_mad_sigma(values)[0] == pytest.approx(mad_sigma)


def test_empty_rows():
    quantiles, counts = row_quantiles(np.empty((0, 5)), (0.5,))

    assert quantiles.shape == (1, 0)
    assert counts.shape == (0,)


def test_mad_to_sigma_estimates_a_normal_standard_deviation():
    sample = np.random.default_rng(6).normal(0.0, 2.5, size=(1, 400_000))

    assert row_mad_sigma(sample)[0] == pytest.approx(2.5, rel=0.01)
