import datetime as dt

import numpy as np
import pytest

from bench import failure_classes as fc
from bench.scoring import Report
from bench.series_io import WideSeries

D = dt.date
START = D(2012, 1, 2)  # a Monday


def wide(rows: dict[str, np.ndarray]) -> WideSeries:
    values = np.vstack(list(rows.values())).astype(float)
    n = values.shape[1]
    return WideSeries(
        list(rows), START, values, np.zeros(len(rows), int), np.full(len(rows), n - 1)
    )


def flat(days: int, level: float = 1000.0, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * (1 + rng.normal(0, noise, days))


def day(k: int) -> D:
    return START + dt.timedelta(days=k)


def report(series_id: str, start: D, end: D | None = None) -> Report:
    return Report(series_id, start, end, start, "drop")


def evidence(rows: dict[str, np.ndarray], events=None) -> fc.Evidence:
    return fc.evidence_build(wide(rows), events or {})


def test_sources_are_read_off_the_series_id_prefix():
    assert fc.source_of("mel-sensor03/api_calls") == "mel-"
    assert fc.source_of("nyc-site100009427/logins") == "nyc-"
    assert fc.source_of("cabi/active_users") == "cabi/"
    assert fc.source_of("births-us/active_users") == "births-"
    assert fc.source_of("acme/logins") == "other"


def test_the_same_weekday_baseline_reads_only_the_previous_four_weeks():
    values = np.arange(1.0, 43.0)[None, :]  # day t holds t + 1
    base = fc.same_weekday_baseline(values)
    assert np.isnan(base[0, :14]).all()  # fewer than 2 same weekdays before
    assert base[0, 14] == np.median([8.0, 1.0])  # days 7 and 0
    assert base[0, 35] == np.median([29.0, 22.0, 15.0, 8.0])


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (D(2012, 12, 30), D(2013, 1, 2), True),
        (D(2013, 1, 1), None, True),
        (D(2012, 12, 20), D(2012, 12, 24), True),  # ends on Dec 24
        (D(2012, 12, 20), D(2012, 12, 23), False),
        (D(2012, 12, 23), None, False),  # a report without end is one day
        (D(2013, 1, 2), D(2013, 1, 5), False),
    ],
)
def test_year_end_is_an_overlap_with_dec_24_to_jan_1(start, end, expected):
    ev = evidence({"nyc-a/logins": flat(500)})
    assert fc.is_year_end(ev, report("nyc-a/logins", start, end)) is expected


@pytest.mark.parametrize(
    "series_id, start, expected",
    [
        ("mel-sensor01/api_calls", D(2012, 11, 5), True),  # the day before Melbourne Cup
        ("mel-sensor01/api_calls", D(2012, 11, 7), True),  # the day after
        ("mel-sensor01/api_calls", D(2012, 11, 8), False),
        ("nyc-site1/logins", D(2012, 11, 6), False),  # not an American holiday
        ("nyc-site1/logins", D(2012, 7, 5), True),  # the day after July 4
        ("mel-sensor01/api_calls", D(2012, 7, 4), False),  # not an Australian one
        ("cabi/active_users", D(2012, 11, 23), True),  # the day after Thanksgiving
    ],
)
def test_public_holidays_come_from_the_series_own_country(series_id, start, expected):
    ev = evidence({series_id: flat(400)})
    assert fc.is_public_holiday(ev, report(series_id, start)) is expected


def _dipped_every_year(years_dipped: tuple[int, ...]) -> np.ndarray:
    values = flat(900)
    for year in years_dipped:
        first = 100 + 364 * year
        values[first : first + 21] *= 0.5  # three weeks at half the level
    return values


def test_recurring_yearly_needs_the_same_dip_a_year_before():
    sid = "mel-sensor01/api_calls"
    now = day(100 + 364 * 2)
    seasonal = evidence({sid: _dipped_every_year((0, 1, 2))})
    assert fc.is_recurring_yearly(seasonal, report(sid, now))
    once = evidence({sid: _dipped_every_year((2,))})
    assert not fc.is_recurring_yearly(once, report(sid, now))
    # Twelve days off still counts (+- 14 days); the dip then is the same way only.
    shifted = _dipped_every_year((2,))
    shifted[112 + 364 : 133 + 364] *= 0.5
    assert fc.is_recurring_yearly(evidence({sid: shifted}), report(sid, now))
    opposite = _dipped_every_year((2,))
    opposite[100 + 364 : 121 + 364] *= 2.0
    assert not fc.is_recurring_yearly(evidence({sid: opposite}), report(sid, now))


def test_recurring_yearly_ignores_a_move_that_does_not_show_in_the_weekly_median():
    sid = "mel-sensor01/api_calls"
    values = _dipped_every_year((0, 1))
    values[100 + 364 * 2] *= 0.3  # one bad day where the dip used to be
    ev = evidence({sid: values})
    assert not fc.is_recurring_yearly(ev, report(sid, day(100 + 364 * 2)))


