"""The rules issue 11 added after measuring the engine on real daily data, each on data that
shows it: every past year's same weeks, cohorts of accounts that move together, each
account's own holiday calendar, drops that begin on a holiday, spiky series, small accounts,
and one report per change."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from anomalies.detection import SeriesBatch, detect, detect_series, preset
from tests import synth

SEEDS = (0, 1, 2)
START = dt.date(2022, 1, 3)  # a Monday
NO_CALENDAR = replace(preset("medium"), holiday_country=None)


def day(index: int) -> dt.date:
    return START + dt.timedelta(days=index)


def index_of(date: dt.date) -> int:
    return (date - START).days


def batch(rows, ids, *, cohorts=None, countries=None) -> SeriesBatch:
    return SeriesBatch(
        np.asarray(rows, dtype=float),
        START,
        tuple(ids),
        tuple(i.split("/", 1)[1] for i in ids),
        tuple(i.split("/", 1)[0] for i in ids),
        cohorts=cohorts,
        countries=countries,
    )


def after(findings, date: dt.date):
    return [f for f in findings if f.start >= date]


# --- every past year's same weeks -----------------------------------------------------------


def _season(n_days: int, first_day_of_year: tuple[int, int], shifts: dict[int, int], depth):
    """A factor that takes `depth` off for two weeks from the given day of every year, moved
    by `shifts[year]` days in that year (semesters and school holidays move a little)."""
    factors = np.ones(n_days)
    for k in range(n_days):
        date = day(k)
        first = dt.date(date.year, *first_day_of_year) + dt.timedelta(days=shifts.get(date.year, 0))
        if 0 <= (date - first).days < 14:
            factors[k] = 1 - depth
    return factors


@pytest.mark.parametrize("seed", SEEDS)
def test_a_two_week_break_that_recurs_a_week_later_is_explained_by_earlier_years(seed):
    n = 365 * 3 + 60
    # A -45 % school break from early April; in the third year it comes a week later.
    factors = _season(n, (4, 4), {2024: 7}, 0.45)
    values = synth.usage(n, seed=seed, start=START, yearly_growth=0.0) * factors

    findings = detect_series(
        values, start=START, series_id="acme/logins", backtest=True, config=NO_CALENDAR
    )

    # The first year's break is news; from the second year on it is the season.
    assert [f for f in findings if f.start.year == 2022]
    assert after(findings, dt.date(2023, 1, 1)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_a_break_much_deeper_than_the_usual_one_is_a_seasonal_deviation(seed):
    n = 365 * 3 + 60
    factors = _season(n, (4, 4), {}, 0.4)
    deeper = np.array([day(k).year == 2024 for k in range(n)])
    factors = np.where(deeper & (factors < 1), 0.08, factors)  # -92 % instead of -40 %
    values = synth.usage(n, seed=seed, start=START, yearly_growth=0.0) * factors

    findings = detect_series(
        values, start=START, series_id="acme/logins", backtest=True, config=NO_CALENDAR
    )

    third = [f for f in findings if f.start.year == 2024]
    assert third and {f.type for f in third} == {"seasonal_deviation"}
    assert third[0].possible_cause == "Deeper than this account's usual seasonal dip"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_fixed_date_holiday_of_the_accounts_own_country_is_learned(seed):
    # Australia Day (Jan 26) empties the account every year; the engine's calendar is the
    # US one. The first year it is news, then it recurs on its date.
    n = 365 * 3 + 30
    values = synth.usage(n, seed=seed, start=START, yearly_growth=0.0)
    for year in (2022, 2023, 2024):
        values[index_of(dt.date(year, 1, 26))] *= 0.15
        values[index_of(dt.date(year, 1, 27))] *= 0.5

    findings = detect_series(values, start=START, series_id="acme/api_calls", backtest=True)

    assert after(findings, dt.date(2023, 1, 1)) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_an_autumn_decline_that_recurs_is_not_a_gradual_decline(seed):
    # Usage falls 45 % over six weeks every autumn and comes back in spring.
    n = 365 * 3
    phase = np.array([day(k).timetuple().tm_yday for k in range(n)])
    autumn = np.clip((phase - 270) / 42, 0, 1) * (phase < 330)
    winter = (phase >= 330) | (phase < 60)
    spring = np.clip((phase - 60) / 42, 0, 1) * (phase < 102)
    low = np.where(winter, 1.0, np.where(phase < 102, 1 - spring, autumn))
    values = synth.usage(n, seed=seed, start=START, yearly_growth=0.0) * (1 - 0.45 * low)

    findings = detect_series(
        values, start=START, series_id="acme/api_calls", backtest=True, config=NO_CALENDAR
    )

    assert [f for f in after(findings, dt.date(2023, 6, 1)) if f.direction == "negative"] == []


# --- cohorts --------------------------------------------------------------------------------


def _cohort(n_accounts: int, n_days: int, seed: int, *, shared_noise: float = 0.0):
    rng = np.random.default_rng(seed)
    weather = rng.normal(0.0, shared_noise, n_days)
    rows, ids = [], []
    for k in range(n_accounts):
        row = synth.usage(n_days, seed=seed * 100 + k, start=START, level=800.0 + 150 * k)
        rows.append(row * np.exp(weather))
        ids.append(f"acct{k}/api_calls")
    return np.array(rows), ids


def _with_elsewhere(rows, ids, n_days: int, seed: int, count: int = 15):
    """The cohort plus `count` accounts elsewhere that carry on as usual: the cohort is a
    fifth to a third of the portfolio, under the portfolio guard's share."""
    others = [
        synth.usage(n_days, seed=seed * 100 + 50 + k, start=START, level=700.0 + 40 * k)
        for k in range(count)
    ]
    return np.vstack([rows, others]), ids + [f"other{k}/api_calls" for k in range(count)]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_storm_across_a_given_cohort_is_one_cohort_event_not_anomalies(seed):
    n = 200
    rows, ids = _cohort(6, n, seed)
    storm = [150, 151]
    rows[:, storm] *= 0.25
    rows, all_ids = _with_elsewhere(rows, ids, n, seed)
    cohorts = ("region:nyc",) * 6 + ("region:la",) * (len(all_ids) - 6)

    result = detect(batch(rows, all_ids, cohorts=cohorts), backtest=True, config=NO_CALENDAR)

    assert result.findings == []
    assert result.portfolio_events == []
    (event,) = result.cohort_events
    assert (event.start, event.end) == (day(150), day(151))
    assert (event.cohort, event.direction) == ("region:nyc", "negative")
    assert set(event.series_ids) == set(ids)


