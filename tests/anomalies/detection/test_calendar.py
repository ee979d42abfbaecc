"""The holiday mask: which days damp drops."""

import datetime as dt

import numpy as np
import pytest

from anomalies.detection.calendar import country_problem, holiday_mask

START = dt.date(2025, 1, 1)
N_DAYS = 731  # 2025 and 2026


def is_holiday(day: dt.date, country: str | None = "US") -> bool:
    return bool(holiday_mask(country, START, N_DAYS)[(day - START).days])


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(dt.date(2025, 11, 27), id="thanksgiving-2025"),
        pytest.param(dt.date(2025, 11, 28), id="friday-after-thanksgiving"),
        pytest.param(dt.date(2026, 11, 26), id="thanksgiving-2026"),
        pytest.param(dt.date(2026, 11, 27), id="friday-after-thanksgiving-2026"),
        pytest.param(dt.date(2025, 7, 4), id="july-4th-2025"),
        pytest.param(dt.date(2025, 12, 24), id="christmas-eve"),
        pytest.param(dt.date(2025, 12, 25), id="christmas"),
        pytest.param(dt.date(2025, 12, 26), id="boxing-day-week"),
        pytest.param(dt.date(2025, 12, 29), id="between-the-years"),
        pytest.param(dt.date(2025, 12, 31), id="new-years-eve"),
        pytest.param(dt.date(2025, 1, 1), id="new-years-day"),
        pytest.param(dt.date(2026, 1, 1), id="new-years-day-2026"),
        pytest.param(dt.date(2025, 5, 26), id="memorial-day"),
        pytest.param(dt.date(2025, 9, 1), id="labor-day"),
    ],
)
def test_us_holidays(day):
    assert is_holiday(day)


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(dt.date(2025, 11, 26), id="wednesday-before-thanksgiving"),
        pytest.param(dt.date(2025, 3, 12), id="ordinary-wednesday"),
        pytest.param(dt.date(2025, 7, 3), id="day-before-july-4th"),
        pytest.param(dt.date(2025, 12, 23), id="december-23"),
        pytest.param(dt.date(2025, 1, 2), id="january-2"),
        pytest.param(dt.date(2025, 11, 29), id="saturday-after-thanksgiving"),
    ],
)
def test_ordinary_days(day):
    assert not is_holiday(day)


def test_thursday_holiday_bridges_to_friday():
    # July 4th 2024 was a Thursday, so Friday July 5th is a bridge day.
    mask = holiday_mask("US", dt.date(2024, 7, 1), 7)

    assert mask.tolist() == [False, False, False, True, True, False, False]


def test_tuesday_holiday_bridges_from_monday():
    # July 4th 2023 was a Tuesday, so Monday July 3rd is a bridge day.
    mask = holiday_mask("US", dt.date(2023, 7, 1), 7)

    assert mask.tolist() == [False, False, True, True, False, False, False]


def test_christmas_eve_on_a_tuesday_bridges_from_monday():
    mask = holiday_mask("US", dt.date(2024, 12, 21), 4)  # Sat Dec 21 .. Tue Dec 24, 2024

    assert mask.tolist() == [False, False, True, True]


def test_mask_follows_start_and_length():
    start = dt.date(2025, 11, 20)

    mask = holiday_mask("US", start, 10)

    assert mask.shape == (10,)
    assert np.flatnonzero(mask).tolist() == [7, 8]  # Nov 27 and 28


def test_mask_spanning_years():
    mask = holiday_mask("US", dt.date(2025, 12, 20), 20)

    holidays = [dt.date(2025, 12, 20) + dt.timedelta(days=int(k)) for k in np.flatnonzero(mask)]
    assert holidays[0] == dt.date(2025, 12, 24)
    assert dt.date(2025, 12, 23) not in holidays  # 2025's Christmas Eve is a Wednesday
    assert dt.date(2026, 1, 1) in holidays
    assert dt.date(2026, 1, 2) in holidays  # Friday after New Year's Thursday


def test_no_country_means_no_holidays():
    mask = holiday_mask(None, START, N_DAYS)

    assert mask.shape == (N_DAYS,)
    assert not mask.any()


def test_other_country():
    # German Unity Day, no US holiday.
    assert is_holiday(dt.date(2025, 10, 3), "DE")
    assert not is_holiday(dt.date(2025, 10, 3), "US")
    assert not is_holiday(dt.date(2025, 11, 27), "DE")


def test_a_subdivision_has_its_own_holidays():
    # Epiphany is a holiday in Bavaria, not in Germany as a whole; Melbourne Cup day in
    # Victoria, not in Australia.
    assert is_holiday(dt.date(2025, 1, 6), "DE-BY")
    assert not is_holiday(dt.date(2025, 1, 6), "DE")
    assert is_holiday(dt.date(2025, 11, 4), "AU-VIC")
    assert not is_holiday(dt.date(2025, 11, 4), "AU")


@pytest.mark.parametrize("country", ["US", "DE", "DE-BY", "AU-VIC", "GB-SCT", "US-CA"])
def test_known_calendars(country):
    assert country_problem(country) is None


@pytest.mark.parametrize(
    ("country", "problem"),
    [
        pytest.param(
            "XX",
            "country 'XX' is not a country the holidays package knows"
            " (ISO 3166 alpha-2, such as US or DE-BY)",
            id="unknown",
        ),
        pytest.param("DEU", "country 'DEU' is not a country", id="alpha-3"),
        pytest.param("de-by", "; codes are upper case: DE-BY", id="lower-case"),
        pytest.param(
            "DE-XX",
            "country 'DE-XX': the holidays package knows no subdivision 'XX' of DE",
            id="unknown-subdivision",
        ),
        pytest.param("DE-", "knows no subdivision '' of DE", id="dash-without-subdivision"),
        pytest.param(" US", "country ' US' is not a country", id="space"),
    ],
)
def test_unknown_calendars(country, problem):
    assert problem in country_problem(country)


def test_unknown_country():
    with pytest.raises(ValueError, match="country 'XX' is not a country the holidays package"):
        holiday_mask("XX", START, 10)


def test_zero_days():
    assert holiday_mask("US", START, 0).shape == (0,)


def test_mask_is_read_only():
    mask = holiday_mask("US", START, 30)

    with pytest.raises(ValueError, match="read-only"):
        mask[0] = False
