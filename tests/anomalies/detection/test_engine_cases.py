"""The engine on seeded synthetic series with known answers: what must fire (with its exact
type, direction, start and end) and what must not fire at all."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from anomalies.detection import detect_series, preset
from tests import synth
from tests.synth import START, day, index_of

N = 200  # days: 2025-01-06 .. 2025-07-24, well past every warm-up
LAST = N - 1
NO_CALENDAR = replace(preset("medium"), holiday_country=None)
SEEDS = (0, 1, 2)


def run(values, metric="api_calls", **kwargs):
    return detect_series(values, start=START, series_id=f"acme/{metric}", **kwargs)


def by_type(findings, kind):
    return [f for f in findings if f.type == kind]


# --- what must fire --------------------------------------------------------------------------

# (id, metric, series builder, (type, direction, severity, first abnormal day, end day or None)).
# A run is reported on its second flagged day (min_duration_days=2 at medium), so detected_at is
# start + 1 for every run here.
FIRES = [
    pytest.param(
        "api_calls",
        lambda v: synth.scaled(v, slice(N - 6, N), 0.4),
        ("drop", "negative", "critical", N - 6, None),
        id="drop-60pct-last-6-days-api-calls-critical",
    ),
    pytest.param(
        "logins",
        lambda v: synth.scaled(v, slice(N - 8, N), 2.5),
        ("spike", "positive", "info", N - 8, None),
        id="spike-150pct-8-days-logins-info",
    ),
    pytest.param(
        "feature:reports",
        # A feature used ~500 times a day falls to 5 % of that for the last two weeks.
        lambda v: synth.scaled(v * 0.25, slice(N - 14, N), 0.05),
        ("feature_abandonment", "negative", "warning", N - 14, None),
        id="feature-to-5pct-14-days-abandonment",
    ),
    pytest.param(
        "api_calls",
        lambda v: synth.scaled(v, slice(150, 155), 0.4),
        ("drop", "negative", "critical", 150, 154),
        id="ended-5-day-drop",
    ),
    pytest.param(
        "api_calls",
        # One ordinary day (155) inside the drop is noise: recovery takes two.
        lambda v: synth.scaled(v, [*range(150, 155), *range(156, 159)], 0.4),
        ("drop", "negative", "critical", 150, 158),
        id="one-good-day-inside-a-drop",
    ),
    pytest.param(
        "feature:reports",
        # Past the 28-day horizon an abandonment stays open instead of becoming the baseline.
        lambda v: synth.scaled(v * 0.25, slice(N - 40, N), 0.05),
        ("feature_abandonment", "negative", "warning", N - 40, None),
        id="feature-abandoned-40-days-stays-open",
    ),
    pytest.param(
        "logins",
        # -60 % for 2 days: deep but short, so warning rather than critical.
        lambda v: synth.scaled(v, slice(150, 152), 0.4),
        ("drop", "negative", "warning", 150, 151),
        id="two-day-60pct-drop-warning",
    ),
    pytest.param(
        "logins",
        # -85 % for 2 days: deep enough to be critical at once.
        lambda v: synth.scaled(v, slice(150, 152), 0.15),
        ("drop", "negative", "critical", 150, 151),
        id="two-day-85pct-drop-critical",
    ),
    pytest.param(
        "reports_exported",
        lambda v: synth.scaled(v, slice(N - 6, N), 0.4),
        ("drop", "negative", "warning", N - 6, None),
        id="drop-on-non-core-metric-warning",
    ),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("metric", "build", "expected"), FIRES)
def test_fires_with_exact_type_start_and_end(seed, metric, build, expected):
    kind, direction, severity, first, last = expected
    findings = run(build(synth.usage(N, seed=seed)), metric, backtest=True)

    assert len(findings) == 1, findings
    f = findings[0]
    assert (f.type, f.direction, f.severity) == (kind, direction, severity)
    assert f.start == day(first)
    assert f.end == (None if last is None else day(last))
    assert day(first) <= f.detected_at <= day(first + 1)
    assert f.series_id == f"acme/{metric}"
    assert f.confidence == "normal"


def test_drop_then_spike_are_two_events():
    values = synth.scaled(synth.usage(N, seed=0), range(150, 154), 0.4)
    values = synth.scaled(values, range(154, 158), 2.5)

    findings = run(values, backtest=True)

    assert [(f.type, f.start, f.end) for f in findings] == [
        ("drop", day(150), day(153)),
        ("spike", day(154), day(157)),
    ]


def test_drop_numbers_describe_the_drop():
    values = synth.scaled(synth.usage(N, seed=7), slice(N - 6, N), 0.4)

    (f,) = run(values, backtest=True)

    assert f.actual == pytest.approx(np.mean(values[N - 6 :]), rel=1e-9)
    assert f.deviation_percent == pytest.approx(-60, abs=5)
    assert f.expected_low < f.baseline < f.expected_high
    assert f.actual < f.expected_low
    assert f.last_seen == day(LAST)
    assert f.duration_days == 6
    assert f.completeness == 1.0
    assert f.possible_cause == "Integration issue or migration"


def test_medium_ignores_a_25pct_drop_that_high_reports():
    # A quiet series (2 % noise), so every day of the drop is 22-28 % down: under medium's
    # 30 % bar and over high's 20 %.
    values = synth.scaled(synth.usage(N, seed=1, noise=0.02), slice(150, 160), 0.75)

    assert run(values, backtest=True) == []
    (f,) = run(values, backtest=True, config=preset("high"))
    assert (f.type, f.severity, f.start, f.end) == ("drop", "info", day(150), day(159))


@pytest.mark.parametrize("seed", SEEDS)
def test_permanent_level_shift_becomes_a_pattern_change_at_the_horizon(seed):
    shift = N - 40
    values = synth.scaled(synth.usage(N, seed=seed), slice(shift, N), 0.5)

    findings = run(values, backtest=True)

    horizon = shift + preset("medium").pattern_horizon_days - 1
    # One change, one report: the drop seen the day after it began, which past the horizon
    # is known to be the new normal.
    (change,) = findings
    assert change.type == "pattern_change"
    assert (change.start, change.end, change.detected_at) == (
        day(shift),
        day(horizon),
        day(shift + 1),
    )
    assert change.direction == "negative"
    assert change.deviation_percent == pytest.approx(-50, abs=5)
    # Rebaselined: the twelve days at the new level after the horizon are not a new event.
    assert all(f.start < day(horizon) for f in findings)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("days", "final", "within"), [(45, 0.45, 30), (42, 0.3, 21)])
def test_gradual_decline_is_found_while_under_way(seed, days, final, within):
    # A slide to `final` of the level over `days` days (slow churn): one gradual decline,
    # reported from about where it began, while the slide is still under way (once it has
    # taken the drop bar's 30 % off), with the decline so far and the level it reaches in
    # four weeks at its pace.
    first = N - days
    values = synth.ramp(synth.usage(N, seed=seed), first, days, final)

    findings = run(values, backtest=True)

    assert len(findings) == 1, findings
    (f,) = findings
    assert (f.type, f.direction) == ("gradual_decline", "negative")
    assert abs((f.start - day(first)).days) <= 7
    assert (f.detected_at - day(first)).days <= within
    assert f.end == f.detected_at
    # The decline so far, from the fitted start (the window's fit passed the 30 % bar).
    assert f.deviation_percent <= -25
    assert f.projected is not None and f.projected < f.actual
    # The daily test never tripped: the baseline followed the slope.
    assert by_type(findings, "drop") == []


@pytest.mark.parametrize("seed", SEEDS)
def test_a_slide_too_slow_for_the_trend_windows_is_a_gradual_decline_with_a_projection(seed):
    # Three months to 40 %: slower than the trend check's windows see, so the level check
    # finds it; the CSM still reads a gradual decline and where it heads.
    n = 300
    first = n - 90
    values = synth.ramp(synth.usage(n, seed=seed), first, 90, 0.4)

    findings = run(values, backtest=True)

    assert findings
    for f in findings:
        assert (f.type, f.direction) == ("gradual_decline", "negative")
        assert f.start >= day(first - 7)
        assert f.projected is not None and f.projected < f.actual


def test_gradual_rise_is_a_positive_pattern_change():
    first = N - 45
    values = synth.ramp(synth.usage(N, seed=3), first, 45, 1.9)

    findings = run(values, "logins", backtest=True)

    assert [(f.type, f.direction, f.severity) for f in findings] == [
        ("pattern_change", "positive", "info")
    ]
    assert findings[0].start >= day(first)


# --- what must not fire ----------------------------------------------------------------------


def _yearly_dip_days(n_days: int) -> list[int]:
    """Day indexes from Dec 24 to Jan 2 of every year."""
    return [
        k
        for k in range(n_days)
        if (day(k).month == 12 and day(k).day >= 24) or (day(k).month == 1 and day(k).day <= 2)
    ]


QUIET = [
    pytest.param(lambda seed: synth.usage(N, seed=seed), id="plain-usage"),
    pytest.param(lambda seed: synth.usage(N, seed=seed, weekend_dip=0.7), id="weekend-dip-70pct"),
    pytest.param(lambda seed: synth.usage(N, seed=seed, yearly_growth=0.8), id="growth-80pct-year"),
    pytest.param(
        lambda seed: synth.usage(400, seed=seed, yearly_growth=0.8), id="growth-80pct-400-days"
    ),
    pytest.param(
        lambda seed: synth.scaled(synth.usage(N, seed=seed), [150], 0.3), id="one-day-minus-70pct"
    ),
    pytest.param(
        lambda seed: synth.scaled(synth.usage(N, seed=seed), [150], 3.0), id="one-day-plus-200pct"
    ),
    pytest.param(
        lambda seed: synth.scaled(synth.usage(N, seed=seed), [100, 150], 0.3),
        id="two-separate-blips",
    ),
    pytest.param(
        lambda seed: synth.with_missing(synth.usage(N, seed=seed), slice(120, 127)),
        id="missing-week",
    ),
    pytest.param(
        lambda seed: synth.with_missing(synth.usage(N, seed=seed), slice(N - 5, N)),
        id="missing-last-5-days",
    ),
    pytest.param(
        lambda seed: synth.with_missing(synth.usage(N, seed=seed), slice(0, 20)),
        id="missing-first-20-days",
    ),
    pytest.param(
        lambda seed: synth.with_missing(
            synth.usage(N, seed=seed),
            np.random.default_rng(seed + 100).choice(N, 30, replace=False),
        ),
        id="scattered-missing-days",
    ),
    pytest.param(
        lambda seed: np.random.default_rng(seed).poisson(4.0, N).astype(float),
        id="small-account-poisson-4",
    ),
    pytest.param(
        lambda seed: synth.usage(N, seed=seed, level=30.0, noise=0.2), id="noisy-30-per-day"
    ),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("build", QUIET)
def test_does_not_fire(seed, build):
    assert run(build(seed), backtest=True) == []


def test_missing_days_are_not_zeros():
    """Control for the missing-week case: the same week as zeros is a drop."""
    values = synth.usage(N, seed=0)

    assert run(synth.with_missing(values, slice(120, 127)), backtest=True) == []
    (f,) = run(synth.scaled(values, slice(120, 127), 0.0), backtest=True)
    assert (f.type, f.start, f.end) == ("drop", day(120), day(126))


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(NO_CALENDAR, id="no-calendar"),
        # Friday 2025-06-20 bridges Juneteenth and 2025-07-04 is a holiday: excused days
        # must not break the streak of Fridays off, as they do not break a run.
        pytest.param(preset("medium"), id="us-calendar"),
    ],
)
def test_a_new_day_off_is_a_weekly_pattern_change(config):
    fridays = [k for k in range(150, N) if day(k).weekday() == 4]
    values = synth.scaled(synth.usage(N, seed=0), fridays, 0.3)

    findings = run(values, backtest=True, config=config)

    assert [(f.type, f.direction, f.start) for f in findings] == [
        ("pattern_change", "negative", day(fridays[0]))
    ]
    assert "(Friday)" in findings[0].possible_cause


@pytest.mark.parametrize(
    "values",
    [
        # The first two Sundays are missing, so the third is the first Sunday the engine
        # sees: its usual weekend dip is no change of a weekly habit.
        pytest.param(
            synth.with_missing(synth.usage(N, seed=0), [6, 13]), id="first-sundays-missing"
        ),
        # One busy first Monday, then nothing: no Monday habit was ever established.
        pytest.param(np.r_[1000.0, np.zeros(69)], id="one-busy-monday-then-zeros"),
    ],
)
def test_a_weekday_seen_once_is_not_a_weekly_pattern_change(values):
    assert run(values, backtest=True) == []


def test_missing_days_inside_a_drop_neither_extend_nor_break_it():
    values = synth.scaled(synth.usage(N, seed=2), slice(150, 158), 0.4)
    values = synth.with_missing(values, [153, 154])

    (f,) = run(values, backtest=True)

    assert (f.type, f.start, f.end) == ("drop", day(150), day(157))


@pytest.mark.parametrize("seed", SEEDS)
def test_recurring_yearly_dip_is_not_reported_after_the_first_year(seed):
    n_days = 365 * 2 + 100  # three year-ends: 2025, 2026, 2027 is not reached; two dips
    dips = _yearly_dip_days(n_days)
    values = synth.scaled(synth.usage(n_days, seed=seed), dips, 0.4)

    findings = run(values, backtest=True, config=NO_CALENDAR)

    first_year_end = dt.date(2026, 1, 2)
    later = [f for f in findings if (f.end or f.last_seen) > first_year_end]
    assert later == []
    # Only the first year's dip may fire (nothing to compare it with yet).
    assert all(f.start >= dt.date(2025, 12, 24) for f in findings)


def test_yearly_dip_seen_for_the_first_time_fires():
    """Control: the same dip only in the second year has no precedent and is a drop."""
    n_days = 365 * 2 + 100
    second = [k for k in _yearly_dip_days(n_days) if day(k) >= dt.date(2026, 12, 24)]
    values = synth.scaled(synth.usage(n_days, seed=0), second, 0.4)

    findings = run(values, backtest=True, config=NO_CALENDAR)

    assert [(f.type, f.start, f.end) for f in findings] == [
        ("drop", dt.date(2026, 12, 24), dt.date(2027, 1, 2))
    ]


def test_yearly_dip_twice_as_deep_is_a_seasonal_deviation():
    n_days = 365 * 2 + 100
    dips = _yearly_dip_days(n_days)
    values = synth.usage(n_days, seed=1)
    factors = np.ones(n_days)
    factors[dips] = 0.6  # -40 % every year-end
    second = [k for k in dips if day(k) >= dt.date(2026, 12, 24)]
    factors[second] = 0.1  # -90 % in the second: far more than twice as deep in log space
    values = values * factors

    findings = run(values, backtest=True, config=NO_CALENDAR)

    later = [f for f in findings if f.start >= dt.date(2026, 12, 24)]
    assert [(f.type, f.direction) for f in later] == [("seasonal_deviation", "negative")]
    assert later[0].possible_cause == "Deeper than this account's usual seasonal dip"


THANKSGIVING = (dt.date(2025, 11, 27), dt.date(2025, 11, 28))


@pytest.mark.parametrize("seed", SEEDS)
def test_us_thanksgiving_dip_is_a_holiday(seed):
    n_days = index_of(dt.date(2025, 12, 10)) + 1  # under a year: no yearly logic
    values = synth.scaled(synth.usage(n_days, seed=seed), [index_of(d) for d in THANKSGIVING], 0.3)

    assert run(values, backtest=True) == []
    # Control: without the calendar the same two days are a drop.
    (f,) = run(values, backtest=True, config=NO_CALENDAR)
    assert (f.type, f.start, f.end) == ("drop", *THANKSGIVING)


def test_holiday_does_not_hide_a_spike():
    n_days = index_of(dt.date(2025, 12, 10)) + 1
    values = synth.scaled(synth.usage(n_days, seed=0), [index_of(d) for d in THANKSGIVING], 3.0)

    (f,) = run(values, backtest=True)

    assert (f.type, f.start, f.end) == ("spike", *THANKSGIVING)


# --- scan mode, as_of, warm-up ---------------------------------------------------------------


def _summary(f):
    return (f.series_id, f.type, f.direction, f.severity, f.start, f.end, f.detected_at)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("length", [2, 6, 20])
def test_scan_finds_the_backtests_ongoing_events(seed, length):
    values = synth.scaled(synth.usage(N, seed=seed), slice(N - length, N), 0.4)

    backtest = run(values, backtest=True)
    scan = run(values)

    ongoing = [f for f in backtest if f.ongoing]
    assert len(ongoing) == 1
    assert [_summary(f) for f in scan] == [_summary(f) for f in ongoing]
    assert scan[0].start == day(N - length)


def test_scan_reports_an_event_that_ended_within_its_replay_window():
    values = synth.scaled(synth.usage(N, seed=4), slice(N - 12, N - 5), 0.4)

    scan = run(values)

    assert [_summary(f) for f in scan] == [
        _summary(f) for f in run(values, backtest=True) if f.start >= day(N - 42)
    ]
    assert (scan[0].start, scan[0].end) == (day(N - 12), day(N - 6))


@pytest.mark.parametrize(
    ("first", "last"),
    [
        # The scan on day N - 1 replays from day N - 42 = 158; these drops ended before it,
        # so they lie in the scan's first (precleaned) window.
        pytest.param(150, 157, id="8-days-ending-the-day-before-the-replay"),
        pytest.param(141, 150, id="10-days-ending-a-week-before-the-replay"),
        pytest.param(131, 150, id="20-days-ending-a-week-before-the-replay"),
    ],
)
def test_scan_after_a_past_drop_reports_nothing_the_backtest_does_not(first, last):
    values = synth.scaled(synth.usage(N, seed=0), slice(first, last + 1), 0.4)
    replay_start = day(N - preset("medium").replay_days)

    backtest = run(values, backtest=True)
    assert [(f.type, f.start, f.end) for f in backtest] == [("drop", day(first), day(last))]

    # The drop is over before the replay; the usage after it is ordinary.
    assert [f for f in backtest if (f.end or f.last_seen) >= replay_start] == []
    assert run(values) == []


def test_as_of_ignores_later_days():
    values = synth.scaled(synth.usage(N, seed=5), slice(N - 6, N), 0.4)

    assert run(values, as_of=day(N - 7)) == []
    assert run(values, backtest=True, as_of=day(N - 7)) == []
    # Mid-drop: the same as the data ending that day.
    mid = day(N - 4)
    assert run(values, as_of=mid) == run(values[: N - 3])
    (f,) = run(values, as_of=mid)
    assert (f.start, f.end, f.last_seen) == (day(N - 6), None, mid)


def test_as_of_before_a_drop_ended_leaves_it_ongoing():
    values = synth.scaled(synth.usage(N, seed=6), slice(150, 155), 0.4)

    (f,) = run(values, backtest=True, as_of=day(153))

    assert (f.start, f.end) == (day(150), None)


def test_cold_start_has_low_confidence():
    values = synth.scaled(synth.usage(25, seed=1), slice(19, 25), 0.4)

    (f,) = run(values, backtest=True)

    assert (f.type, f.start, f.confidence) == ("drop", day(19), "low")


def test_fewer_than_min_points_decides_nothing():
    values = synth.scaled(synth.usage(6, seed=1), slice(3, 6), 0.05)

    assert run(values, backtest=True) == []