@pytest.mark.parametrize("seed", SEEDS)
def test_an_inferred_cohort_moves_together_and_one_account_alone_is_reported(seed):
    # Six accounts of one city share its weather (no cohort given): a storm that empties all
    # of them is theirs; later one account's integration breaks on its own.
    n = 240
    rows, ids = _cohort(6, n, seed, shared_noise=0.12)
    rows[:, [180, 181]] *= 0.2
    rows[3, 220:226] *= 0.3
    rows, all_ids = _with_elsewhere(rows, ids, n, seed)

    result = detect(batch(rows, all_ids), backtest=True, config=NO_CALENDAR)

    assert [(f.series_id, f.start) for f in result.findings] == [("acct3/api_calls", day(220))]
    assert result.portfolio_events == []
    storm = [e for e in result.cohort_events if e.start == day(180)]
    assert [(e.cohort, e.direction, len(e.series_ids)) for e in storm] == [
        ("inferred", "negative", 6)
    ]


def test_a_small_portfolio_moving_together_is_one_event():
    # Three accounts (the guard used to need ten series): the storm is recorded once, as the
    # portfolio's, the wider of the two groups that share it.
    rows, ids = _cohort(3, 200, seed=4)
    rows[:, [150, 151]] *= 0.25

    result = detect(batch(rows, ids, cohorts=("segment:retail",) * 3), backtest=True)

    assert result.findings == []
    (event,) = result.portfolio_events
    assert (event.start, event.end, event.series_affected) == (day(150), day(151), 3)
    assert result.cohort_events == []


def test_a_small_cohort_in_a_larger_portfolio_is_one_cohort_event():
    # Three accounts of one segment among a dozen others: too few for the portfolio guard,
    # enough for their cohort.
    rows, ids = _cohort(3, 200, seed=4)
    rows[:, [150, 151]] *= 0.25
    rows, all_ids = _with_elsewhere(rows, ids, 200, seed=4, count=12)
    cohorts = ("segment:retail",) * 3 + ("segment:media",) * 12

    result = detect(batch(rows, all_ids, cohorts=cohorts), backtest=True)

    assert result.findings == []
    assert result.portfolio_events == []
    assert [(e.cohort, len(e.series_ids)) for e in result.cohort_events] == [("segment:retail", 3)]


def test_an_accounts_own_metrics_are_not_its_cohort():
    # Every metric of one account falling together is churn risk, the thing to report.
    n = 200
    metrics = ("api_calls", "logins", "active_users", "feature:reports")
    rows = [synth.usage(n, seed=k, start=START, level=900.0) for k in range(4)]
    rows = [synth.scaled(row, slice(n - 6, n), 0.3) for row in rows]
    ids = [f"acme/{m}" for m in metrics]

    result = detect(batch(rows, ids, cohorts=("region:emea",) * 4), config=NO_CALENDAR)

    assert sorted(f.metric for f in result.findings) == sorted(metrics)
    assert result.cohort_events == []


