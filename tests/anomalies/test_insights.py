"""The report's arithmetic on a hand-checked table.

Wilson, 6 of 30: p = 0.2, z² = 3.841459; centre = (0.2 + z²/60) / (1 + z²/30) = 0.234054,
half-width = z / (1 + z²/30) · sqrt(0.2·0.8/30 + z²/3600) = 0.139003 -> [0.095051, 0.373057].
Katz, 6/30 against 3/150: RR = 0.2 / 0.02 = 10, SE = sqrt(1/6 − 1/30 + 1/3 − 1/150)
= sqrt(0.46) = 0.678233 -> 10·exp(∓1.959964·0.678233) = [2.64659, 37.78444].
Katz, 30/100 against 10/200: RR = 6, SE = sqrt(1/30 − 1/100 + 1/10 − 1/200) = 0.343996
-> 6·exp(∓0.674219) = [3.05732, 11.77501].
"""

import pytest

from anomalies.insights import (
    FEATURE_FAMILY,
    MIN_ANOMALIES,
    MIN_EVENTS,
    family_order,
    lift,
    metric_family,
    precision,
    rate,
)


@pytest.mark.parametrize(
    "events, total, value, low, high",
    [
        (6, 30, 0.2, 0.0950511, 0.3730570),
        (0, 12, 0.0, 0.0, 0.2424940),
        (12, 12, 1.0, 0.7575060, 1.0),
        (1, 2, 0.5, 0.0945312, 0.9054688),
    ],
)
def test_rate_is_the_share_with_its_wilson_interval(events, total, value, low, high):
    r = rate(events, total)
    assert (r.events, r.total) == (events, total)
    assert r.value == pytest.approx(value)
    assert r.low == pytest.approx(low, abs=1e-7)
    assert r.high == pytest.approx(high, abs=1e-7)


def test_a_rate_of_nothing_is_unknown_not_zero():
    r = rate(0, 0)
    assert (r.value, r.low, r.high) == (None, None, None)


@pytest.mark.parametrize("events, total", [(5, 3), (-1, 3), (0, -1)])
def test_rate_refuses_impossible_counts(events, total):
    with pytest.raises(ValueError, match="events must be within 0..total"):
        rate(events, total)


@pytest.mark.parametrize(
    "with_, base, value, low, high, small",
    [
        ((6, 30), (3, 150), 10.0, 2.646592, 37.784439, True),  # 3 base events < MIN_EVENTS
        ((30, 100), (10, 200), 6.0, 3.057322, 11.775010, False),
        ((10, 19), (10, 200), 10.526316, 5.024620, 22.052079, True),  # 19 anomalies < MIN_ANOMALIES
    ],
)
def test_lift_is_the_risk_ratio_with_katz_interval(with_, base, value, low, high, small):
    result = lift(rate(*with_), rate(*base))
    assert result.value == pytest.approx(value)
    assert result.low == pytest.approx(low, rel=1e-3)
    assert result.high == pytest.approx(high, rel=1e-3)
    assert result.small_sample is small


def test_lift_without_base_events_is_undefined():
    result = lift(rate(5, 40), rate(0, 300))
    assert (result.value, result.low, result.high) == (None, None, None)
    assert result.small_sample


def test_lift_without_events_is_zero_with_no_interval():
    result = lift(rate(0, 40), rate(10, 200))
    assert result.value == 0.0
    assert (result.low, result.high) == (None, None)


def test_the_small_sample_thresholds_are_the_documented_ones():
    assert (MIN_ANOMALIES, MIN_EVENTS) == (20, 5)
    at_threshold = lift(rate(MIN_EVENTS, MIN_ANOMALIES), rate(MIN_EVENTS, 100))
    assert not at_threshold.small_sample
    assert lift(rate(MIN_EVENTS - 1, MIN_ANOMALIES), rate(MIN_EVENTS, 100)).small_sample


def test_precision_counts_only_false_positives_against():
    p = precision(judged=10, false_positives=4)
    assert (p.events, p.total, p.value) == (6, 10, 0.6)
    assert p.low == pytest.approx(0.3126738, abs=1e-7)
    assert p.high == pytest.approx(0.8318197, abs=1e-7)


def test_metric_families():
    assert metric_family("api_calls") == "api_calls"
    assert metric_family("feature:reports") == FEATURE_FAMILY == "feature:*"
    assert metric_family("seats") == "seats"
    families = ["seats", "feature:*", "logins", "api_calls", "active_users", "aaa"]
    assert sorted(families, key=family_order) == [
        "api_calls",
        "logins",
        "active_users",
        "feature:*",
        "aaa",
        "seats",
    ]
