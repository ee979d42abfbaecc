"""Cold start from cohorts (coldstart.py) on generated series: a young account borrows the
weekly profile and spread of its cohort or of its most similar peers, so a real drop in its
third week is reported with normal confidence and its quiet weekends are not drops."""

import datetime as dt

import numpy as np
import pytest

from anomalies.detection import SeriesBatch, detect, preset
from anomalies.detection.coldstart import (
    COHORT_MATURE_DAYS,
    PRIOR_FADE_DAYS,
    SOURCE_COHORT,
    SOURCE_NEAREST,
    SOURCE_NONE,
    cold_start_prior,
)

START = dt.date(2026, 1, 5)  # a Monday
N = 130
FIRST = 75  # the young account's first day: a Saturday
B2B = np.array([1.0, 1.05, 1.05, 1.0, 0.85, 0.25, 0.2])  # people off at weekends
B2C = np.array([0.9, 0.9, 0.95, 0.95, 1.05, 1.4, 1.35])  # busier at weekends


def _usage(seed, level, week, *, first=0):
    rng = np.random.default_rng(seed)
    weekday = (START.weekday() + np.arange(N)) % 7
    values = rng.poisson(level * week[weekday] * np.exp(rng.normal(0, 0.05, N))).astype(float)
    values[:first] = np.nan
    return values


def _portfolio(young, *, cohorts=True, b2b_peers=5):
    """Mature B2B and B2C peers with logins since day 0, and the young account."""
    rows, names, labels = [], [], []
    for k in range(b2b_peers):
        rows.append(_usage(100 + k, 400 * (k + 1), B2B))
        names.append(f"b2b{k}")
        labels.append("segment:b2b|region:emea")
    for k in range(5):
        rows.append(_usage(200 + k, 500 * (k + 1), B2C))
        names.append(f"b2c{k}")
        labels.append("segment:b2c|region:emea")
    rows.append(young)
    names.append("young")
    labels.append("region:emea|segment:b2b")  # the same cohort, labels in another order
    return SeriesBatch(
        np.array(rows),
        START,
        tuple(f"{name}/logins" for name in names),
        ("logins",) * len(rows),
        tuple(names),
        cohorts=tuple(labels) if cohorts else None,
    )


def _young_findings(batch, *, cold_start):
    config = preset("medium").with_overrides(cohort_cold_start=cold_start, holiday_country=None)
    result = detect(batch, config=config, backtest=True)
    return [f for f in result.findings if f.account == "young"]


def _prior(batch):
    return cold_start_prior(
        np.log1p(batch.values.T),
        first_weekday=START.weekday(),
        metrics=batch.metrics,
        groups=batch.groups,
        cohorts=batch.cohorts,
        min_points=7,
        t0=0,
    )


@pytest.mark.parametrize("cohorts", [True, False], ids=["given-cohort", "nearest-peers"])
def test_a_young_b2b_account_borrows_its_peers_weekends(cohorts):
    batch = _portfolio(_usage(7, 1500, B2B, first=FIRST), cohorts=cohorts)

    prior = _prior(batch)

    young = batch.n_series - 1
    assert prior.source[young] == (SOURCE_COHORT if cohorts else SOURCE_NEAREST)
    # Saturdays and Sundays at about a quarter of the weekdays, from the B2B peers only.
    assert prior.profile[young, 5:].tolist() == pytest.approx(np.log([0.25, 0.2]), abs=0.1)
    assert abs(prior.profile[young, :4]).max() < 0.15
    assert 0 < prior.sigma[young] < 0.15
    # From its first decidable day (seven days of history), never before it.
    assert prior.since[young] == FIRST + 7
    # The mature accounts borrow nothing.
    assert (prior.source[:young] == SOURCE_NONE).all()