# --- each account's own calendar ------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_holiday_of_the_accounts_own_calendar_is_not_a_drop(seed):
    n = index_of(dt.date(2022, 6, 1))
    values = synth.usage(n, seed=seed, start=START)
    # Ascension Day 2022 (a Thursday) and its bridge Friday: a holiday in Germany, a normal
    # Thursday and Friday in the US.
    first = index_of(dt.date(2022, 5, 26))
    values[[first, first + 1]] *= 0.2
    ids = ["munich/api_calls", "boston/api_calls"]

    result = detect(batch([values, values], ids, countries=("DE-BY", "US")), backtest=True)

    assert [f.series_id for f in result.findings] == ["boston/api_calls"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_cohorts_holiday_does_not_excuse_a_member_whose_calendar_has_none(seed):
    # Five American accounts and one in Munich share a segment. The Americans dip on
    # Thanksgiving and its Friday; the Munich account's integration breaks that Thursday.
    # Their dips are their holiday's and say nothing about a German account's Thursday.
    n = index_of(THANKSGIVING) + 5
    rows, ids = _cohort(6, n, seed)
    holiday = [index_of(THANKSGIVING), index_of(THANKSGIVING) + 1]
    rows[np.ix_(range(5), holiday)] *= 0.3
    rows[5, index_of(THANKSGIVING) :] *= 0.3
    countries = ("US",) * 5 + ("DE-BY",)

    result = detect(batch(rows, ids, cohorts=("segment:smb",) * 6, countries=countries))

    assert [(f.series_id, f.start) for f in result.findings] == [(ids[5], THANKSGIVING)]
    assert result.cohort_events == []


# --- a drop that begins on a holiday --------------------------------------------------------

THANKSGIVING = dt.date(2022, 11, 24)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_drop_that_begins_on_a_holiday_is_reported_from_the_holiday(seed):
    n = index_of(THANKSGIVING) + 5  # the scan day is the Monday after
    values = synth.usage(n, seed=seed, start=START)
    values[index_of(THANKSGIVING) :] *= 0.3  # Thursday .. Monday: five days

    findings = detect_series(values, start=START, series_id="acme/api_calls")

    (f,) = findings
    assert (f.type, f.start, f.end, f.duration_days) == ("drop", THANKSGIVING, None, 5)
    assert f.deviation_percent == pytest.approx(-70, abs=6)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_holiday_dip_that_recovers_the_next_day_is_not_a_drop(seed):
    n = index_of(THANKSGIVING) + 10
    values = synth.usage(n, seed=seed, start=START)
    values[[index_of(THANKSGIVING), index_of(THANKSGIVING) + 1]] *= 0.3

    assert detect_series(values, start=START, series_id="acme/api_calls", backtest=True) == []


# --- spiky series ---------------------------------------------------------------------------


def _spiky(n: int, seed: int) -> np.ndarray:
    """A weather-driven counter: every few weeks one or two days fall 60-80 % (rain)."""
    rng = np.random.default_rng(seed)
    values = synth.usage(n, seed=seed, start=START, noise=0.08)
    k = 30
    while k < n - 2:
        length = int(rng.integers(1, 3))
        values[k : k + length] *= rng.uniform(0.2, 0.4)
        k += int(rng.integers(10, 25))
    return values


@pytest.mark.parametrize("seed", SEEDS)
def test_a_spiky_series_needs_more_days_but_a_real_drop_still_shows(seed):
    n = 420
    values = _spiky(n, seed)
    values[380:390] = synth.usage(n, seed=seed + 9, start=START, noise=0.08)[380:390] * 0.3

    findings = detect_series(values, start=START, series_id="acme/logins", backtest=True)

    # Its own two-day excursions come to nothing, again and again: after the first months
    # they are its normal, and the ten-day drop is the one report.
    later = [f for f in findings if f.start >= day(150)]
    assert [f.type for f in later] == ["drop"]
    # (A rain day may run into it.)
    assert abs((later[0].start - day(380)).days) <= 2
    assert later[0].detected_at <= day(384)


# --- small accounts -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_a_small_account_falling_to_a_third_is_one_report(seed):
    rng = np.random.default_rng(seed)
    n = 300
    weekday = (START.weekday() + np.arange(n)) % 7 < 5
    rate = np.where(weekday, 30.0, 18.0)
    rate[220:] /= 3
    values = rng.poisson(rate).astype(float)

    findings = detect_series(values, start=START, series_id="acme/logins", backtest=True)

    later = [f for f in findings if f.start >= day(200)]
    assert len(later) == 1, later
    (f,) = later
    assert f.direction == "negative"
    assert abs((f.start - day(220)).days) <= 3
    assert (f.detected_at - day(220)).days <= 7
