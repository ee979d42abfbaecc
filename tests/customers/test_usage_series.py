"""The drift the demo and the benchmark corpus share (customers/usage_series.py)."""

import numpy as np
import pytest

from customers.usage_series import ar1, stationary_ar1


def test_ar1_runs_the_recurrence_from_its_start_ignoring_the_first_shock():
    out = ar1(8.0, np.array([100.0, 0.0, 1.0, 0.0]), phi=0.5)
    assert out.tolist() == [8.0, 4.0, 3.0, 1.5]


def test_ar1_is_the_same_per_series_and_for_a_block_of_them():
    rng = np.random.default_rng(3)
    shocks = rng.normal(size=(4, 30))
    starts = rng.normal(size=4)
    block = ar1(starts, shocks, phi=0.9)
    for row in range(4):
        np.testing.assert_array_equal(block[row], ar1(starts[row], shocks[row], phi=0.9))


def test_stationary_ar1_is_seeded_and_starts_in_its_stationary_state():
    phi, step_sd = 0.95, 0.008
    drift = stationary_ar1(np.random.default_rng(1), (4000, 60), step_sd=step_sd, phi=phi)
    again = stationary_ar1(np.random.default_rng(1), (4000, 60), step_sd=step_sd, phi=phi)
    np.testing.assert_array_equal(drift, again)
    # No warm-up: the first day already scatters as much as the last.
    stationary_sd = step_sd / np.sqrt(1 - phi**2)
    assert drift[:, 0].std() == pytest.approx(stationary_sd, rel=0.05)
    assert drift[:, -1].std() == pytest.approx(stationary_sd, rel=0.05)
