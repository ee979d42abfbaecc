import datetime as dt

import pytest

from bench.scoring import (
    ONSET_RULE,
    REAL_DAILY_RULE,
    Label,
    Report,
    chance_recall,
    matches,
    score,
    shift_interval,
)

D = dt.date
YEAR = (D(2025, 1, 1), D(2025, 12, 31))  # 365 days
SPANS = {"acme/logins": YEAR, "globex/logins": YEAR}


def report(start, end=None, detected_at=None, series_id="acme/logins", type="drop"):
    return Report(series_id, start, end, detected_at or start, type)


def test_it_scores_one_hit_one_miss_and_one_false_alarm_on_a_clean_series():
    labels = [Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), "drop")]
    reports = [
        report(D(2025, 3, 11), D(2025, 3, 12)),
        report(D(2025, 6, 1), D(2025, 6, 2)),
        report(D(2025, 2, 1), D(2025, 2, 1), series_id="globex/logins"),
    ]
    sc = score(reports, labels, SPANS, clean={"globex/logins"})
    assert (sc.reports, sc.matched_reports, sc.detected) == (3, 1, 1)
    assert sc.precision == pytest.approx(1 / 3)
    assert sc.recall == 1.0
    assert sc.f1 == pytest.approx(0.5)
    assert sc.false_alarms == 2
    assert sc.false_alarms_per_clean_series_year == pytest.approx(365.25 / 365)
    assert sc.false_alarms_per_series_year == pytest.approx(2 * 365.25 / 730)
    assert sc.delays_by_type == {"drop": [1]}


@pytest.mark.parametrize(
    "label_type, report_days, expected",
    [
        ("drop", (D(2025, 3, 1), D(2025, 3, 8)), True),  # ends on start - 2
        ("drop", (D(2025, 3, 1), D(2025, 3, 7)), False),  # ends on start - 3
        ("drop", (D(2025, 3, 17), D(2025, 3, 20)), True),  # starts on end + 3
        ("drop", (D(2025, 3, 18), D(2025, 3, 20)), False),  # starts on end + 4
        ("spike", (D(2025, 3, 18), D(2025, 3, 20)), False),
        ("pattern_change", (D(2025, 3, 28), D(2025, 3, 30)), True),  # end + 14
        ("pattern_change", (D(2025, 3, 29), D(2025, 3, 30)), False),  # end + 15
        ("gradual_decline", (D(2025, 3, 28), D(2025, 3, 28)), True),
        ("feature_abandonment", (D(2025, 3, 29), D(2025, 3, 29)), False),
        ("drop", (D(2025, 1, 5), None), True),  # open report, runs to the last day
    ],
)
def test_it_matches_within_the_label_window(label_type, report_days, expected):
    label = Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), label_type)
    assert matches(report(*report_days), label, YEAR[1]) is expected


def test_it_never_matches_another_series():
    label = Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), "drop")
    other = report(D(2025, 3, 10), D(2025, 3, 14), series_id="globex/logins")
    assert not matches(other, label, YEAR[1])


def test_it_takes_the_delay_from_the_earliest_matching_report_floored_at_zero():
    labels = [
        Label("acme/logins", D(2025, 3, 10), D(2025, 3, 20), "drop"),
        Label("acme/logins", D(2025, 6, 10), D(2025, 6, 20), "drop"),
        Label("globex/logins", D(2025, 5, 1), D(2025, 5, 30), "pattern_change"),
    ]
    reports = [
        report(D(2025, 3, 14), D(2025, 3, 15)),  # delay 4, superseded
        report(D(2025, 3, 11), D(2025, 3, 12)),  # delay 1
        report(D(2025, 6, 13), D(2025, 6, 18)),  # delay 3
        report(D(2025, 4, 29), None, series_id="globex/logins", type="drop"),  # -2 -> 0
    ]
    sc = score(reports, labels, SPANS)
    assert sc.delays_by_type == {"drop": [1, 3], "pattern_change": [0]}
    assert sc.delay_median("drop") == 2.0
    assert sc.delay_p90("drop") == pytest.approx(2.8)
    assert sc.recall_of("pattern_change") == 1.0
    assert sc.confusion == {"drop": {"drop": 2}, "pattern_change": {"drop": 1}}


def test_it_counts_recall_by_type_and_misses_in_the_confusion_table():
    labels = [
        Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), "drop"),
        Label("acme/logins", D(2025, 8, 1), D(2025, 8, 5), "spike"),
        Label("globex/logins", D(2025, 8, 1), D(2025, 8, 5), "spike"),
    ]
    reports = [report(D(2025, 8, 2), D(2025, 8, 3), type="spike")]
    sc = score(reports, labels, SPANS)
    assert sc.recall == pytest.approx(1 / 3)
    assert sc.recall_of("drop") == 0.0
    assert sc.recall_of("spike") == 0.5
    assert sc.confusion == {"drop": {"missed": 1}, "spike": {"spike": 1, "missed": 1}}
    assert sc.delay_median("drop") is None


def test_it_counts_reports_starting_in_the_outage_as_false():
    outage = (D(2025, 3, 9), D(2025, 3, 10))
    labels = [Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), "drop")]
    reports = [
        report(D(2025, 3, 10), D(2025, 3, 12)),
        report(D(2025, 3, 9), D(2025, 3, 9), series_id="globex/logins"),
        report(D(2025, 3, 8), D(2025, 3, 11), series_id="globex/logins"),  # began before
    ]
    sc = score(reports, labels, SPANS, clean={"globex/logins"}, outage=outage)
    assert sc.outage_alerts == 2
    assert (sc.matched_reports, sc.detected) == (0, 0)
    assert sc.precision == 0.0
    assert sc.f1 == 0.0
    assert sc.clean_reports == 2


