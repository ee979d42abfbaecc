"""The usage health score formula (anomalies.detection.health): hand-checked numbers."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from anomalies.detection import health
from anomalies.detection.vocabulary import ACTIVE_USERS, API_CALLS, LOGINS

DAYS = health.RECENT_DAYS + health.BASELINE_DAYS  # exactly one baseline and one recent window


def flat(level: float = 300.0, *, recent: list[float] | None = None) -> np.ndarray:
    series = np.full(DAYS, level)
    if recent is not None:
        series[-len(recent) :] = recent
    return series


def scores(rows: dict[str, np.ndarray], anomalies=()) -> health.HealthScores:
    """One account "a" with the given metric -> series."""
    return health.health_scores(
        values=np.vstack(list(rows.values())),
        groups=["a"] * len(rows),
        metrics=list(rows),
        anomalies=anomalies,
    )


def test_the_docstring_example():
    # API calls at a third for the last 5 of 14 recent days, logins and users steady.
    api = flat(recent=[300.0] * 9 + [100.0] * 5)
    result = scores(
        {API_CALLS: api, LOGINS: flat(50.0), ACTIVE_USERS: flat(20.0)},
        anomalies=[("a", "negative", "critical")],
    )
    assert_allclose(result.trend_ratio, [(3200 / 4200 + 2) / 3])  # 0.92063
    assert_allclose(result.trend_points, [20 + (3200 / 4200 + 2 - 1.5) / 3 * 120])  # 70.48
    assert result.usage_component.tolist() == [45.5]
    assert result.score.tolist() == [46]


@pytest.mark.parametrize(
    ("ratio", "points"),
    [
        (0.0, 0.0),
        (0.25, 10.0),
        (0.5, 20.0),
        (0.75, 50.0),
        (0.9, 68.0),
        (1.0, 80.0),
        (1.1, 88.0),
        (1.25, 100.0),
        (2.0, 100.0),
        (np.nan, 80.0),  # unknown reads as steady
    ],
)
def test_the_trend_curve(ratio, points):
    assert health.trend_points(ratio) == pytest.approx(points)


@pytest.mark.parametrize(
    ("anomalies", "component"),
    [
        ([], 80.0),
        ([("negative", "critical")], 55.0),
        ([("negative", "warning")], 68.0),
        ([("negative", "info")], 76.0),
        ([("positive", "info")], 85.0),
        ([("positive", "critical")], 85.0),  # a gain is good news whatever its severity
        ([("positive", "warning")] * 5, 90.0),  # gains earn at most BONUS_CAP
        ([("negative", "critical")] * 4, 20.0),  # losses cost at most PENALTY_CAP
        ([("negative", "warning"), ("positive", "info")], 73.0),
    ],
)
def test_open_anomalies_move_a_steady_account(anomalies, component):
    rows = {API_CALLS: flat(), LOGINS: flat(40.0)}
    result = scores(rows, anomalies=[("a", d, s) for d, s in anomalies])
    assert result.usage_component.tolist() == [component]
    assert result.score.tolist() == [round(component)]


def test_critical_lowers_more_than_warning_more_than_info_and_a_gain_raises():
    rows = {API_CALLS: flat()}
    by = {
        kind: scores(rows, anomalies=[("a", *kind)]).usage_component[0]
        for kind in [("negative", "critical"), ("negative", "warning"), ("negative", "info")]
    }
    none = scores(rows).usage_component[0]
    gain = scores(rows, anomalies=[("a", "positive", "warning")]).usage_component[0]
    assert by[("negative", "critical")] < by[("negative", "warning")]
    assert by[("negative", "warning")] < by[("negative", "info")] < none < gain


@pytest.mark.parametrize(
    ("recent", "anomalies", "component"),
    [
        ([0.0] * 14, [("negative", "critical")] * 3, 0.0),  # floor at 0
        ([1000.0] * 14, [("positive", "info")] * 3, 100.0),  # ceiling at 100
    ],
)
def test_the_score_stays_within_0_and_100(recent, anomalies, component):
    result = scores({API_CALLS: flat(recent=recent)}, anomalies=[("a", *x) for x in anomalies])
    assert result.usage_component.tolist() == [component]
    assert result.score.tolist() == [int(component)]


def test_random_inputs_stay_in_bounds():
    rng = np.random.default_rng(7)
    values = rng.gamma(0.5, 100.0, (40, DAYS)) * (rng.random((40, 1)) * 3)
    values[rng.random(values.shape) < 0.3] = np.nan
    groups = [f"acct{i // 4}" for i in range(40)]
    metrics = [(API_CALLS, LOGINS, "feature:x", "feature:y")[i % 4] for i in range(40)]
    sev = ["critical", "warning", "info"]
    anomalies = [
        (f"acct{rng.integers(10)}", ["negative", "positive"][rng.integers(2)], sev[rng.integers(3)])
        for _ in range(30)
    ]
    result = health.health_scores(
        values=values, groups=groups, metrics=metrics, anomalies=anomalies
    )
    assert len(result.accounts) == 10
    assert ((result.usage_component >= 0) & (result.usage_component <= 100)).all()
    assert ((result.score >= 0) & (result.score <= 100)).all()


def test_core_metrics_decide_and_features_only_stand_in():
    # A feature collapsed, the core metrics are steady: the trend is steady.
    rows = {API_CALLS: flat(), "feature:reports": flat(recent=[0.0] * 14)}
    assert scores(rows).trend_ratio.tolist() == [1.0]
    # An account with features only is judged on them: mean of 1.0 and 0.5.
    rows = {"feature:a": flat(), "feature:b": flat(recent=[150.0] * 14)}
    assert scores(rows).trend_ratio.tolist() == [0.75]
    assert scores(rows).usage_component.tolist() == [50.0]


def test_one_booming_metric_cannot_hide_a_collapse():
    rows = {API_CALLS: flat(recent=[3000.0] * 14), LOGINS: flat(recent=[150.0] * 14)}
    # API calls x10 count as x1.25 (SERIES_RATIO_CAP): mean of 1.25 and 0.5.
    assert scores(rows).trend_ratio.tolist() == [0.875]
    assert scores(rows).usage_component.tolist() == [65.0]


def test_missing_days_are_not_zero_and_too_few_mean_unknown():
    api = flat()
    api[-14:-4] = np.nan  # 4 recent days left: too few to judge
    assert np.isnan(scores({API_CALLS: api}).trend_ratio[0])
    assert scores({API_CALLS: api}).usage_component.tolist() == [80.0]
    api = flat(recent=[150.0] * 14)
    api[-14:-7] = np.nan  # 7 recent days at 150 are enough: ratio 0.5
    assert scores({API_CALLS: api}).trend_ratio.tolist() == [0.5]


def test_a_short_or_empty_baseline_is_unknown():
    short = np.full(health.RECENT_DAYS + health.MIN_BASELINE_PRESENT - 1, 300.0)
    assert np.isnan(health.series_trend_ratios(short[None, :])[0])
    enough = np.full(health.RECENT_DAYS + health.MIN_BASELINE_PRESENT, 300.0)
    assert health.series_trend_ratios(enough[None, :]).tolist() == [1.0]
    zero = flat(0.0, recent=[5.0] * 14)
    assert np.isnan(health.series_trend_ratios(zero[None, :])[0])


WEEK = np.array([1.0, 1.1, 1.1, 1.0, 0.9, 0.2, 0.2])  # a working week, quiet weekends


def weekly(level: float = 100.0, days: int = DAYS) -> np.ndarray:
    return level * np.tile(WEEK, days // 7 + 1)[:days]


def test_recent_days_are_judged_against_their_own_weekday():
    series = weekly()
    series[-3] = np.nan  # a lost weekday in the recent window is no decline
    series[-10] = np.nan
    assert health.series_trend_ratios(series[None, :]) == pytest.approx([1.0])
    # Weekdays at 80 %, weekends as usual: the ratio is the lost volume's share.
    low = weekly()
    recent = low[-14:]
    recent[recent > 0.5 * 100] *= 0.8
    expected = recent.sum() / weekly()[-14:].sum()
    assert health.series_trend_ratios(low[None, :]) == pytest.approx([expected])


def test_holidays_are_left_out_of_both_windows():
    series = weekly()
    holidays = np.zeros_like(series, dtype=bool)
    for day in (-5, -4, -40):  # a Thursday-Friday holiday, and one in the baseline
        series[day] *= 0.2
        holidays[day] = True
    assert health.series_trend_ratios(series[None, :])[0] < 0.95
    assert health.series_trend_ratios(series[None, :], holidays=holidays[None, :]) == (
        pytest.approx([1.0])
    )


def test_overflowing_or_infinite_values_never_warn():
    with np.errstate(all="raise"):  # and no warning on the way
        huge = flat()
        huge[[5, 12]] = 1e308  # one weekday's baseline sum overflows
        assert np.isnan(health.series_trend_ratios(huge[None, :])[0])
        infinite = flat()
        infinite[-3] = np.inf  # an infinite value is a lost day
        assert health.series_trend_ratios(infinite[None, :]).tolist() == [1.0]


def test_the_history_scores_each_day_as_if_it_were_the_last():
    rng = np.random.default_rng(3)
    values = weekly(days=DAYS + 10)[None, :] * rng.lognormal(0, 0.1, (3, DAYS + 10))
    values[1, -20:] *= 0.5
    values[2, rng.random(DAYS + 10) < 0.2] = np.nan
    history = health.series_trend_ratio_history(values, days=12)
    assert history.shape == (3, 12)
    for k in range(12):
        end = values.shape[1] - 11 + k
        assert_allclose(history[:, k], health.series_trend_ratios(values[:, :end]))
    assert health.series_trend_ratio_history(values[:, :5], days=12).shape == (3, 5)


def test_accounts_are_scored_separately_and_sorted():
    values = np.vstack([flat(), flat(recent=[150.0] * 14)])
    result = health.health_scores(
        values=values,
        groups=["b", "a"],
        metrics=[API_CALLS, API_CALLS],
        anomalies=[("b", "negative", "warning"), ("zzz", "negative", "critical")],
    )
    assert result.accounts == ("a", "b")
    assert result.usage_component.tolist() == [20.0, 68.0]
    assert result.penalty.tolist() == [0.0, 12.0]


def test_anomaly_points_name_the_effect_of_one():
    assert health.anomaly_points(direction="negative", severity="critical") == -25.0
    assert health.anomaly_points(direction="negative", severity="info") == -4.0
    assert health.anomaly_points(direction="positive", severity="critical") == 5.0
    with pytest.raises(ValueError, match="'sideways' is not a valid Direction"):
        health.anomaly_points(direction="sideways", severity="info")


def test_it_rejects_bad_shapes():
    with pytest.raises(ValueError, match="series x days"):
        health.health_scores(values=np.zeros(5), groups=["a"], metrics=[API_CALLS])
    with pytest.raises(ValueError, match=r"groups \(1\) and metrics \(2\) must name each of the 2"):
        health.account_trend_ratios(np.zeros(2), groups=["a"], metrics=[API_CALLS, LOGINS])
