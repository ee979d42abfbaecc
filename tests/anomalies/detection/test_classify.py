"""The naming rules, one table each: type, severity and possible cause."""

import pytest

from anomalies.detection import preset
from anomalies.detection.classify import anomaly_type, possible_cause, severity

MEDIUM = preset("medium")


def _type(kind="run", sign=-1, is_feature=False, ratio=0.5, flagged_days=4, seasonal_share=0.0):
    return anomaly_type(
        kind=kind,
        sign=sign,
        is_feature=is_feature,
        ratio=ratio,
        flagged_days=flagged_days,
        seasonal_share=seasonal_share,
        config=MEDIUM,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "drop"),
        ({"sign": 1, "ratio": 2.0}, "spike"),
        ({"kind": "pattern"}, "pattern_change"),
        ({"kind": "pattern", "sign": 1, "ratio": 1.6}, "pattern_change"),
        # A feature at <= 25 % of its baseline for >= 5 flagged days is abandoned.
        ({"is_feature": True, "ratio": 0.25, "flagged_days": 5}, "feature_abandonment"),
        ({"is_feature": True, "ratio": 0.05, "flagged_days": 14}, "feature_abandonment"),
        ({"is_feature": True, "ratio": 0.0, "flagged_days": 5}, "feature_abandonment"),
        # ... even past the horizon, where other shifts become pattern changes.
        (
            {"kind": "pattern", "is_feature": True, "ratio": 0.1, "flagged_days": 30},
            "feature_abandonment",
        ),
        ({"is_feature": True, "ratio": 0.26, "flagged_days": 5}, "drop"),
        ({"is_feature": True, "ratio": 0.1, "flagged_days": 4}, "drop"),
        ({"is_feature": False, "ratio": 0.05, "flagged_days": 14}, "drop"),
        ({"is_feature": True, "sign": 1, "ratio": 0.1, "flagged_days": 14}, "spike"),
        # Most flagged days deeper than last year's same-period dip: seasonal deviation.
        ({"seasonal_share": 0.6}, "seasonal_deviation"),
        ({"sign": 1, "ratio": 3.0, "seasonal_share": 1.0}, "seasonal_deviation"),
        ({"seasonal_share": 0.5}, "drop"),
        ({"kind": "pattern", "seasonal_share": 1.0}, "pattern_change"),
    ],
)
def test_anomaly_type(args, expected):
    assert _type(**args) == expected


def _severity(kind="drop", sign=-1, metric="api_calls", change=-0.6, days=3, baseline=1000.0):
    return severity(
        kind=kind,
        sign=sign,
        metric=metric,
        change=change,
        days=days,
        baseline=baseline,
        min_volume=10.0,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # Core metric, sizeable account (>= 10 x min_volume = 100), >= 50 % for >= 3 days.
        ({}, "critical"),
        ({"metric": "logins"}, "critical"),
        ({"metric": "active_users"}, "critical"),
        ({"change": -0.5, "days": 3}, "critical"),
        ({"kind": "pattern_change"}, "critical"),
        ({"baseline": 100.0}, "critical"),
        # Too short, unless >= 80 % deep.
        ({"days": 2}, "warning"),
        ({"days": 1, "change": -0.8}, "critical"),
        ({"days": 2, "change": -0.79}, "warning"),
        # Shallower than 50 %: warning down to 30 %, info below.
        ({"change": -0.49, "days": 10}, "warning"),
        ({"change": -0.3}, "warning"),
        ({"change": -0.29}, "info"),
        ({"change": -0.05}, "info"),
        # Small account, non-core metric, other kinds: never critical.
        ({"baseline": 99.9}, "warning"),
        ({"metric": "feature:reports"}, "warning"),
        ({"metric": "reports_exported", "change": -1.0}, "warning"),
        ({"kind": "seasonal_deviation", "change": -0.9}, "warning"),
        ({"kind": "feature_abandonment", "metric": "feature:x", "change": -0.95}, "warning"),
        # An abandonment is never mere info, however its change reads.
        ({"kind": "feature_abandonment", "metric": "feature:x", "change": -0.1}, "warning"),
        # Gains are good news.
        ({"sign": 1, "change": 5.0, "kind": "spike"}, "info"),
        ({"sign": 1, "change": 0.6, "kind": "pattern_change"}, "info"),
    ],
)
def test_severity(args, expected):
    assert _severity(**args) == expected