def test_it_leaves_rates_undefined_without_reports_or_labels():
    sc = score([], [], SPANS)
    assert (sc.precision, sc.recall, sc.f1, sc.chance_recall) == (None, None, None, None)
    assert sc.false_alarms_per_clean_series_year is None


def test_shift_interval_wraps_past_the_end_of_the_span():
    span = (D(2025, 1, 1), D(2025, 1, 10))
    days = (D(2025, 1, 7), D(2025, 1, 9))
    assert shift_interval(days, 2, span) == [
        (D(2025, 1, 9), D(2025, 1, 10)),
        (D(2025, 1, 1), D(2025, 1, 1)),
    ]
    assert shift_interval(days, 10, span) == [days]


def test_chance_recall_of_an_always_open_report_is_one_and_of_none_is_zero():
    labels = [Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), "drop")]
    always = [report(YEAR[0], None)]
    assert chance_recall(always, labels, SPANS) == 1.0
    assert chance_recall([], labels, SPANS) == 0.0


def test_chance_recall_is_the_share_of_offsets_that_land_in_the_window():
    span = (D(2025, 1, 1), D(2025, 1, 10))
    # Window: Jan 3 .. Jan 8, six of the ten days a one-day report can be moved to.
    labels = [Label("acme/logins", D(2025, 1, 5), D(2025, 1, 5), "drop")]
    reports = [report(D(2025, 1, 1), D(2025, 1, 1))]
    got = chance_recall(reports, labels, {"acme/logins": span}, shuffles=4000, seed=1)
    assert got == pytest.approx(0.6, abs=0.03)
    assert got == chance_recall(reports, labels, {"acme/logins": span}, shuffles=4000, seed=1)


# real_daily's README: [start, end] matches [ls, le] when start <= le + 2 and end >= ls - 2.
@pytest.mark.parametrize(
    "report_days, expected",
    [
        ((D(2025, 3, 16), D(2025, 3, 20)), True),  # start = le + 2
        ((D(2025, 3, 17), D(2025, 3, 20)), False),  # start = le + 3
        ((D(2025, 3, 1), D(2025, 3, 8)), True),  # end = ls - 2
        ((D(2025, 3, 1), D(2025, 3, 7)), False),  # end = ls - 3
        ((D(2025, 3, 8), None), True),  # no end: the start day alone, on ls - 2
        ((D(2025, 3, 7), None), False),  # ls - 3, though it would run on past the label
        ((D(2025, 3, 16), None), True),
        ((D(2025, 3, 17), None), False),
    ],
)
def test_the_real_daily_rule_matches_within_two_days_and_reads_an_open_report_as_one_day(
    report_days, expected
):
    for label_type in ("drop", "pattern_change", "gradual_decline"):
        label = Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), label_type)
        assert matches(report(*report_days), label, YEAR[1], REAL_DAILY_RULE) is expected


@pytest.mark.parametrize(
    "start, end, expected",
    [
        (D(2025, 3, 8), D(2025, 3, 9), True),  # starts on ls - 2
        (D(2025, 3, 7), D(2025, 3, 12), False),  # starts on ls - 3, though it overlaps
        (D(2025, 3, 24), None, True),  # starts on ls + 14
        (D(2025, 3, 25), None, False),  # ls + 15: inside the label, but late
    ],
)
def test_the_onset_rule_also_asks_for_a_start_within_two_days_before_to_14_after(
    start, end, expected
):
    label = Label("acme/logins", D(2025, 3, 10), YEAR[1], "pattern_change")
    assert matches(report(start, end), label, YEAR[1], REAL_DAILY_RULE)
    assert matches(report(start, end), label, YEAR[1], ONSET_RULE) is expected


def test_onset_recall_and_delay_count_only_timely_reports():
    labels = [
        Label("acme/logins", D(2025, 3, 10), YEAR[1], "pattern_change"),  # permanent
        Label("acme/logins", D(2025, 1, 10), D(2025, 1, 20), "drop"),
        Label("globex/logins", D(2025, 5, 1), D(2025, 6, 30), "gradual_decline"),
    ]
    reports = [
        report(D(2025, 4, 20), D(2025, 4, 22)),  # 41 days into the permanent change
        report(D(2025, 1, 11), D(2025, 1, 12), detected_at=D(2025, 1, 12)),  # delay 2
        report(D(2025, 5, 9), None, D(2025, 5, 30), series_id="globex/logins"),  # delay 29
    ]
    plain = score(reports, labels, SPANS, rule=REAL_DAILY_RULE)
    onset = score(reports, labels, SPANS, rule=ONSET_RULE)
    assert plain.recall == 1.0
    assert onset.recall == pytest.approx(2 / 3)
    assert onset.recall_of("pattern_change") == 0.0
    assert onset.delays_by_type == {"drop": [2], "gradual_decline": [29], "pattern_change": []}
    assert onset.delay_median("gradual_decline") == 29.0
    assert onset.delay_median("pattern_change") is None


def test_reports_per_series_year_on_unlabeled_series_use_the_readme_rule():
    labels = [Label("acme/logins", D(2025, 3, 10), D(2025, 3, 14), "drop")]
    reports = [
        report(D(2025, 3, 12), D(2025, 3, 13)),
        report(D(2025, 2, 1), D(2025, 2, 1), series_id="globex/logins"),
        report(D(2025, 9, 1), None, series_id="globex/logins"),
    ]
    sc = score(reports, labels, SPANS, clean={"globex/logins"}, rule=REAL_DAILY_RULE)
    assert (sc.precision, sc.recall) == (pytest.approx(1 / 3), 1.0)
    assert sc.false_alarms_per_clean_series_year == pytest.approx(2 * 365.25 / 365)
