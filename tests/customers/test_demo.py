from datetime import date

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from anomalies.detection.vocabulary import CORE_METRICS
from customers import demo, demo_history

# A Wednesday with no holiday in the six weeks before it, so the story windows and their
# baselines are plain weeks.
AS_OF = date(2025, 10, 29)


@pytest.fixture(scope="module")
def data():
    return demo.generate_demo(as_of=AS_OF)


def _weekday_aligned_ratio(x: np.ndarray, days: int) -> float:
    """Mean of the last `days` days over the mean of the same weekdays in the four weeks
    before the window, so a window holding more weekdays than weekend days is not biased."""
    first_shift = 7 * -(-days // 7)
    before = [x[len(x) - days - s : len(x) - s] for s in range(first_shift, first_shift + 28, 7)]
    return float(np.nanmean(x[-days:]) / np.nanmean(np.concatenate(before)))


def _weekdays(data) -> np.ndarray:
    return (data.dates.astype("datetime64[D]").astype(int) + 3) % 7  # 1970-01-01 was a Thursday


def test_it_is_deterministic_for_a_seed(data):
    again = demo.generate_demo(as_of=AS_OF)
    assert again.accounts == data.accounts
    assert again.keys == data.keys
    assert_array_equal(again.values, data.values)


def test_another_seed_gives_other_accounts_and_values(data):
    other = demo.generate_demo(as_of=AS_OF, seed=demo.DEFAULT_SEED + 1)
    assert [a.name for a in other.accounts[3:]] != [a.name for a in data.accounts[3:]]
    dataflow = other.series(demo.DATAFLOW, "logins")
    assert not np.array_equal(dataflow, data.series(demo.DATAFLOW, "logins"), equal_nan=True)


def test_it_has_one_row_per_series_and_one_column_per_day(data):
    assert len(data.accounts) == demo.DEFAULT_ACCOUNTS
    assert data.values.shape == (len(data.keys), demo.DEFAULT_DAYS)
    assert data.dates[-1] == np.datetime64(AS_OF)
    assert_array_equal(np.diff(data.dates).astype(int), 1)
    for account in data.accounts:
        features = [m for m in account.metrics if m.startswith("feature:")]
        assert account.metrics[:3] == CORE_METRICS
        assert 3 <= len(features) <= 5
        assert all((account.external_id, m) in data.keys for m in account.metrics)


def test_accounts_have_unique_ids_and_names_and_are_spread_over_the_csms(data):
    ids = [a.external_id for a in data.accounts]
    assert ids == [f"demo-{n:04d}" for n in range(1, demo.DEFAULT_ACCOUNTS + 1)]
    assert len({a.name for a in data.accounts}) == len(data.accounts)
    owners = [a.csm for a in data.accounts]
    assert {owners.count(csm) for csm in demo.CSM_USERNAMES} <= set(range(15, 26))
    assert all(a.csm == "maya" for a in demo.STORY_ACCOUNTS)


def test_sizes_range_from_tiny_to_huge_and_tiers_follow_size(data):
    api = np.array([a.levels["api_calls"] for a in data.accounts])
    assert api.min() < 20
    assert api.max() > 100_000
    tier_rank = {"starter": 0, "growth": 1, "business": 2, "enterprise": 3}
    generated = sorted(data.accounts[3:], key=lambda a: a.levels["api_calls"])
    ranks = [tier_rank[a.tier] for a in generated]
    assert ranks == sorted(ranks)
    assert min(a.arr for a in generated) >= 1_200


def test_values_are_non_negative_integer_counts(data):
    present = data.values[~np.isnan(data.values)]
    assert present.min() >= 0
    assert_array_equal(present, np.round(present))


def test_weekends_dip_hard_for_people_and_mildly_for_api_calls(data):
    weekend = _weekdays(data) >= 5
    for account in data.accounts:
        for metric in ("logins", "active_users"):
            x = data.series(account.external_id, metric)
            assert np.nanmean(x[~weekend]) > 2.5 * np.nanmean(x[weekend]), (account, metric)
        api = data.series(account.external_id, "api_calls")
        ratio = np.nanmean(api[~weekend]) / np.nanmean(api[weekend])
        assert 1.1 < ratio < 1.6, (account.name, ratio)


def test_christmas_dips_every_year(data):
    # Each series scaled to its own mean, so the largest accounts do not decide alone.
    logins = np.array([data.series(a.external_id, "logins") for a in data.accounts])
    scaled = np.nanmean(logins / np.nanmean(logins, axis=1, keepdims=True), axis=0)
    christmases = [d for d in data.dates if str(d)[5:] == "12-25"]
    assert len(christmases) == 2
    for christmas in christmases:
        i = int(np.flatnonzero(data.dates == christmas)[0])
        # The same weekdays two and three weeks earlier.
        before = np.concatenate([scaled[i - 15 : i - 12], scaled[i - 22 : i - 19]])
        assert scaled[i - 1 : i + 2].mean() < 0.5 * before.mean(), christmas


@pytest.mark.parametrize(
    ("day", "factor"),
    [
        ("2024-12-25", 0.12),
        ("2025-01-01", 0.15),
        ("2024-11-28", 0.20),  # Thanksgiving 2024
        ("2025-11-27", 0.20),  # Thanksgiving 2025
        ("2025-11-28", 0.45),
        ("2025-11-20", 1.00),  # a Thursday, the third of the month
        ("2025-03-11", 1.00),
    ],
)
def test_holiday_factor(day, factor):
    assert demo.holiday_factor(np.array([day], dtype="datetime64[D]"))[0] == pytest.approx(factor)


@pytest.mark.parametrize(
    ("day", "calendar", "factor"),
    [
        ("2025-11-27", "DE-BY", 1.00),  # Thanksgiving is an ordinary Thursday in Munich
        ("2025-07-04", "GB", 1.00),
        ("2025-06-19", "DE-BY", demo.PUBLIC_HOLIDAY),  # Corpus Christi, a Thursday
        ("2025-06-20", "DE-BY", demo.BRIDGE_DAY),  # the Friday after it
        ("2025-06-19", "DE-BE", 1.00),  # not a holiday in Berlin
        ("2025-05-26", "GB", demo.PUBLIC_HOLIDAY),  # the spring bank holiday
        ("2025-12-25", "GB", 0.12),  # the season is everyone's
        ("2025-01-01", "DE-BY", 0.15),
    ],
)
def test_holiday_factor_keeps_the_accounts_own_calendar(day, calendar, factor):
    dates = np.array([day], dtype="datetime64[D]")
    assert demo.holiday_factor(dates, calendar=calendar)[0] == pytest.approx(factor)


def test_most_accounts_are_american_and_a_few_european(data):
    places = [(a.region, a.holiday_calendar) for a in data.accounts]
    assert {p for p in places} <= {
        ("us-east", "US"),
        ("us-west", "US"),
        ("us-central", "US"),
        ("emea", "DE-BY"),
        ("emea", "GB"),
    }
    american = sum(calendar == "US" for _, calendar in places)
    assert american >= 0.6 * len(places)
    assert sum(calendar == "DE-BY" for _, calendar in places) >= 2
    assert sum(calendar == "GB" for _, calendar in places) >= 2
    assert {a.holiday_calendar for a in demo.STORY_ACCOUNTS} == {"US"}
    # Segments by size, as CS teams split their book.
    segment_of = {"starter": "smb", "growth": "smb", "business": "mid-market"}
    for account in data.accounts:
        assert account.segment == segment_of.get(account.tier, "enterprise"), account


def test_european_accounts_dip_on_their_own_holidays_not_on_american_ones(data):
    def dip(calendar, day):
        """Logins on `day` over the same weekday a week and two weeks earlier, across the
        accounts of one calendar."""
        rows = [a for a in data.accounts if a.holiday_calendar == calendar]
        logins = np.array([data.series(a.external_id, "logins") for a in rows])
        i = int(np.flatnonzero(data.dates == np.datetime64(day))[0])
        return np.nansum(logins[:, i]) / np.nansum(logins[:, [i - 7, i - 14]]) * 2

    thanksgiving, corpus_christi = "2024-11-28", "2025-06-19"
    assert dip("US", thanksgiving) < 0.4
    assert dip("DE-BY", thanksgiving) > 0.75
    assert dip("GB", thanksgiving) > 0.75
    assert dip("DE-BY", corpus_christi) < 0.4
    assert dip("GB", corpus_christi) > 0.75


def test_the_stories_do_not_depend_on_where_the_other_accounts_are(data, monkeypatch):
    # Every account American: the stories' values and missing days stay exactly the same.
    monkeypatch.setattr(demo, "PLACES", (("us-east", "US", 1.0),))
    american = demo.generate_demo(as_of=AS_OF)
    assert {a.holiday_calendar for a in american.accounts} == {"US"}
    for account in demo.STORY_ACCOUNTS:
        for metric in account.metrics:
            assert_array_equal(
                american.series(account.external_id, metric),
                data.series(account.external_id, metric),
            )


def test_august_dips_gently():
    august = demo.holiday_factor(np.array(["2025-08-14"], dtype="datetime64[D]"))[0]
    assert 0.8 < august < 0.9


def test_dataflow_api_calls_drop_to_a_third_for_five_days(data):
    api = data.series(demo.DATAFLOW, "api_calls")
    assert np.nanmean(api[-33:-5]) == pytest.approx(45_000, rel=0.08)
    assert np.nanmean(api[-5:]) == pytest.approx(15_000, rel=0.12)
    assert _weekday_aligned_ratio(api, 5) == pytest.approx(1 / 3, abs=0.04)
    # The drop starts exactly five days back.
    assert _weekday_aligned_ratio(api[:-5], 5) == pytest.approx(1.0, abs=0.15)
    assert _weekday_aligned_ratio(data.series(demo.DATAFLOW, "logins"), 5) == pytest.approx(
        1.0, abs=0.2
    )


def test_cloudfirst_reports_fall_80_percent_for_two_weeks(data):
    reports = data.series(demo.CLOUDFIRST, "feature:reports")
    assert _weekday_aligned_ratio(reports, 14) == pytest.approx(0.2, abs=0.05)
    for metric in demo.STORY_ACCOUNTS[1].metrics:
        if metric != "feature:reports":
            ratio = _weekday_aligned_ratio(data.series(demo.CLOUDFIRST, metric), 14)
            assert ratio == pytest.approx(1.0, abs=0.2), metric


def test_nexus_logins_rise_150_percent_for_ten_days_with_active_users(data):
    logins = data.series(demo.NEXUS, "logins")
    assert _weekday_aligned_ratio(logins, 10) == pytest.approx(2.5, rel=0.15)
    assert _weekday_aligned_ratio(data.series(demo.NEXUS, "active_users"), 10) > 1.8
    assert _weekday_aligned_ratio(data.series(demo.NEXUS, "api_calls"), 10) == pytest.approx(
        1.0, abs=0.15
    )


def test_other_accounts_have_no_recent_anomaly(data):
    for account in data.accounts[3:]:
        for metric, level in account.levels.items():
            if level < 50:  # small counts scatter too much for a two-week mean to settle
                continue
            ratio = _weekday_aligned_ratio(data.series(account.external_id, metric), 14)
            assert 0.75 < ratio < 1.35, (account.name, metric, ratio)


def test_stories_fit_in_the_smallest_run():
    small = demo.generate_demo(as_of=AS_OF, accounts=3, days=demo.MIN_DAYS)
    assert [a.external_id for a in small.accounts] == [demo.DATAFLOW, demo.CLOUDFIRST, demo.NEXUS]
    api = small.series(demo.DATAFLOW, "api_calls")
    assert np.nanmean(api[-5:]) / np.nanmean(api[-33:-5]) == pytest.approx(1 / 3, abs=0.05)
    reports = small.series(demo.CLOUDFIRST, "feature:reports")
    assert _weekday_aligned_ratio(reports, 14) == pytest.approx(0.2, abs=0.06)


def test_missing_days_are_nan_and_never_zero(data):
    missing = np.isnan(data.values)
    per_series = missing.sum(axis=1)
    assert per_series.min() >= 1
    assert per_series.max() <= 6
    assert not missing[:, -demo.RECENT_COMPLETE_DAYS :].any()
    # A big series never has a real zero day, so a zero there would be a disguised gap.
    levels = np.array([a.levels[m] for a in data.accounts for m in a.metrics])
    assert not (data.values[levels > 1_000] == 0).any()


def test_usage_frame_has_one_row_per_present_day(data):
    frame = data.usage_frame()
    assert len(frame) == np.count_nonzero(~np.isnan(data.values))
    assert not frame["value"].isna().any()
    row = frame[(frame.external_id == demo.DATAFLOW) & (frame.metric == "api_calls")].iloc[-1]
    assert row["date"] == np.datetime64(AS_OF)
    assert row["value"] == data.series(demo.DATAFLOW, "api_calls")[-1]


def test_health_follows_usage(data):
    health = demo.health_history(data)
    assert len(health) == demo.HEALTH_DAYS * len(data.accounts)
    assert health["score"].between(0, 100).all()
    assert health["usage_component"].between(0, 100).all()
    last = health[health["date"] == np.datetime64(AS_OF)].set_index("external_id")
    steady = last.drop([demo.DATAFLOW, demo.CLOUDFIRST, demo.NEXUS])["usage_component"].median()
    # The trend alone (the scan adds the open drop's 25 points): API calls down 5 of 14 days.
    assert last.loc[demo.DATAFLOW, "usage_component"] < steady - 5
    # A new team: logins and active users count at most the curve's full marks.
    assert last.loc[demo.NEXUS, "usage_component"] > steady + 5
    # Before the stories began, the story accounts looked as healthy as anyone.
    month_ago = health[health["date"] == np.datetime64("2025-09-29")].set_index("external_id")
    steady_then = month_ago.drop([demo.DATAFLOW, demo.CLOUDFIRST, demo.NEXUS])["usage_component"]
    assert month_ago.loc[demo.DATAFLOW, "usage_component"] == pytest.approx(
        steady_then.median(), abs=10
    )


def _constant_data(*, api_calls_recent: float) -> demo.DemoData:
    account = demo.AccountSpec(
        external_id="demo-0001",
        name="Flat Co",
        csm="maya",
        tier="growth",
        arr=10_000,
        contact_email="flat@flat.example",
        levels=dict.fromkeys(
            ["api_calls", "logins", "active_users", "feature:a", "feature:b"], 1.0
        ),
        growth=0.0,
        health_base=50.0,
    )
    values = np.full((5, 63), 100.0)
    values[0, -14:] = api_calls_recent
    values[1, 10] = np.nan  # a missing day changes no mean
    dates = np.datetime64("2025-08-28") + np.arange(63)
    keys = tuple((account.external_id, m) for m in account.metrics)
    return demo.DemoData(as_of=AS_OF, dates=dates, accounts=(account,), keys=keys, values=values)


@pytest.mark.parametrize(
    ("api_calls_recent", "usage", "score"),
    [
        (100.0, 80.0, 80),  # steady
        (0.0, 40.0, 40),  # API calls stopped: ratio (0 + 1 + 1) / 3 on the curve
        (125.0, 86.7, 87),  # 125 % of baseline earns API calls full marks: ratio 1.083
        (500.0, 86.7, 87),  # and no more
    ],
)
def test_health_is_the_scan_formula_on_two_weeks_against_twelve(api_calls_recent, usage, score):
    health = demo.health_history(_constant_data(api_calls_recent=api_calls_recent))
    last = health.iloc[-1]
    assert last["usage_component"] == pytest.approx(usage)
    assert last["score"] == score
    assert health.iloc[-15]["usage_component"] == pytest.approx(80.0)


def test_the_stories_renew_when_their_story_needs(data):
    renewals = demo_history.generate_history(data, seed=demo.DEFAULT_SEED).renewal_dates
    assert renewals[demo.DATAFLOW] == date(2025, 12, 13)  # 45 days: a drop before renewal
    assert {e: (d - AS_OF).days for e, d in renewals.items() if e in demo.STORY_RENEWAL_DAYS} == (
        demo.STORY_RENEWAL_DAYS
    )


def test_health_covers_only_the_days_there_are():
    short = demo.generate_demo(as_of=AS_OF, accounts=3, days=60)
    health = demo.health_history(short)
    assert len(health) == 3 * 60
    assert health["date"].min() == short.dates[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accounts": 2}, "accounts must be between 3 .* got 2"),
        ({"accounts": demo.MAX_ACCOUNTS + 1}, "accounts must be between"),
        ({"days": demo.MIN_DAYS - 1}, f"days must be at least {demo.MIN_DAYS} .*, got 41"),
        ({"seed": -1}, "seed must be non-negative, got -1"),
    ],
)
def test_it_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        demo.generate_demo(as_of=AS_OF, **kwargs)