def test_recurring_rate_counts_the_reports_the_rule_holds_for():
    sid = "mel-sensor01/api_calls"
    ev = evidence({sid: _dipped_every_year((0, 1, 2))})
    reports = [report(sid, day(100 + 364 * 2)), report(sid, day(300))]
    assert fc.recurring_rate(ev, reports, fc.YEAR_DAYS) == 0.5
    assert fc.recurring_rate(ev, [], fc.YEAR_DAYS) is None


def _group(moved: int, size: float, others: int = 3) -> fc.Evidence:
    rows = {f"nyc-site{k}/logins": flat(120, seed=k) for k in range(others + 1)}
    rows["mel-sensor01/api_calls"] = flat(120, seed=9) * 0.5  # another source: ignored
    for k in range(moved + 1):  # the reported series and `moved` others
        rows[f"nyc-site{k}/logins"][80] *= 1 - size
    return evidence(rows)


@pytest.mark.parametrize(
    "moved, size, others, expected",
    [
        (2, 0.5, 3, True),  # 2 of 3 others, 50 % down
        (1, 0.5, 3, False),  # one other is not a group
        (2, 0.2, 3, False),  # under 30 %
        (2, 0.5, 7, False),  # 2 of 7 is under 30 %
        (3, 0.5, 7, True),  # 3 of 7
    ],
)
def test_group_wide_needs_30_percent_and_two_other_series_of_the_source(
    moved, size, others, expected
):
    ev = _group(moved, size, others)
    assert fc.is_group_wide(ev, report("nyc-site0/logins", day(80))) is expected


def _others_down_on_day_80(own_day: int, own_factor: float) -> fc.Evidence:
    rows = {f"nyc-site{k}/logins": flat(120, seed=k) for k in range(4)}
    rows["nyc-site0/logins"][own_day] *= own_factor
    rows["nyc-site1/logins"][80] *= 0.5
    rows["nyc-site2/logins"][80] *= 0.5
    return evidence(rows)


@pytest.mark.parametrize(
    "own_day, own_factor, expected",
    [
        (79, 0.5, True),  # the others fell the next day
        (81, 0.5, True),  # the day before
        (78, 0.5, False),  # two days apart
        (80, 2.0, False),  # the others moved the other way
    ],
)
def test_group_wide_looks_a_day_either_side_and_the_same_way_only(own_day, own_factor, expected):
    ev = _others_down_on_day_80(own_day, own_factor)
    assert fc.is_group_wide(ev, report("nyc-site0/logins", day(own_day))) is expected


def test_spiky_series_counts_tail_days_before_the_report_only():
    spiky = flat(200)
    spiky[np.arange(20, 200, 20)] *= 3  # 5 % of days three times the level
    calm = flat(200)
    ev = evidence({"nyc-a/logins": spiky, "nyc-b/logins": calm})
    assert fc.is_spiky_series(ev, report("nyc-a/logins", day(190)))
    assert not fc.is_spiky_series(ev, report("nyc-b/logins", day(190)))
    # Before day 70 there are under 56 days with a baseline: not judged.
    assert not fc.is_spiky_series(ev, report("nyc-a/logins", day(60)))


def test_small_account_is_a_median_under_100():
    ev = evidence({"nyc-a/logins": flat(60, level=99), "nyc-b/logins": flat(60, level=101)})
    assert fc.is_small_account(ev, report("nyc-a/logins", day(40)))
    assert not fc.is_small_account(ev, report("nyc-b/logins", day(40)))


def test_real_event_is_an_overlap_with_a_known_period_of_the_series():
    events = {"nyc-a/logins": [(day(40), day(42))]}
    ev = evidence({"nyc-a/logins": flat(60), "nyc-b/logins": flat(60)}, events)
    assert fc.is_real_event(ev, report("nyc-a/logins", day(38), day(40)))
    assert fc.is_real_event(ev, report("nyc-a/logins", day(42)))
    assert not fc.is_real_event(ev, report("nyc-a/logins", day(43)))
    assert not fc.is_real_event(ev, report("nyc-b/logins", day(41)))


def test_an_alert_gets_the_first_class_that_explains_it():
    events = {"nyc-a/logins": [(day(200), day(201))]}
    small = {"nyc-a/logins": flat(400, level=50)}
    ev = evidence(small, events)
    assert fc.failure_class(ev, report("nyc-a/logins", D(2012, 12, 25))) == "year_end"
    assert fc.failure_class(ev, report("nyc-a/logins", day(200))) == "small_account"
    big = evidence({"nyc-a/logins": flat(400)}, events)
    assert fc.failure_class(big, report("nyc-a/logins", day(200))) == "real_event"
    assert fc.failure_class(big, report("nyc-a/logins", day(150))) == "other"
    assert fc.failure_class(big, report("acme/logins", day(150))) == "other"
