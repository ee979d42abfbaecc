"""The linear STL operator against statsmodels' own STL, and the invariants the engine leans
on (a constant forecasts itself, one-step errors are wider than in-sample residuals)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from statsmodels.tsa.seasonal import STL

from anomalies.detection.stl_operator import SEASONAL_SPAN, WEEK, stl_matrices, stl_operator

LENGTHS = [28, 56, 84]
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def statsmodels_matrices(length: int, period: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    """The slow, obviously right operator: statsmodels' STL of each unit vector is a column."""
    seasonal = np.empty((length, length))
    trend = np.empty((length, length))
    for j, unit in enumerate(np.eye(length)):
        fit = STL(unit, period=period, seasonal=span, robust=False).fit()
        seasonal[:, j], trend[:, j] = fit.seasonal, fit.trend
    return seasonal, trend


@pytest.mark.parametrize(
    ("length", "period", "span"),
    [
        pytest.param(84, WEEK, SEASONAL_SPAN, id="the-engines-window"),
        pytest.param(30, WEEK, SEASONAL_SPAN, id="weeks-of-unequal-length"),
        pytest.param(14, WEEK, SEASONAL_SPAN, id="two-weeks"),
        pytest.param(200, WEEK, SEASONAL_SPAN, id="subseries-longer-than-the-span"),
        pytest.param(60, 12, 13, id="even-period"),
        pytest.param(45, 5, 7, id="statsmodels-default-span"),
    ],
)
def test_matrices_are_statsmodels_stl_of_the_unit_vectors(length, period, span):
    seasonal, trend = stl_matrices(length, period, span)
    expected_seasonal, expected_trend = statsmodels_matrices(length, period, span)

    assert_allclose(seasonal, expected_seasonal, atol=1e-10)
    assert_allclose(trend, expected_trend, atol=1e-10)


def test_building_the_operator_does_not_load_statsmodels():
    probe = (
        "import sys\n"
        "from anomalies.detection.stl_operator import stl_operator\n"
        "stl_operator(84)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'statsmodels', 'scipy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, timeout=60
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "[]"


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reproduces_statsmodels_stl(length, seed):
    rng = np.random.default_rng(seed)
    days = np.arange(length)
    # Noise plus a weekly pattern and a trend, in log1p-like units.
    y = 7.0 + 0.01 * days + 0.3 * np.sin(2 * np.pi * days / WEEK) + rng.normal(0, 0.1, length)
    op = stl_operator(length)

    fit = STL(y, period=WEEK, seasonal=SEASONAL_SPAN, robust=False).fit()

    assert_allclose(op.seasonal @ y, fit.seasonal, atol=1e-10)
    assert_allclose(op.trend @ y, fit.trend, atol=1e-10)
    assert_allclose(op.residual @ y, fit.resid, atol=1e-10)


def test_reproduces_stl_on_a_batch_of_windows():
    op = stl_operator(84)
    windows = np.random.default_rng(3).normal(size=(5, 84))

    seasonal = windows @ op.seasonal.T

    for row, window in zip(seasonal, windows, strict=True):
        fit = STL(window, period=WEEK, seasonal=SEASONAL_SPAN, robust=False).fit()
        assert_allclose(row, fit.seasonal, atol=1e-10)


@pytest.mark.parametrize("length", LENGTHS)
def test_constant_forecasts_itself(length):
    op = stl_operator(length)
    ones = np.ones(length)

    assert op.forecast.sum() == pytest.approx(1.0, abs=1e-12)
    assert op.level.sum() == pytest.approx(1.0, abs=1e-12)
    assert_allclose(op.seasonal @ ones, 0.0, atol=1e-12)
    assert_allclose(op.trend @ ones, 1.0, atol=1e-12)
    assert_allclose(op.residual @ ones, 0.0, atol=1e-12)


@pytest.mark.parametrize("length", LENGTHS)
def test_weekly_pattern_forecasts_next_weeks_same_day(length):
    op = stl_operator(length)
    profile = np.array([1.0, 2.0, 3.0, 2.0, 1.0, -3.0, -4.0])
    y = profile[np.arange(length) % WEEK]

    # The day after the window has the weekday of day length - 7.
    assert op.forecast @ y == pytest.approx(y[length - WEEK], abs=1e-9)
    assert_allclose(op.seasonal @ y, y - y.mean(), atol=1e-9)


@pytest.mark.parametrize("length", LENGTHS)
def test_forecast_errors_are_wider_than_residuals(length):
    op = stl_operator(length)

    assert op.forecast_inflation > 1.0
    assert op.level_noise > 0.0


def test_inflation_matches_simulated_white_noise():
    op = stl_operator(84)
    rng = np.random.default_rng(4)
    noise = rng.normal(size=(4000, 85))
    windows, nxt = noise[:, :84], noise[:, 84]

    resid = windows @ op.residual.T
    errors = nxt - windows @ op.forecast

    assert np.std(errors) / np.sqrt(np.mean(resid**2)) == pytest.approx(
        op.forecast_inflation, rel=0.05
    )


@pytest.mark.parametrize("name", ["seasonal", "trend", "residual", "forecast", "level"])
def test_matrices_are_read_only(name):
    matrix = getattr(stl_operator(84), name)

    with pytest.raises(ValueError, match="read-only"):
        matrix[0] = 1.0


def test_is_cached():
    assert stl_operator(84) is stl_operator(84)


def test_needs_two_periods():
    with pytest.raises(ValueError, match="an STL window needs at least two periods, got 13 days"):
        stl_operator(13)
