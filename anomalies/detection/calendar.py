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


def calendar_error(code: str) -> str | None:
    """Why `code` is not a calendar the holidays package knows, or None."""
    country, _, subdivision = code.partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        return f"no holiday calendar for country {country!r}"
    if subdivision and subdivision not in supported[country]:
        return f"no holiday calendar for {code!r}: {country} has no subdivision {subdivision!r}"
    return None


@functools.lru_cache(maxsize=64)
def holiday_mask(country: str | None, start: dt.date, n_days: int) -> np.ndarray:
    """Boolean mask over the days start .. start + n_days - 1 that are holidays or bridge days
    (the Friday after a Thursday holiday, the Monday before a Tuesday one). `country` may
    carry a subdivision ("DE-BY")."""
    mask = np.zeros(n_days, dtype=bool)
    if country is None or n_days == 0:
        return mask
    end = start + dt.timedelta(days=n_days - 1)
    code, _, subdivision = country.partition("-")
    try:
        calendar = holidays.country_holidays(
            code, subdiv=subdivision or None, years=range(start.year, end.year + 1)
        )
    except NotImplementedError:
        raise ValueError(
            calendar_error(country) or f"no holiday calendar for {country!r}"
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
