"""Why a detector alerted on real data with no injected anomaly: every alert on real_daily's
`untouched/` series gets the first failure class that explains it.

The classes are read off the data and real_daily's `unlabeled_events.csv` only, never from a
detector's internals, so one attribution serves every detector, and the engine before and
after a change. In order (the first rule that holds names the class):

- `year_end`: the report's days overlap Dec 24 - Jan 1.
- `public_holiday`: it starts within 1 day of a public holiday of the series' own country
  (Melbourne sensors: Australia, Victoria; every other source: US).
- `recurring_yearly`: the report's first week moved (weekly median against the weeks
  around it) the same way as the report, by more than the series' usual week-to-week
  wander, and in the same period of an earlier year (364 or 728 days back +- 14 days) the
  weekly median moved the same way by at least half as much: a seasonal dip or peak that
  comes back every year.
- `group_wide`: on the report's start day (+- 1) at least 30 % (and at least 2) of the
  other series of its source moved the same way by at least 30 %: a storm, a city-wide
  event, a regional holiday.
- `spiky_series`: the series is heavy-tailed: before the report, more than 2 % of its days
  lie beyond 3.5 robust sigmas of its rolling same-weekday median.
- `small_account`: the series' median is under 100 a day: count noise.
- `real_event`: the report overlaps a `real_unlabeled` or `blip` period of the series.
- `other`.

A report without `end` is its start day alone, as real_daily's README reads reports. A
report's move is the median, over its first 7 days, of value / same-weekday median of the
previous 4 weeks; its direction is the sign of that move minus 1 (a report with no such
baseline has no direction, and the two rules that need one do not apply).

`recurring_yearly` is checked against chance: `recurring_rate` gives the share of alerts
its rule holds for 364 days back and at a control lag with no yearly meaning. Without the
noise floor the rule held for about 40 % of the engine's alerts a year back and for more at
the control lags (weekly medians of weather-driven series swing 10 % half the time, and
+-14 days over two years is many tries).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd

from bench.scoring import REAL_DAILY_RULE, Report, Span, report_days
from bench.series_io import WideSeries

CLASSES = (
    "year_end",
    "public_holiday",
    "recurring_yearly",
    "group_wide",
    "spiky_series",
    "small_account",
    "real_event",
    "other",
)
# Sources by series-id prefix, as real_daily's README names them.
SOURCES = ("mel-", "nyc-", "cabi/", "births-")
# Holiday calendar (country, subdivision) per source; any other source is American.
COUNTRY_OF_SOURCE = {"mel-": ("AU", "VIC")}
DEFAULT_COUNTRY = ("US", None)

YEAR_END = ((12, 24), (1, 1))
HOLIDAY_REACH_DAYS = 1
# The same-weekday baseline: the previous 4 weeks' values on this weekday, at least 2 of them.
BASELINE_WEEKS = 4
BASELINE_MIN_WEEKS = 2
# A report's move is read on its first week at most: a long report's later days are the
# new level, not the change.
MOVE_DAYS = 7
# Weeks-apart offsets keep the weekday; +-14 days allows for a season that shifts a little.
YEAR_DAYS = 364
YEARS_BACK = (1, 2)
SEASON_SLACK_DAYS = 14
RECURRING_SHARE = 0.5
# A weekly move within this many robust sigmas of the series' own weekly log ratios is
# its usual wander, not a season.
WEEKLY_NOISE_SIGMAS = 2.0
# A lag with no yearly meaning (9 months; twice it is 18): the rule's hit rate there is
# its rate by chance.
CONTROL_LAG_DAYS = 273
# Weekly median (centred week) against the median of the 7 centred weeks around it; both
# need most of their days.
WEEK_DAYS, WEEK_MIN_DAYS = 7, 4
AROUND_DAYS, AROUND_MIN_DAYS = 49, 28
GROUP_MOVE = 0.30
GROUP_SHARE = 0.30
GROUP_MIN_SERIES = 2
GROUP_REACH_DAYS = 1
SPIKY_SIGMAS = 3.5
SPIKY_SHARE = 0.02
# Under 8 weeks of residuals the tail share is mostly luck; such a series is not judged.
SPIKY_MIN_DAYS = 56
MAD_TO_SIGMA = 1.4826
SMALL_MEDIAN = 100.0
REAL_EVENT_KINDS = ("real_unlabeled", "blip")


def source_of(series_id: str) -> str:
    return next((p for p in SOURCES if series_id.startswith(p)), "other")


def same_weekday_baseline(values: np.ndarray) -> np.ndarray:
    """Per series and day, the median of the same weekday in the previous 4 weeks (NaN with
    fewer than 2 of them observed). Causal: day t reads days t - 7 .. t - 28 only."""
    lagged = np.full((BASELINE_WEEKS,) + values.shape, np.nan)
    for k in range(1, BASELINE_WEEKS + 1):
        lagged[k - 1, :, 7 * k :] = values[:, : -7 * k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices are NaN, as wanted
        base = np.nanmedian(lagged, axis=0)
    base[(~np.isnan(lagged)).sum(axis=0) < BASELINE_MIN_WEEKS] = np.nan
    return base


def weekly_ratio(values: np.ndarray) -> np.ndarray:
    """Per series and day, the median of the week centred on it over the median of the 7
    weeks centred on it: weekdays weigh alike in both, so only a move of weeks shows."""
    frame = pd.DataFrame(values.T)
    week = frame.rolling(WEEK_DAYS, center=True, min_periods=WEEK_MIN_DAYS).median()
    around = frame.rolling(AROUND_DAYS, center=True, min_periods=AROUND_MIN_DAYS).median()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (week / around).to_numpy().T
    return np.where(np.isfinite(ratio), ratio, np.nan)


def holiday_days(series_id: str, years: range) -> frozenset[dt.date]:
    country, subdiv = COUNTRY_OF_SOURCE.get(source_of(series_id), DEFAULT_COUNTRY)
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=years))


@dataclass(frozen=True)
class Evidence:
    """What the rules read, built once per data set (`evidence_build`)."""

    wide: WideSeries
    ratio: np.ndarray  # value / same-weekday baseline; NaN without one
    residual: np.ndarray  # log1p(value) - log1p(baseline)
    weekly: np.ndarray  # log of weekly_ratio; NaN where undefined
    weekly_sigma: np.ndarray  # per series, robust sigma of `weekly`
    median: np.ndarray  # each series' median over its observed days
    holidays: Mapping[str, frozenset[dt.date]]
    events: Mapping[str, list[Span]]  # real_unlabeled and blip periods by series
    row: Mapping[str, int]

    def day(self, date: dt.date) -> int:
        return (date - self.wide.start).days


def evidence_build(wide: WideSeries, events: Mapping[str, list[Span]]) -> Evidence:
    base = same_weekday_baseline(wide.values)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(base > 0, wide.values / base, np.nan)
    last = wide.day(wide.values.shape[1] - 1)
    years = range(wide.start.year - 1, last.year + 2)
    with np.errstate(divide="ignore"):
        weekly = np.log(weekly_ratio(wide.values))
    weekly[~np.isfinite(weekly)] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a series with no value at all
        median = np.nanmedian(wide.values, axis=1)
        centre = np.nanmedian(weekly, axis=1, keepdims=True)
        weekly_sigma = MAD_TO_SIGMA * np.nanmedian(np.abs(weekly - centre), axis=1)
    return Evidence(
        wide=wide,
        ratio=ratio,
        residual=np.log1p(wide.values) - np.log1p(base),
        weekly=weekly,
        weekly_sigma=weekly_sigma,
        median=median,
        holidays={sid: holiday_days(sid, years) for sid in wide.series_ids},
        events=events,
        row={sid: i for i, sid in enumerate(wide.series_ids)},
    )


def _days(report: Report) -> Span:
    return report_days(report, report.start, REAL_DAILY_RULE)


def report_move(ev: Evidence, report: Report) -> float:
    """Median over the report's first days of value / same-weekday baseline, minus 1."""
    first, last = _days(report)
    j = ev.day(first)
    days = ev.ratio[ev.row[report.series_id], j : j + min(MOVE_DAYS, (last - first).days + 1)]
    days = days[~np.isnan(days)]
    return float(np.median(days)) - 1.0 if days.size else np.nan


