"""The insights selectors on a hand-counted history (tests/anomalies/insights_data.py).

Outcome window 30 days; period Jan 1 to Feb 28 2025, so the base rate's account-windows are
[Jan 1, Jan 31) and [Jan 31, Mar 2). Per account (windows, with a loss, with an expansion):
A (2, 1, 0) churned Feb 5 · B (2, 0, 0) renewed only · C (2, 0, 0) · D (2, 0, 1) expanded
Feb 10 · E (2, 1, 0) contracted Jan 15 · X (Bob's) (1, 1, 0) churned Jan 20, so not at risk in
the second window.
"""

import datetime as dt

import pytest

from anomalies.selectors_insights import (
    effectiveness_report,
    insights_scope,
    precision_weekly,
)
from tests.anomalies.insights_data import END, START, WINDOW_DAYS, insights_history

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TODAY = dt.date(2025, 6, 1)


@pytest.fixture
def history(settings, csm, other_csm, make_customer):
    settings.ANOMALY_OUTCOME_WINDOW_DAYS = WINDOW_DAYS
    return insights_history(csm=csm, other_csm=other_csm, make_customer=make_customer)


def _report(user, csm=None, **kwargs):
    kwargs = {"start": START, "end": END, "today": TODAY} | kwargs
    return effectiveness_report(customers=insights_scope(user=user, csm=csm), **kwargs)


def _figures(row):
    return {
        "count": row.count,
        "accounts": row.accounts,
        "loss": (row.loss.events, row.loss.total),
        "loss_base": (row.loss_base.events, row.loss_base.total),
        "gain": (row.gain.events, row.gain.total),
        "gain_base": (row.gain_base.events, row.gain_base.total),
        "dismissed": row.dismissed,
    }


def _no_dismissals(**counts):
    return {"false_positive": 0, "expected": 0, "new_normal": 0, "data_issue": 0} | counts


def test_effectiveness_counts_a_csms_own_portfolio(history, csm, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        report = _report(csm)

    assert (report.accounts, report.window_days, report.window_complete) == (5, 30, True)
    keys = [(r.anomaly_type, r.severity, r.family) for r in report.rows]
    assert keys == [
        ("drop", "critical", "api_calls"),
        ("drop", "warning", "logins"),
        ("spike", "info", "feature:*"),
    ]
    critical, warning, spikes = report.rows
    # Anomalies 1, 2, 3, 9 on A, B, C: A's churn follows 1, the CSM says 3 led to a
    # contraction; the base is D and E.
    assert _figures(critical) == {
        "count": 4,
        "accounts": 3,
        "loss": (2, 4),
        "loss_base": (1, 4),
        "gain": (0, 4),
        "gain_base": (1, 4),
        "dismissed": _no_dismissals(false_positive=1, data_issue=1),
    }
    assert critical.loss_lift.value == pytest.approx(2.0)
    assert critical.gain_lift.value == 0.0
    assert critical.dismissed_share("false_positive") == 0.25
    # E's contraction a week after anomaly 8; the base is A, B, C, D.
    assert _figures(warning) == {
        "count": 1,
        "accounts": 1,
        "loss": (1, 1),
        "loss_base": (1, 8),
        "gain": (0, 1),
        "gain_base": (1, 8),
        "dismissed": _no_dismissals(new_normal=1),
    }
    assert warning.loss_lift.value == pytest.approx(8.0)
    assert warning.small_sample
    # Two feature spikes on D: its expansion is 36 days after the first (outside the window)
    # and 16 after the second. Nobody else expanded: no base rate to divide by.
    assert _figures(spikes) == {
        "count": 2,
        "accounts": 1,
        "loss": (0, 2),
        "loss_base": (2, 8),
        "gain": (1, 2),
        "gain_base": (0, 8),
        "dismissed": _no_dismissals(expected=1),
    }
    assert spikes.gain_lift.value is None


def test_staff_count_every_portfolio_or_the_one_chosen(history, staff, csm):
    everyone = _report(staff)
    assert everyone.accounts == 6
    critical = everyone.rows[0]
    # Bob's X: anomaly 10 followed by its churn; X's one window before churning has a loss.
    assert (critical.count, critical.accounts, critical.loss.events) == (5, 4, 3)
    assert (critical.loss_base.events, critical.loss_base.total) == (1, 4)
    warning = everyone.rows[1]
    assert (warning.loss_base.events, warning.loss_base.total) == (2, 9)

    alices = _report(staff, csm=csm)
    assert [_figures(r) for r in alices.rows] == [_figures(r) for r in _report(csm).rows]


def test_a_period_ending_within_the_window_is_flagged_incomplete(history, csm):
    assert not _report(csm, today=dt.date(2025, 3, 10)).window_complete


def test_an_empty_period_has_no_rows(history, csm):
    report = _report(csm, start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 1))
    assert report.rows == []


