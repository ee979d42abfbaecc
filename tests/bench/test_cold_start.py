"""bench/cold_start.py: the generated portfolio is what its docstring says, and the scoring
counts what it claims on a small run."""

import numpy as np

from bench import cold_start as cs


def test_the_portfolio_is_deterministic_and_labeled_where_it_says():
    one = cs.generate(new=40, mature=20, seed=3)
    two = cs.generate(new=40, mature=20, seed=3)

    np.testing.assert_array_equal(one.batch.values, two.batch.values)
    assert one.labels == two.labels
    assert one.batch.n_series == 2 * (40 + 20)
    assert one.new.sum() == 80
    assert (one.first[~one.new] == 0).all()
    assert ((one.first[one.new] >= cs.PEER_DAYS) & (one.first[one.new] < cs.PEER_DAYS + 14)).all()
    for row, start, end, sign in one.labels:
        first = one.first[row]
        assert one.new[row]
        assert first + cs.FIRST_INJECTION_DAY <= start <= end < first + cs.NEW_DAYS
        assert sign in (-1, 1)
        # Nothing before a new series' first day.
        assert np.isnan(one.batch.values[row, :first]).all()


def test_the_prior_raises_the_share_of_normal_confidence_alerts():
    portfolio = cs.generate(new=60, mature=30, seed=5)

    off = cs.evaluate(portfolio, "off")
    cohort = cs.evaluate(portfolio, "cohort")

    assert off["labels"] == cohort["labels"] == len(portfolio.labels) > 10
    assert 0 <= off["recall"] <= cohort["recall"] <= 1
    assert cohort["normal_confidence_share"] > off["normal_confidence_share"] + 0.1
    assert cohort["false_alarms_per_new_account"] <= 0.05
    assert "| off |" in cs.render([off, cohort], portfolio)