@pytest.mark.parametrize("cohorts", [True, False], ids=["given-cohort", "nearest-peers"])
def test_a_drop_in_week_three_is_found_with_normal_confidence(cohorts):
    drop_start = FIRST + 16  # a Monday in the account's third week
    young = _usage(7, 1500, B2B, first=FIRST)
    young[drop_start : drop_start + 5] *= 0.3
    batch = _portfolio(young, cohorts=cohorts)

    with_prior = _young_findings(batch, cold_start=True)
    without = _young_findings(batch, cold_start=False)

    [drop] = with_prior
    assert (drop.type, drop.start, drop.confidence) == (
        "drop",
        START + dt.timedelta(days=drop_start),
        "normal",
    )
    # On its own history the same drop is found (if at all) with low confidence only.
    assert all(f.confidence == "low" for f in without)


def test_a_young_b2b_accounts_weekends_are_no_drop():
    batch = _portfolio(_usage(8, 1500, B2B, first=FIRST))

    assert _young_findings(batch, cold_start=True) == []


def test_a_young_b2c_account_is_not_given_b2b_weekends_by_the_nearest_peers():
    # No labels, and as many B2B as B2C peers: the first week's shape picks the B2C ones.
    batch = _portfolio(_usage(9, 1500, B2C, first=FIRST), cohorts=False)

    prior = _prior(batch)

    young = batch.n_series - 1
    assert prior.source[young] == SOURCE_NEAREST
    assert prior.profile[young, 5] > 0.1
    assert _young_findings(batch, cold_start=True) == []


def test_a_cohort_of_fewer_than_three_peers_falls_back_to_the_nearest():
    batch = _portfolio(_usage(7, 1500, B2B, first=FIRST), b2b_peers=2)

    prior = _prior(batch)

    young = batch.n_series - 1
    assert prior.source[young] == SOURCE_NEAREST
    assert prior.profile[young, 5] < np.log(0.5)


def test_the_prior_fades_with_history_and_sets_maturity():
    batch = _portfolio(_usage(7, 1500, B2B, first=FIRST))
    prior = _prior(batch)
    young = batch.n_series - 1

    history = np.zeros(batch.n_series)
    for days, expected in [(7, 1 - 7 / PRIOR_FADE_DAYS), (28, 0.5), (PRIOR_FADE_DAYS, 0.0)]:
        history[young] = days
        assert prior.weights(FIRST + days, history)[young] == pytest.approx(expected)
    # Not before its first decidable day, and never for a series without a prior.
    history[:] = 3
    assert prior.weights(FIRST + 3, history)[young] == 0.0
    assert (
        prior.weights(FIRST + 30, np.full(batch.n_series, 30.0))[:young].tolist() == [0.0] * young
    )
    assert prior.mature_days(28).tolist() == [28] * young + [COHORT_MATURE_DAYS]


def test_a_series_without_peers_starts_as_before():
    # Alone, or when every other series began with it, nothing is borrowed: the same findings
    # as without the prior.
    young = _usage(7, 1500, B2B, first=FIRST)
    young[FIRST + 16 : FIRST + 21] *= 0.3
    alone = SeriesBatch(young[None, :], START, ("young/logins",), ("logins",), ("young",))

    assert _young_findings(alone, cold_start=True) == _young_findings(alone, cold_start=False)
    assert _prior(alone).source.tolist() == [SOURCE_NONE]


def test_a_scan_borrows_as_the_backtest_does():
    drop_start = FIRST + 16
    young = _usage(7, 1500, B2B, first=FIRST)
    young[drop_start : drop_start + 5] *= 0.3
    batch = _portfolio(young)
    config = preset("medium").with_overrides(holiday_country=None)

    result = detect(batch, config=config, as_of=START + dt.timedelta(days=drop_start + 3))

    [drop] = [f for f in result.findings if f.account == "young"]
    assert (drop.type, drop.start, drop.end, drop.confidence) == (
        "drop",
        START + dt.timedelta(days=drop_start),
        None,
        "normal",
    )
