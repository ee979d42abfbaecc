"""The CLI's input: a long CSV of daily values, checked, and turned into a `SeriesBatch`.

The header names `series_id`, `date` and `value`, in any order; one row per series and day, in
any order; an empty value is a missing day. A `series_id` such as `acme/feature:reports` names
its account before the last '/' and its metric after it. Two more columns are optional and
hold one value per series, repeated on each of its rows (empty on every row: not given):
`group`, the series' cohort for the engine's group guard (a region, a segment, a plan, a data
source), and `country`, its holiday calendar (an ISO 3166 alpha-2 code, optionally with a
subdivision: `US`, `DE-BY`, `AU-VIC`). Other columns are ignored.

Everything is checked once, here, and vectorized: three million rows are read and checked in
well under a second (pyarrow's parser, see `csvfile.py`). Problems are reported by file line
(the header is line 1) as `InputError`, several at once, so a user fixes a file in one pass
instead of one line per run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .calendar import country_problem
from .csvfile import (
    InputError,
    Rows,
    check_bytes,
    numpy_of,
    read_bytes,
    read_header,
    read_text,
    read_typed,
)
from .types import SeriesBatch

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["InputError", "batch_from_long", "read_series_batch", "read_series_csv"]

COLUMNS = ("series_id", "date", "value")
OPTIONAL_COLUMNS = ("group", "country")

# The first few bad lines show the pattern; a list of a million does not.
MAX_REPORTED_ERRORS = 10

# Ten years of daily history. A longer span is almost always a mistyped year (2204 for
# 2024), and the batch would allocate one float per series and day of it.
MAX_CALENDAR_DAYS = 3660

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Labels that start and end with a letter or a digit and hold no control character need no
# closer look; the checks below only ever object to the others.
_SUSPECT_LABEL = r"^$|^[^\p{L}\p{N}]|[^\p{L}\p{N}]$|[\x00-\x1f\x7f]"
_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# What pandas.to_numeric reads, as the CLI always has: a decimal number with ASCII white
# space around it, or inf, infinity or nan in any case with no white space.
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NUMBER_WORD = r"^[+-]?(?i:inf|infinity|nan)$"
_ASCII_SPACE = " \t\n\r\v\f"


def read_series_csv(source: str | os.PathLike | IO) -> pd.DataFrame:
    """Read and check a `series_id,date,value` CSV file (a path or an open file).

    Returns a dataframe with columns series_id (str), date (datetime64, whole days) and value
    (float64, NaN for a missing day), plus group and country (str, "" where not given) when
    the file has them, in file order; blank lines are skipped. Raises `InputError` for
    anything else: a missing column, a date not in YYYY-MM-DD form or not on the calendar, a
    value that is not a finite number >= 0, a (series_id, date) pair given twice, a series
    whose rows disagree on its group or country, a country without a holiday calendar, no
    data, or a file that cannot be read or is not UTF-8.
    """
    import pandas as pd  # here, not at the top: the CLI's path (read_series_batch) needs none

    rows = _read_checked(source)
    columns = {
        "series_id": pd.Series(rows.ids[rows.id_codes], dtype="str"),
        "date": rows.days[rows.date_codes].astype("datetime64[s]"),
        "value": rows.values,
    }
    for name, per_series in rows.optional.items():
        columns[name] = pd.Series(per_series[rows.id_codes], dtype="str")
    return pd.DataFrame(columns)


def read_series_batch(source: str | os.PathLike | IO) -> SeriesBatch:
    """`batch_from_long(read_series_csv(source))`, without building the dataframe."""
    rows = _read_checked(source)
    order = np.argsort(rows.ids)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    start = rows.days.min()
    day_offset = (rows.days - start).astype(np.int64)
    optional = {name: per_series[order] for name, per_series in rows.optional.items()}
    batch = _batch(
        rows.ids[order],
        rank[rows.id_codes],
        start,
        day_offset[rows.date_codes],
        rows.values,
        optional,
    )
    del rows
    # pyarrow's allocator keeps the parser's buffers (about three times the file) for reuse;
    # nothing else here allocates through it, so hand them back before the engine runs.
    pa.default_memory_pool().release_unused()
    return batch


def batch_from_long(frame: pd.DataFrame) -> SeriesBatch:
    """Put a long dataframe (series_id, date, value; group and country optional) on one
    shared daily calendar.

    The calendar runs from the earliest to the latest date of the whole frame; a day a
    series has no row for is NaN, like an empty value. Series are sorted by series_id. The
    frame is expected to come from `read_series_csv`; only what would silently corrupt the
    batch (missing ids or dates, a repeated series and day, a series with two groups or
    countries) is checked again.
    """
    import pandas as pd

    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no column {', '.join(missing)}")
    if frame.empty:
        raise ValueError("the frame has no rows")

    codes, ids = pd.factorize(frame["series_id"], sort=True)
    days = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
    if (codes < 0).any() or np.isnat(days).any():
        raise ValueError("series_id and date must not be missing")
    start = days.min()
    offsets = (days - start).astype(np.int64)
    cells = codes.astype(np.int64) * (int(offsets.max()) + 1) + offsets
    if pd.Series(cells).duplicated().any():
        raise ValueError("a (series_id, date) pair occurs more than once")

    optional = {}
    for name in OPTIONAL_COLUMNS:
        if name in frame.columns:
            per_series = frame[name].fillna("").astype(str).groupby(codes)
            several = per_series.nunique() > 1
            if several.any():
                raise ValueError(f"series {ids[several.idxmax()]!r} has more than one {name}")
            optional[name] = per_series.first().to_numpy(dtype=object)
    values = frame["value"].to_numpy(dtype=np.float64, na_value=np.nan)
    return _batch(np.asarray(ids, dtype=object), codes, start, offsets, values, optional)


def _batch(ids, codes, start, offsets, values, optional: dict[str, np.ndarray]) -> SeriesBatch:
    """The batch of series `ids` (sorted) from rows: series code, days after `start`, value."""
    grid = np.full((len(ids), int(offsets.max()) + 1), np.nan)
    grid[codes, offsets] = values

    # "acme/feature:reports" -> ("acme", "/", "feature:reports"); "signups" -> ("", "", "signups")
    parts = [str(series_id).rpartition("/") for series_id in ids]
    countries = optional.get("country")
    return SeriesBatch(
        values=grid,
        start=start.astype(object),
        series_ids=tuple(str(series_id) for series_id in ids),
        metrics=tuple(metric for _, _, metric in parts),
        groups=tuple(account if slash else metric for account, slash, metric in parts),
        cohorts=tuple(optional["group"]) if "group" in optional else None,
        countries=None if countries is None else tuple(country or None for country in countries),
    )


# --- Checking --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """A file's rows, checked. Each series_id and date is held once: row i is series
    `ids[id_codes[i]]` on day `days[date_codes[i]]`."""

    ids: np.ndarray
    id_codes: np.ndarray
    days: np.ndarray  # datetime64[D]
    date_codes: np.ndarray
    values: np.ndarray  # per row, NaN for a missing day
    optional: dict[str, np.ndarray]  # group and country per series ("" = not given)


class _NeedsLines(Exception):
    """The typed read found a problem: the file is read again as text to name its lines."""


def _read_checked(source: str | os.PathLike | IO) -> _Checked:
    data = read_bytes(source)
    check_bytes(data)
    header = read_header(data)
    names = [name.strip() for name in header[0]]
    missing = [name for name in COLUMNS if name not in names]
    if missing:
        raise InputError(
            f"line 1: missing column {', '.join(missing)}; the header must be"
            f" series_id,date,value, found {','.join(names)!r}"
        )
    wanted = {name: names.index(name) for name in COLUMNS + OPTIONAL_COLUMNS if name in names}

    rows = read_typed(data, header, wanted)
    if rows is not None:
        try:
            return _check(rows)
        except _NeedsLines:
            pass
    return _check(read_text(data, header, wanted))


class _Problems:
    """Line-numbered problems, up to MAX_REPORTED_ERRORS shown. Rows without line numbers
    (the typed read) stop at the first problem."""

    def __init__(self, rows: Rows):
        self.lines = rows.lines
        self.errors: list[tuple[int, str]] = []
        self.bad = np.zeros(rows.n_rows, dtype=bool)

    def line(self, row: int) -> int:
        if self.lines is None:
            raise _NeedsLines
        return int(self.lines[row])

    def report(self, mask: np.ndarray, describe: Callable[[int], str]) -> None:
        if not mask.any():
            return
        if self.lines is None:
            raise _NeedsLines
        self.bad |= mask
        for row in np.flatnonzero(mask)[:MAX_REPORTED_ERRORS]:
            self.errors.append((self.line(row), describe(row)))

    def report_distinct(self, codes: np.ndarray, problems: list[str | None]) -> np.ndarray | None:
        """Report the rows whose distinct value (codes[row]) has a problem; their mask."""
        flagged = np.array([problem is not None for problem in problems], dtype=bool)
        if not flagged.any():
            return None
        mask = flagged[codes]
        self.report(mask, lambda row: problems[codes[row]])
        return mask

    def raise_any(self) -> None:
        if not self.errors:
            return
        self.errors.sort(key=lambda error: error[0])
        shown = self.errors[:MAX_REPORTED_ERRORS]
        message = "\n".join(f"line {line}: {text}" for line, text in shown)
        shown_lines = len({line for line, _ in shown})
        if self.bad.sum() > shown_lines:
            message += f"\n... and {self.bad.sum() - shown_lines} more bad lines"
        raise InputError(message)


def _check(rows: Rows) -> _Checked:
    if rows.n_rows == 0:
        raise InputError("line 2: no data rows after the header")
    problems = _Problems(rows)
    id_codes, id_texts = rows.coded["series_id"]
    date_codes, date_texts = rows.coded["date"]
    optional = {name: rows.coded[name] for name in OPTIONAL_COLUMNS if name in rows.coded}

    # Ids, dates, groups and countries repeat across rows: each distinct one is checked once.
    id_bad = problems.report_distinct(id_codes, _label_problems(id_texts, _series_id_problem))
    days, date_problems = _parse_dates(date_texts)
    date_bad = problems.report_distinct(date_codes, date_problems)
    values = _checked_values(rows, problems)
    for name, (codes, texts) in optional.items():
        if name == "country":  # few distinct ones, each looked up
            found = [country_problem(text) if text else None for text in texts.to_pylist()]
        else:
            found = _label_problems(texts, _group_problem)
        problems.report_distinct(codes, found)

    ids, dates = id_texts.to_pylist(), date_texts.to_pylist()
    bad_keys = [mask for mask in (id_bad, date_bad) if mask is not None]
    unusable = np.logical_or.reduce(bad_keys) if bad_keys else None
    _check_repeats(id_codes, date_codes, unusable, problems, ids, dates)
    per_series = {
        name: _one_per_series(name, id_codes, codes, texts.to_pylist(), problems, ids)
        for name, (codes, texts) in optional.items()
    }
    problems.raise_any()
    _check_span(days, date_codes, problems)
    return _Checked(
        ids=np.array(ids, dtype=object),
        id_codes=id_codes,
        days=days,
        date_codes=date_codes,
        values=values,
        optional=per_series,
    )


def _checked_values(rows: Rows, problems: _Problems) -> np.ndarray:
    if rows.values is None:
        values, empty = _parse_values(rows.value_text)
    else:
        assert rows.empty is not None  # the typed read sets both
        values, empty = rows.values, rows.empty
    with np.errstate(invalid="ignore"):
        if ((values >= 0) & (values < np.inf) | empty).all():  # false for NaN
            values += 0.0  # -0 is 0
            return values
        not_number = np.isnan(values) & ~empty
        infinite = np.isinf(values)
        negative = values < 0

    def value_of(row: int) -> str:
        # Only the text read's rows are described: the typed read has no lines, so its first
        # problem stops it (_NeedsLines) before any description.
        assert rows.value_text is not None
        return rows.value_text[int(row)].as_py()

    def not_a_number(row: int) -> str:
        hint = (
            "; leave it empty for a missing day" if value_of(row).strip().lower() == "nan" else ""
        )
        return f"value {value_of(row)!r} is not a number{hint}"

    problems.report(not_number, not_a_number)
    problems.report(infinite, lambda row: f"value {value_of(row)!r} is not finite")
    problems.report(negative & ~infinite, lambda row: f"value {value_of(row)!r} is negative")
    return values


def _check_repeats(id_codes, date_codes, unusable, problems: _Problems, ids, dates) -> None:
    """A series and day given twice: the later rows name the first."""
    # With dates in strict YYYY-MM-DD form, equal days are equal strings: the codes suffice.
    keys = id_codes.astype(np.int64)
    keys *= len(dates)
    keys += date_codes
    if unusable is not None:
        keys = keys[~unusable]
    # Most files come sorted by series and day: keys that only grow repeat nothing.
    if (keys[1:] > keys[:-1]).all():
        return
    ordered = np.sort(keys)
    if not (ordered[1:] == ordered[:-1]).any():
        return
    rows = np.arange(len(id_codes)) if unusable is None else np.flatnonzero(~unusable)
    first = rows[_first_of_each(keys)]
    repeats = np.full(len(id_codes), -1)  # the row a row repeats
    repeats[rows] = np.where(first != rows, first, -1)
    problems.report(
        repeats >= 0,
        lambda row: (
            f"series {ids[id_codes[row]]!r} on {dates[date_codes[row]]}"
            f" repeats line {problems.line(repeats[row])}"
        ),
    )


def _one_per_series(name, id_codes, codes, texts, problems: _Problems, ids) -> np.ndarray:
    """The group or country of each series; a series whose rows disagree is reported on
    its first row that differs from its first row."""
    series_code = np.empty(len(ids), dtype=codes.dtype)
    series_code[id_codes] = codes  # some row's, for now
    per_series = np.array(texts, dtype=object)[series_code]
    if (series_code[id_codes] == codes).all():
        return per_series
    first = _first_of_each(id_codes)  # per row, the first row of its series
    differ = np.flatnonzero(codes != codes[first])
    _, first_differ = np.unique(id_codes[differ], return_index=True)
    mask = np.zeros(len(id_codes), dtype=bool)
    mask[differ[first_differ]] = True

    def disagree(row: int) -> str:
        return (
            f"series {ids[id_codes[row]]!r} has {name} {texts[codes[row]]!r} here"
            f" but {texts[codes[first[row]]]!r} on line {problems.line(first[row])}"
        )

    problems.report(mask, disagree)
    return per_series


def _check_span(days: np.ndarray, date_codes: np.ndarray, problems: _Problems) -> None:
    earliest, latest = int(days.argmin()), int(days.argmax())
    span = int((days[latest] - days[earliest]).astype(np.int64)) + 1
    if span > MAX_CALENDAR_DAYS:
        first_row, last_row = (int(np.argmax(date_codes == code)) for code in (earliest, latest))
        raise InputError(
            f"line {problems.line(last_row)}: date {days[latest]} is {span - 1} days after the"
            f" earliest date {days[earliest]} (line {problems.line(first_row)}); at most"
            f" {MAX_CALENDAR_DAYS} days fit one file. A mistyped year?"
        )


def _first_of_each(keys: np.ndarray) -> np.ndarray:
    """Per position, the position of the first equal key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    first = np.empty_like(order)
    first[order] = order[np.flatnonzero(starts)][np.cumsum(starts) - 1]
    return first