def is_year_end(ev: Evidence, report: Report) -> bool:
    """The report's days overlap Dec 24 - Jan 1 of some year."""
    first, last = _days(report)
    for year in range(first.year - 1, last.year + 1):
        season = (dt.date(year, *YEAR_END[0]), dt.date(year + 1, *YEAR_END[1]))
        if first <= season[1] and season[0] <= last:
            return True
    return False


def is_public_holiday(ev: Evidence, report: Report) -> bool:
    """The report starts within a day of a public holiday of the series' own country."""
    days = ev.holidays[report.series_id]
    reach = range(-HOLIDAY_REACH_DAYS, HOLIDAY_REACH_DAYS + 1)
    return any(report.start + dt.timedelta(days=k) in days for k in reach)


def is_recurring_yearly(ev: Evidence, report: Report, lag_days: int = YEAR_DAYS) -> bool:
    """The report's first week moved the same way as the report by more than 2 robust
    sigmas of the series' weekly log ratios, and `lag_days` or twice that earlier (+- 14
    days) the weekly log ratio moved the same way by at least half as much (and by the
    same floor)."""
    move = report_move(ev, report)
    if np.isnan(move) or move == 0:
        return False
    i = ev.row[report.series_id]
    weekly = ev.weekly[i]
    # The report's first week is centred 3 days after its start.
    centre = ev.day(report.start) + WEEK_DAYS // 2
    now = weekly[centre] if 0 <= centre < weekly.size else np.nan
    floor = WEEKLY_NOISE_SIGMAS * ev.weekly_sigma[i]
    if np.isnan(now) or np.sign(now) != np.sign(move) or abs(now) < floor:
        return False
    need = max(RECURRING_SHARE * abs(now), floor)
    for years in YEARS_BACK:
        then = centre - years * lag_days
        past = weekly[max(0, then - SEASON_SLACK_DAYS) : max(0, then + SEASON_SLACK_DAYS + 1)]
        past = past[~np.isnan(past)]
        if np.any((np.sign(past) == np.sign(move)) & (np.abs(past) >= need)):
            return True
    return False


