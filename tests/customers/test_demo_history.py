"""The demo's past: the shapes the learning loop's pages rely on (churns preceded by losses,
expansions by spikes, feature drops mostly dismissed as false positives, a lift above 1),
deterministic, kept clear of the stories and of the start-up scan."""

from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from anomalies.detection.vocabulary import is_feature_metric
from customers import demo, demo_history

AS_OF = date(2025, 10, 29)
WINDOW = timedelta(days=90)
LOSSES = {"drop", "feature_abandonment", "gradual_decline"}


@pytest.fixture(scope="module")
def data():
    return demo.generate_demo(as_of=AS_OF)


@pytest.fixture(scope="module")
def history(data):
    return demo_history.generate_history(data, seed=demo.DEFAULT_SEED)


def followed_by(anomaly, changes, kind) -> bool:
    """Whether the account's first lifecycle change on or after the start, within 90 days,
    is of `kind` (the derivation rule)."""
    after = sorted(
        (c.date, c.kind)
        for c in changes
        if c.external_id == anomaly.external_id
        and anomaly.start <= c.date <= anomaly.start + WINDOW
    )
    return bool(after) and after[0][1] == kind


def test_it_is_deterministic(data, history):
    again = demo_history.generate_history(data, seed=demo.DEFAULT_SEED)
    assert again == history
    first = demo_history.with_history_usage(data, history, seed=demo.DEFAULT_SEED)
    second = demo_history.with_history_usage(data, again, seed=demo.DEFAULT_SEED)
    assert_array_equal(first.values, second.values)
    other = demo_history.generate_history(data, seed=demo.DEFAULT_SEED + 1)
    assert other.anomalies != history.anomalies


def test_it_has_every_kind_of_change_and_renewal_dates(data, history):
    kinds = Counter(c.kind for c in history.changes)
    assert kinds["churned"] == len(history.churned_on) >= 8
    assert kinds["contracted"] >= 4 and kinds["expanded"] >= 8 and kinds["renewed"] >= 50
    for change in history.changes:
        if change.kind == "churned":
            assert change.arr_after == 0 < change.arr_before
        elif change.kind == "contracted":
            assert change.arr_after < change.arr_before
        elif change.kind == "expanded":
            assert change.arr_after > change.arr_before
    active = {a.external_id for a in data.accounts} - set(history.churned_on)
    assert set(history.renewal_dates) == active
    assert all(AS_OF < day <= AS_OF + timedelta(days=365) for day in history.renewal_dates.values())


def test_past_anomalies_stay_clear_of_the_stories_and_the_recent_weeks(data, history):
    first = data.dates[0].astype(date)
    stories = {a.external_id for a in demo.STORY_ACCOUNTS}
    for anomaly in history.anomalies:
        assert anomaly.external_id not in stories
        assert first + timedelta(days=demo_history.HISTORY_MIN_BASELINE_DAYS) <= anomaly.start
        assert (
            anomaly.start <= anomaly.end <= AS_OF - timedelta(days=demo_history.HISTORY_CLEAR_DAYS)
        )
    assert all(c.kind == "renewed" for c in history.changes if c.external_id in stories)
    assert max(c.date for c in history.changes) <= AS_OF - timedelta(days=100)


def test_losses_on_core_metrics_precede_churn_far_above_the_base_rate(data, history):
    losses = [
        a
        for a in history.anomalies
        if a.anomaly_type in LOSSES
        and not (a.anomaly_type == "drop" and is_feature_metric(a.metric))
    ]
    churned = sum(followed_by(a, history.changes, "churned") for a in losses)
    share = churned / len(losses)
    warned = {a.external_id for a in losses}
    unwarned = [a for a in data.accounts if a.external_id not in warned]
    base_rate = sum(a.external_id in history.churned_on for a in unwarned) / len(unwarned)

    assert len(losses) >= 20
    assert 0 < base_rate < 0.15  # some accounts churn without warning
    assert share / base_rate > 3


def test_login_spikes_precede_expansions_far_above_the_base_rate(data, history):
    spikes = [a for a in history.anomalies if a.anomaly_type == "spike" and a.metric == "logins"]
    expanded = sum(followed_by(a, history.changes, "expanded") for a in spikes)
    spiked = {a.external_id for a in spikes}
    others = [a for a in data.accounts if a.external_id not in spiked]
    expanded_accounts = {c.external_id for c in history.changes if c.kind == "expanded"}
    base_rate = sum(a.external_id in expanded_accounts for a in others) / len(others)

    # At least 20: the effectiveness table's bar for a group that is not a small sample.
    assert len(spikes) >= 20
    assert 0 < base_rate < 0.15
    assert expanded / len(spikes) / base_rate > 2


def test_feature_drops_are_mostly_dismissed_false_positives(history):
    drops = [
        a for a in history.anomalies if a.anomaly_type == "drop" and is_feature_metric(a.metric)
    ]
    reasons = Counter(a.dismiss_reason for a in drops)
    assert len(drops) >= 60
    assert reasons["false_positive"] / len(drops) > 0.7
    assert all(-60 <= a.deviation_percent < -30 and (a.end - a.start).days <= 2 for a in drops)
    # The one a tuning proposal must warn about: dismissed, and followed by a churn.
    assert any(
        a.dismiss_reason == "false_positive" and followed_by(a, history.changes, "churned")
        for a in drops
    )


def test_csms_set_some_outcomes_and_acted_on_many_cards(history):
    set_by_csm = Counter(a.outcome for a in history.anomalies if a.outcome)
    assert {"churned", "expanded", "no_impact"} <= set(set_by_csm)
    kinds = Counter(kind for a in history.anomalies for kind, _, _ in a.actions)
    assert {"contact_customer", "explore_expansion", "investigate"} <= set(kinds)


def test_the_usage_shows_the_past_anomalies_and_churned_accounts_go_quiet(data, history):
    edited = demo_history.with_history_usage(data, history, seed=demo.DEFAULT_SEED)
    first = data.dates[0].astype(date)
    deep = [a for a in history.anomalies if a.anomaly_type == "drop" and a.deviation_percent < -50]
    checked = 0
    for anomaly in deep:
        series = edited.series(anomaly.external_id, anomaly.metric)
        lo, hi = (anomaly.start - first).days, (anomaly.end - first).days + 1
        before = data.series(anomaly.external_id, anomaly.metric)[lo:hi]
        # Thinning a count of 1 or 2 can keep it: only counts with room to fall must fall.
        if np.nansum(before) >= 20:
            assert np.nanmean(series[lo:hi]) < np.nanmean(before)
            checked += 1
    assert checked >= 10
    for external_id, day in history.churned_on.items():
        rows = [i for i, (e, _) in enumerate(data.keys) if e == external_id]
        assert np.isnan(edited.values[rows, (day - first).days + 1 :]).all()
    stories = [
        i for i, (e, _) in enumerate(data.keys) if e in {a.external_id for a in demo.STORY_ACCOUNTS}
    ]
    assert_array_equal(edited.values[stories], data.values[stories])


def test_short_runs_get_renewal_dates_but_no_past():
    data = demo.generate_demo(as_of=AS_OF, accounts=8, days=60)
    history = demo_history.generate_history(data, seed=demo.DEFAULT_SEED)
    assert (history.anomalies, history.changes, history.churned_on) == ((), (), {})
    assert len(history.renewal_dates) == 8