def _label_problems(texts: pa.Array, describe: Callable[[str], str | None]) -> list[str | None]:
    """`describe` of each text that needs a look (see _SUSPECT_LABEL), None for the others."""
    problems: list[str | None] = [None] * len(texts)
    for i in np.flatnonzero(numpy_of(pc.match_substring_regex(texts, _SUSPECT_LABEL))):
        problems[i] = describe(texts[int(i)].as_py())
    return problems


def _series_id_problem(series_id: str) -> str | None:
    if series_id == "":
        return "series_id is missing"
    if problem := _group_problem(series_id, column="series_id"):
        return problem
    if series_id.startswith("/") or series_id.endswith("/"):
        return f"series_id {series_id!r} has an empty account or metric around its last '/'"
    return None


def _group_problem(text: str, column: str = "group") -> str | None:
    if text != text.strip():
        return f"{column} {text!r} has leading or trailing spaces"
    if _CONTROL.search(text):
        return f"{column} {text!r} contains a control character"
    return None


def _parse_dates(date_texts: pa.Array) -> tuple[np.ndarray, list[str | None]]:
    """Each distinct date text as a day (proleptic Gregorian; 1970-01-01 where it is not
    one), and what is wrong with it or None."""
    texts = date_texts.to_pylist()
    well_formed = numpy_of(pc.match_substring_regex(date_texts, _DATE))
    ascii_dates = "".join(text for text, ok in zip(texts, well_formed, strict=True) if ok)
    digits = np.frombuffer(ascii_dates.encode(), dtype=np.uint8).reshape(-1, 10) - ord("0")
    digits = digits.astype(np.int64)
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 5] * 10 + digits[:, 6]
    day = digits[:, 8] * 10 + digits[:, 9]
    month_start = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    first = month_start.astype("datetime64[D]")
    month_length = ((month_start + 1).astype("datetime64[D]") - first).astype(np.int64)
    real = np.zeros(len(texts), dtype=bool)
    real[well_formed] = (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_length)
    days = np.zeros(len(texts), dtype="datetime64[D]")
    days[well_formed] = first + (day - 1)

    problems: list[str | None] = [None] * len(texts)
    for i in np.flatnonzero(~real):
        text = texts[i]
        if text == "":
            problems[i] = "date is missing"
        elif not well_formed[i]:
            problems[i] = f"date {text!r} is not in YYYY-MM-DD form"
        else:
            problems[i] = f"date {text!r} is not a real calendar date"
    return days, problems


def _parse_values(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The value column as float64 (NaN where empty or not a number), and where it is empty."""
    stripped = pc.utf8_trim(text, characters=_ASCII_SPACE)
    readable = pc.or_(
        pc.match_substring_regex(stripped, _NUMBER), pc.match_substring_regex(text, _NUMBER_WORD)
    )
    values = pc.cast(pc.if_else(readable, stripped, "nan"), pa.float64())
    return numpy_of(values).copy(), numpy_of(pc.equal(text, ""))