def recurring_rate(ev: Evidence, reports: list[Report], lag_days: int) -> float | None:
    """Share of `reports` the recurring_yearly rule holds for with this lag (whatever
    class they get): at CONTROL_LAG_DAYS it is the rule's rate by chance."""
    known = [r for r in reports if r.series_id in ev.row]
    if not known:
        return None
    return sum(is_recurring_yearly(ev, r, lag_days) for r in known) / len(known)


def is_group_wide(ev: Evidence, report: Report) -> bool:
    """On the start day +- 1, at least 30 % (and 2) of the other series of the source that
    have a value and a baseline that day moved the same way by at least 30 %."""
    move = report_move(ev, report)
    if np.isnan(move) or move == 0:
        return False
    source = source_of(report.series_id)
    others = [
        i for sid, i in ev.row.items() if sid != report.series_id and source_of(sid) == source
    ]
    j = ev.day(report.start)
    for day in range(j - GROUP_REACH_DAYS, j + GROUP_REACH_DAYS + 1):
        if not others or not 0 <= day < ev.ratio.shape[1]:
            continue
        ratio = ev.ratio[others, day]
        ratio = ratio[~np.isnan(ratio)]
        moved = ratio <= 1 - GROUP_MOVE if move < 0 else ratio >= 1 + GROUP_MOVE
        n = int(moved.sum())
        if n >= GROUP_MIN_SERIES and n >= GROUP_SHARE * ratio.size:
            return True
    return False


def is_spiky_series(ev: Evidence, report: Report) -> bool:
    """Before the report, over 2 % of the series' days lie beyond 3.5 robust sigmas (MAD of
    the log residuals from the same-weekday baseline) of its median residual."""
    residual = ev.residual[ev.row[report.series_id], : ev.day(report.start)]
    residual = residual[np.isfinite(residual)]
    if residual.size < SPIKY_MIN_DAYS:
        return False
    centre = np.median(residual)
    sigma = MAD_TO_SIGMA * np.median(np.abs(residual - centre))
    if sigma == 0:
        return False
    return float(np.mean(np.abs(residual - centre) > SPIKY_SIGMAS * sigma)) > SPIKY_SHARE


def is_small_account(ev: Evidence, report: Report) -> bool:
    """The series' median over its observed days is under 100 a day."""
    return bool(ev.median[ev.row[report.series_id]] < SMALL_MEDIAN)


def is_real_event(ev: Evidence, report: Report) -> bool:
    """The report's days overlap a real_unlabeled or blip period of the series."""
    first, last = _days(report)
    return any(s <= last and first <= e for s, e in ev.events.get(report.series_id, ()))


RULES: tuple[tuple[str, Callable[[Evidence, Report], bool]], ...] = (
    ("year_end", is_year_end),
    ("public_holiday", is_public_holiday),
    ("recurring_yearly", is_recurring_yearly),
    ("group_wide", is_group_wide),
    ("spiky_series", is_spiky_series),
    ("small_account", is_small_account),
    ("real_event", is_real_event),
)


def failure_class(ev: Evidence, report: Report) -> str:
    """The first class whose rule explains the report; `other` when none does."""
    if report.series_id not in ev.row:
        return "other"
    return next((name for name, rule in RULES if rule(ev, report)), "other")