def test_severity_small_account_bar_follows_min_volume():
    args = dict(kind="drop", sign=-1, metric="api_calls", change=-0.6, days=3)

    assert severity(**args, baseline=200.0, min_volume=20.0) == "critical"
    assert severity(**args, baseline=199.0, min_volume=20.0) == "warning"
    # A zero floor still needs a baseline of 10.
    assert severity(**args, baseline=10.0, min_volume=0.0) == "critical"
    assert severity(**args, baseline=9.0, min_volume=0.0) == "warning"


def _cause(metric, siblings, *, kind="drop", sign=-1):
    return possible_cause(kind=kind, sign=sign, metric=metric, siblings=siblings, drop=0.3)


CHURN = "Churn risk: usage is down across the account"


@pytest.mark.parametrize(
    ("metric", "siblings", "sign", "expected"),
    [
        ("api_calls", {"logins": 0.0, "active_users": 0.02}, -1, "Integration issue or migration"),
        ("api_calls", {}, -1, "Integration issue or migration"),
        ("api_calls", {"logins": None}, -1, "Integration issue or migration"),
        ("api_calls", {"logins": -0.6}, -1, CHURN),
        ("api_calls", {"logins": -0.6, "active_users": -0.6, "feature:a": -0.6}, -1, CHURN),
        # Two core metrics down (this one counts) is churn; people steady is not.
        ("logins", {"active_users": -0.5, "api_calls": 0.0}, -1, CHURN),
        # Three quarters of the other metrics down is churn, core or not.
        ("feature:a", {"feature:b": -0.4, "feature:c": -0.4, "feature:d": -0.4}, -1, CHURN),
        (
            "feature:a",
            {"feature:b": -0.4, "feature:c": -0.4, "feature:d": 0.0, "feature:e": 0.0},
            -1,
            "Training gap or competing tool",
        ),
        # A sibling moving less than the drop threshold is noise.
        ("api_calls", {"logins": -0.29}, -1, "Integration issue or migration"),
        ("api_calls", {"logins": -0.3}, -1, CHURN),
        (
            "feature:reports",
            {"api_calls": 0.0, "logins": 0.1},
            -1,
            "Training gap or competing tool",
        ),
        (
            "logins",
            {"api_calls": 0.0},
            -1,
            "Fewer people using the product: seat loss or a team change",
        ),
        (
            "active_users",
            {},
            -1,
            "Fewer people using the product: seat loss or a team change",
        ),
        ("reports_exported", {"api_calls": 0.0}, -1, "Usage decline: check in with the account"),
        # Gains.
        ("logins", {"active_users": 1.5}, 1, "Team expansion or new use case"),
        ("active_users", {"logins": 0.3}, 1, "Team expansion or new use case"),
        (
            "logins",
            {"active_users": 0.1},
            1,
            "More people using the product: possible team expansion",
        ),
        ("api_calls", {"logins": 0.0}, 1, "New integration or heavier automation"),
        ("api_calls", {"logins": 1.5, "active_users": 1.5}, 1, "Team expansion or new use case"),
        ("feature:reports", {}, 1, "Growing adoption of this feature"),
        ("reports_exported", {}, 1, "Usage growth: possible expansion opportunity"),
    ],
)
def test_possible_cause(metric, siblings, sign, expected):
    assert _cause(metric, siblings, sign=sign) == expected


@pytest.mark.parametrize(
    ("sign", "expected"),
    [
        (-1, "Deeper than this account's usual seasonal dip"),
        (1, "Stronger than this account's usual seasonal peak"),
    ],
)
def test_seasonal_deviation_cause_ignores_siblings(sign, expected):
    siblings = {"logins": -0.9, "active_users": -0.9}

    assert _cause("api_calls", siblings, kind="seasonal_deviation", sign=sign) == expected