def _series(series):
    return {
        s.key: (
            s.overall.total,
            s.overall.judged,
            s.overall.dismissed["false_positive"],
            s.overall.mattered,
        )
        for s in series
    }


def test_weekly_precision_by_type(history, csm, django_assert_max_num_queries):
    with django_assert_max_num_queries(1):
        series = precision_weekly(
            customers=insights_scope(user=csm), start=START, end=END, by="type"
        )

    # (total, judged, false positives, mattered)
    assert _series(series) == {"drop": (5, 5, 1, 2), "spike": (2, 1, 0, 0)}
    drop = series[0]
    assert drop.label == "Drop"
    assert drop.overall.dismissed == {
        "false_positive": 1,
        "expected": 0,
        "new_normal": 1,
        "data_issue": 1,
    }
    assert drop.overall.precision.value == pytest.approx(0.8)
    weeks = [w.week for w in drop.weeks]
    assert weeks[0] == dt.date(2024, 12, 30) and weeks[-1] == dt.date(2025, 2, 24)
    assert len(weeks) == 9
    by_week = {w.week: w for w in drop.weeks}
    assert (by_week[dt.date(2025, 1, 6)].judged, by_week[dt.date(2025, 1, 6)].mattered) == (2, 1)
    assert by_week[dt.date(2025, 1, 6)].precision.value == 1.0
    assert by_week[dt.date(2025, 1, 20)].precision.value == 0.0
    assert by_week[dt.date(2025, 1, 13)].precision.value is None  # nothing judged


def test_precision_by_sensitivity_uses_the_preset_in_force(history, csm):
    series = precision_weekly(
        customers=insights_scope(user=csm), start=START, end=END, by="sensitivity"
    )
    assert _series(series) == {"medium": (5, 5, 1, 2), "high": (2, 1, 0, 0)}
    assert series[1].label == "High (in force now)"


def test_precision_by_csm_for_staff(history, staff, csm, other_csm):
    series = precision_weekly(customers=insights_scope(user=staff), start=START, end=END, by="csm")
    assert _series(series) == {str(csm.pk): (7, 6, 1, 2), str(other_csm.pk): (1, 0, 0, 0)}
    assert [s.label for s in series] == ["Alice Owner", "Bob Other"]


@pytest.mark.parametrize(
    "by, expected",
    [
        ("severity", {"critical": (4, 4, 1, 2), "warning": (1, 1, 0, 0), "info": (2, 1, 0, 0)}),
        ("family", {"api_calls": (4, 4, 1, 2), "logins": (1, 1, 0, 0), "feature:*": (2, 1, 0, 0)}),
        (
            "metric",
            {
                "api_calls": (4, 4, 1, 2),
                "feature:export": (1, 1, 0, 0),
                "feature:reports": (1, 0, 0, 0),
                "logins": (1, 1, 0, 0),
            },
        ),
    ],
)
def test_precision_groupings(history, csm, by, expected):
    series = precision_weekly(customers=insights_scope(user=csm), start=START, end=END, by=by)
    assert _series(series) == expected
    assert [s.key for s in series] == list(expected)


def test_precision_refuses_an_unknown_grouping(csm):
    with pytest.raises(ValueError, match="by must be one of"):
        precision_weekly(customers=insights_scope(user=csm), start=START, end=END, by="colour")
