"""The CLI's input: a long CSV of daily values, checked, and turned into a `SeriesBatch`.

The file has the header `series_id,date,value` (extra columns are ignored), one row per series
and day, in any order; an empty value is a missing day. A `series_id` such as
`acme/feature:reports` names its account before the last '/' and its metric after it.

Everything is checked once, here, and vectorized: a million rows take about a second. Problems
are reported by file line (the header is line 1) as `InputError`, several at once, so a user
fixes a file in one pass instead of one line per run.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import IO

import numpy as np
import pandas as pd

from .types import SeriesBatch

COLUMNS = ("series_id", "date", "value")

# The first few bad lines show the pattern; a list of a million does not.
MAX_REPORTED_ERRORS = 10

# Ten years of daily history. A longer span is almost always a mistyped year (2204 for
# 2024), and the batch would allocate one float per series and day of it.
MAX_CALENDAR_DAYS = 3660

# pd.to_datetime(format="%Y-%m-%d") alone also takes "2024-1-5".
_DATE_RE = r"\d{4}-\d{2}-\d{2}"
_CONTROL_RE = r"[\x00-\x1f\x7f]"
_FIELD_COUNT_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE_RE = re.compile(r"EOF inside string starting at row (\d+)")


class InputError(ValueError):
    """The input cannot be used. One problem per message line, each starting with
    `line N:` (file line, header = line 1) where a line applies."""


def read_series_csv(source: str | os.PathLike | IO) -> pd.DataFrame:
    """Read and check a `series_id,date,value` CSV file (a path or an open file).

    Returns a dataframe with columns series_id (str), date (datetime64, whole days) and value
    (float64, NaN for a missing day), in file order; blank lines are skipped. Raises
    `InputError` for anything else: a missing column, a date not in YYYY-MM-DD form or not on
    the calendar, a value that is not a finite number >= 0, a (series_id, date) pair given
    twice, no data, or a file that cannot be read or is not UTF-8.
    """
    data = _read_bytes(source)
    _check_bytes(data)
    raw, lines = _parse(data)

    blank = (raw["series_id"] == "") & (raw["date"] == "") & (raw["value"] == "")
    if blank.any():
        keep = ~blank.to_numpy()
        raw, lines = raw[keep].reset_index(drop=True), lines[keep]
    if raw.empty:
        raise InputError("line 2: no data rows after the header")
    return _validate(raw, lines)


def batch_from_long(frame: pd.DataFrame) -> SeriesBatch:
    """Put a long dataframe (series_id, date, value) on one shared daily calendar.

    The calendar runs from the earliest to the latest date of the whole frame; a day a
    series has no row for is NaN, like an empty value. Series are sorted by series_id. The
    frame is expected to come from `read_series_csv`; only what would silently corrupt the
    batch (missing ids or dates, a repeated series and day) is checked again.
    """
    missing = [name for name in COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(f"the frame has no column {', '.join(missing)}")
    if frame.empty:
        raise ValueError("the frame has no rows")

    codes, ids = pd.factorize(frame["series_id"], sort=True)
    days = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
    if (codes < 0).any() or np.isnat(days).any():
        raise ValueError("series_id and date must not be missing")
    first = days.min()
    offsets = (days - first).astype(np.int64)
    n_days = int(offsets.max()) + 1
    cells = codes.astype(np.int64) * n_days + offsets
    if pd.Series(cells).duplicated().any():
        raise ValueError("a (series_id, date) pair occurs more than once")

    values = np.full((len(ids), n_days), np.nan)
    values[codes, offsets] = frame["value"].to_numpy(dtype=np.float64, na_value=np.nan)

    # "acme/feature:reports" -> ("acme", "/", "feature:reports"); "signups" -> ("", "", "signups")
    parts = pd.Series(ids, dtype=str).str.rpartition("/")
    metrics = parts[2].to_numpy()
    groups = np.where(parts[1] == "", metrics, parts[0].to_numpy())
    return SeriesBatch(
        values=values,
        start=first.astype(object),
        series_ids=tuple(str(x) for x in ids),
        metrics=tuple(str(x) for x in metrics),
        groups=tuple(str(x) for x in groups),
    )


# --- Reading ---------------------------------------------------------------------------


def _read_bytes(source: str | os.PathLike | IO) -> bytes:
    if hasattr(source, "read"):
        try:
            content = source.read()
        except UnicodeDecodeError as exc:  # a text stream that could not decode it
            raise InputError(f"the input is not valid UTF-8: {exc.reason}") from None
        except OSError as exc:
            raise InputError(f"cannot read the input: {exc.strerror or exc}") from None
        if isinstance(content, str):
            # surrogateescape brings back bytes a lenient stream decoded, so the check
            # below can name their line.
            try:
                return content.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise InputError("the input contains invalid Unicode") from None
        return content
    try:
        with open(source, "rb") as file:
            return file.read()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}") from None


def _line_at(data: bytes, offset: int) -> int:
    head = data[:offset]
    # \r\n, \n and a lone \r (old Mac exports) all end a line, as for the CSV parser.
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _check_bytes(data: bytes) -> None:
    if not data.removeprefix(b"\xef\xbb\xbf").strip():
        raise InputError("line 1: the file is empty; expected the header series_id,date,value")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"line {_line_at(data, exc.start)}: not valid UTF-8 (byte 0x{data[exc.start]:02x});"
            " save the file as UTF-8"
        ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"line {_line_at(data, nul)}: contains a NUL byte; not a text file?")


def _parse(data: bytes) -> tuple[pd.DataFrame, np.ndarray]:
    """All fields as text ("" for empty), and the file line each row starts on."""
    try:
        with warnings.catch_warnings():
            # With index_col=False, a first row longer than the header is cut short with
            # only this warning (later long rows are ParserErrors).
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                # Without it, a first row with one field too many makes column 1 the index.
                index_col=False,
                # Kept, so that row i is line i + 2; read_series_csv drops them afterwards.
                skip_blank_lines=False,
                encoding="utf-8-sig",
            )
    except pd.errors.ParserWarning:
        raise InputError("line 2: more fields than the header has") from None
    except pd.errors.EmptyDataError:
        raise InputError("line 1: no header; expected series_id,date,value") from None
    except pd.errors.ParserError as exc:
        text = str(exc)
        if match := _FIELD_COUNT_RE.search(text):
            expected, line, found = match.groups()
            raise InputError(f"line {line}: expected {expected} fields, found {found}") from None
        if match := _OPEN_QUOTE_RE.search(text):
            raise InputError(f"line {int(match[1]) + 1}: a quoted field is never closed") from None
        raise InputError(f"not a readable CSV file: {text.splitlines()[-1]}") from None

    raw.columns = [str(name).strip() for name in raw.columns]
    missing = [name for name in COLUMNS if name not in raw.columns]
    if missing:
        header = ",".join(raw.columns)
        raise InputError(
            f"line 1: missing column {', '.join(missing)}; the header must be"
            f" series_id,date,value, found {header!r}"
        )
    raw = raw[list(COLUMNS)]

    lines = np.arange(len(raw), dtype=np.int64) + 2
    if b'"' in data:
        # Only a quoted field can hold a line break; each one pushes later rows down a line.
        breaks = sum(raw[name].str.count(r"\r\n|\r|\n").to_numpy() for name in COLUMNS)
        if breaks.any():
            lines[1:] += np.cumsum(breaks)[:-1]
    return raw, lines


# --- Checking --------------------------------------------------------------------------


def _validate(raw: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    errors: list[tuple[int, str]] = []
    bad = np.zeros(len(raw), dtype=bool)

    def report(mask: np.ndarray, describe) -> None:
        nonlocal bad
        bad |= mask
        for row in np.flatnonzero(mask)[:MAX_REPORTED_ERRORS]:
            errors.append((int(lines[row]), describe(row)))

    # Ids and dates repeat across rows: check each distinct one once, then map back.
    id_codes, ids = pd.factorize(raw["series_id"])
    id_problem = _series_id_problems(pd.Series(ids, dtype=str))
    id_bad = id_problem.notna().to_numpy()[id_codes]
    report(id_bad, lambda row: id_problem.iloc[id_codes[row]])

    date_codes, date_texts = pd.factorize(raw["date"])
    date_texts = pd.Series(date_texts, dtype=str)
    well_formed = date_texts.str.fullmatch(_DATE_RE).to_numpy()
    parsed = pd.to_datetime(date_texts.where(well_formed), format="%Y-%m-%d", errors="coerce")
    date_problem = pd.Series(
        np.select(
            [date_texts == "", ~well_formed, parsed.isna()],
            [
                "date is missing",
                "date {!r} is not in YYYY-MM-DD form",
                "date {!r} is not a real calendar date",
            ],
            default="",
        )
    )
    date_bad = (date_problem != "").to_numpy()[date_codes]
    report(date_bad, lambda row: date_problem.iloc[date_codes[row]].format(raw["date"].iloc[row]))

    text = raw["value"]
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    empty = (text == "").to_numpy()
    with np.errstate(invalid="ignore"):
        not_number = np.isnan(values) & ~empty
        infinite = np.isinf(values)
        negative = values < 0

    def value_of(row: int) -> str:
        return text.iloc[row]

    def not_a_number(row: int) -> str:
        hint = (
            "; leave it empty for a missing day" if value_of(row).strip().lower() == "nan" else ""
        )
        return f"value {value_of(row)!r} is not a number{hint}"

    report(not_number, not_a_number)
    report(infinite, lambda row: f"value {value_of(row)!r} is not finite")
    report(negative & ~infinite, lambda row: f"value {value_of(row)!r} is negative")

    # With dates in strict YYYY-MM-DD form, equal days are equal strings: the codes suffice.
    keyed = np.flatnonzero(~(id_bad | date_bad))
    keys = id_codes[keyed].astype(np.int64) * len(date_texts) + date_codes[keyed]
    repeated = pd.Series(keys).duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = keyed[repeated]
        first_line = pd.Series(lines[rows]).groupby(keys[repeated]).transform("min").to_numpy()
        repeats = np.zeros(len(raw), dtype=np.int64)  # the line a row repeats, or 0
        repeats[rows] = np.where(lines[rows] != first_line, first_line, 0)
        report(
            repeats > 0,
            lambda row: (
                f"series {raw['series_id'].iloc[row]!r} on {raw['date'].iloc[row]}"
                f" repeats line {repeats[row]}"
            ),
        )

    if errors:
        raise InputError(_error_message(errors, int(bad.sum())))

    days = parsed.to_numpy().astype("datetime64[D]")[date_codes]
    earliest, latest = int(days.argmin()), int(days.argmax())
    span = int((days[latest] - days[earliest]).astype(np.int64)) + 1
    if span > MAX_CALENDAR_DAYS:
        raise InputError(
            f"line {lines[latest]}: date {days[latest]} is {span - 1} days after the earliest"
            f" date {days[earliest]} (line {lines[earliest]}); at most {MAX_CALENDAR_DAYS} days"
            " fit one file. A mistyped year?"
        )

    return pd.DataFrame(
        {
            "series_id": raw["series_id"],
            "date": pd.Series(days.astype("datetime64[s]")),
            "value": values + 0.0,  # -0 is 0
        }
    )


def _series_id_problems(ids: pd.Series) -> pd.Series:
    """Per distinct series_id: what is wrong with it, or NaN."""
    problems = np.select(
        [
            ids == "",
            ids != ids.str.strip(),
            ids.str.contains(_CONTROL_RE),
            ids.str.startswith("/") | ids.str.endswith("/"),
        ],
        [
            "series_id is missing",
            "series_id {!r} has leading or trailing spaces",
            "series_id {!r} contains a control character",
            "series_id {!r} has an empty account or metric around its last '/'",
        ],
        default="",
    )
    found = pd.Series(None, index=ids.index, dtype=object)
    flagged = np.flatnonzero(problems != "")
    found.iloc[flagged] = [problems[i].format(ids.iloc[i]) for i in flagged]
    return found


def _error_message(errors: list[tuple[int, str]], n_bad_lines: int) -> str:
    errors.sort(key=lambda error: error[0])
    shown = errors[:MAX_REPORTED_ERRORS]
    message = "\n".join(f"line {line}: {text}" for line, text in shown)
    shown_lines = len({line for line, _ in shown})
    if n_bad_lines > shown_lines:
        message += f"\n... and {n_bad_lines - shown_lines} more bad lines"
    return message
