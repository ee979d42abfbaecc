"""Public holidays as day masks: drops on these days are damped (no customer chose them).

A calendar is an ISO 3166 country code, optionally with a subdivision: "US", "DE-BY",
"AU-VIC". Each series may have its own (`SeriesBatch.countries`); the config's
`holiday_country` is the default.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

import holidays
import numpy as np

# The last week of the year is a holiday season in most B2B products whatever the country's
# official list says.
_SEASON = ((12, 24), (12, 31))


@functools.lru_cache(maxsize=64)
def holiday_mask(country: str | None, start: dt.date, n_days: int) -> np.ndarray:
    """Boolean mask over the days start .. start + n_days - 1 that are holidays or bridge days
    (the Friday after a Thursday holiday, the Monday before a Tuesday one). `country` may
    carry a subdivision ("DE-BY")."""
    mask = np.zeros(n_days, dtype=bool)
    if country is None or n_days == 0:
        return mask
    end = start + dt.timedelta(days=n_days - 1)
    code, subdivision = split_country(country)
    years = range(start.year, end.year + 1)
    try:
        calendar = holidays.country_holidays(code, subdiv=subdivision, years=years)
    except NotImplementedError:
        raise ValueError(
            country_problem(country) or f"no holiday calendar for {country!r}"
        ) from None
    days = set(calendar)
    for year in range(start.year, end.year + 1):
        first, last = dt.date(year, *_SEASON[0]), dt.date(year, *_SEASON[1])
        days.update(first + dt.timedelta(days=k) for k in range((last - first).days + 1))
        days.add(dt.date(year, 1, 1))
    for day in list(days):
        if day.weekday() == 3:
            days.add(day + dt.timedelta(days=1))
        elif day.weekday() == 1:
            days.add(day - dt.timedelta(days=1))
    for day in days:
        index = (day - start).days
        if 0 <= index < n_days:
            mask[index] = True
    mask.setflags(write=False)
    return mask


def split_country(country: str) -> tuple[str, str | None]:
    """A holiday calendar's name as country and subdivision: "DE-BY" -> ("DE", "BY")."""
    code, dash, subdivision = country.partition("-")
    return code, subdivision if dash else None


def country_problem(country: str) -> str | None:
    """What is wrong with the name of a holiday calendar (an ISO 3166 alpha-2 code, optionally
    with a subdivision: "US", "DE-BY"), or None if the holidays package has that calendar."""
    known = holidays.list_supported_countries()
    code, subdivision = split_country(country)
    if len(code) != 2 or code not in known:
        upper = country.upper()
        hint = (
            f"; codes are upper case: {upper}"
            if upper != country and not country_problem(upper)
            else ""
        )
        return (
            f"country {country!r} is not a country the holidays package knows"
            f" (ISO 3166 alpha-2, such as US or DE-BY){hint}"
        )
    if subdivision is not None and subdivision not in known[code]:
        return (
            f"country {country!r}: the holidays package knows no subdivision"
            f" {subdivision!r} of {code}"
        )
    return None


def holiday_masks(
    countries: Sequence[str | None] | None, default: str | None, start: dt.date, n_days: int
) -> np.ndarray:
    """(n_days, n_series) day-major mask: each series' own calendar, `default` where it has
    none. Without per-series calendars, one column shared by all (broadcasts as (n_days, 1))."""
    if countries is None:
        return holiday_mask(default, start, n_days)[:, None]
    codes = [code or default for code in countries]
    unique = sorted(set(codes), key=str)
    columns = {code: holiday_mask(code, start, n_days) for code in unique}
    if len(unique) == 1:
        return columns[unique[0]][:, None]
    return np.stack([columns[code] for code in codes], axis=1)
