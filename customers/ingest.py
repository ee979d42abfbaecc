"""Parsing and validating usage records, shared by the CSV import, the API and the task.

Pure: no database, no settings. Everything that can be checked from a record alone (and the
file as a whole) is checked here; whether a customer exists is the service's question.

A record is referred to by `ref`: the file line number for CSV (the header is line 1), the
list index for JSON. Every problem becomes a `RowError`, so a caller can list all of them at
once instead of stopping at the first.
"""

import csv
import io
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from .metrics import METRIC_MAX_LENGTH, metric_error

# Column widths of Customer.external_id and Customer.name: longer text would fail in the
# database, mid-transaction, instead of as a row error here.
EXTERNAL_ID_MAX_LENGTH = 100
CUSTOMER_NAME_MAX_LENGTH = 200
# Width of Django's User.username: a longer csm cannot name any user.
USERNAME_MAX_LENGTH = 150

REQUIRED_FIELDS = ("customer_external_id", "metric", "date", "value")
OPTIONAL_FIELDS = ("customer_name",)
# Only a CSV import (an ops command) may name an account's CSM; the API and its task, which a
# CSM calls, may not hand accounts to anyone, so for them `csm` stays an unknown field.
CSV_OPTIONAL_FIELDS = (*OPTIONAL_FIELDS, "csm")
# A few unknown fields (a typo, a renamed column) are reported one by one; a record with more
# is refused whole, unread: one record with a million keys must not make a million errors.
UNKNOWN_FIELDS_LISTED = 5
# Errors listed in one API answer, task result or import run; the count of all comes with them.
ERRORS_SHOWN = 100

# float() alone would also take "nan", "infinity", "1_000" and " 1 ": analytics exports only
# ever write plain decimals, so anything else is a mangled value, not a number to guess at.
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# date.fromisoformat() in Python 3.11 also accepts "20240105" and "2024-W01-1".
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Lone surrogates come from undecodable bytes (decoded with surrogateescape) or from JSON
# "\ud800" escapes; NUL comes from binary junk. PostgreSQL rejects both in text columns.
_BAD_CHARS_RE = re.compile("[\x00\ud800-\udfff]")
_ESCAPED_BYTE_RE = re.compile("[\udc80-\udcff]")


# Bounds on a value and a date beyond their form. A day's count of one metric of one account
# above a trillion is a unit or export error (bytes for calls, a cumulative counter, a
# timestamp in the value column), not usage; it would also dwarf every baseline it enters.
DEFAULT_MAX_VALUE = 1e12
# Product analytics with daily usage older than this is an epoch or a parse error (0001-01-05).
DEFAULT_FIRST_DATE = date(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class UsageLimits:
    """What a record may hold. `last_date` None means no upper bound on dates; entry points
    pass tomorrow in the server's time zone (customers.limits.usage_limits), since only the
    caller knows the clock."""

    max_value: float = DEFAULT_MAX_VALUE
    first_date: date = DEFAULT_FIRST_DATE
    last_date: date | None = None


NO_CLOCK_LIMITS = UsageLimits()


@dataclass(frozen=True, slots=True)
class UsageRecord:
    ref: int
    customer_external_id: str
    metric: str
    date: date
    value: float
    customer_name: str = ""
    # Username of the CSM the account should get if it has none; "" when the file says nothing.
    csm: str = ""

    @property
    def key(self) -> tuple[str, str, date]:
        return (self.customer_external_id, self.metric, self.date)

    @property
    def key_text(self) -> str:
        return key_text(self.customer_external_id, "metric", self.metric, self.date)


def key_text(customer_external_id: str, field: str, value: str, day: date) -> str:
    """How an error names a record of an import: customer 'acme', metric 'logins', date ..."""
    return f"customer {customer_external_id!r}, {field} {value!r}, date {day.isoformat()}"


@dataclass(frozen=True, slots=True)
class RowError:
    ref: int
    # None when the whole record is at fault (wrong shape, duplicate key, bad encoding).
    field: str | None
    message: str


@dataclass(frozen=True)
class UsageBatch:
    """Records that passed every record-level check, and the errors of those that did not.

    No two records share a key (customer, metric, date): duplicates are all in `errors`.
    """

    records: tuple[UsageRecord, ...]
    errors: tuple[RowError, ...]


class UsageFileError(ValueError):
    """The file as a whole cannot be read: empty, not UTF-8 in its header, wrong columns."""


# --- Single values ---------------------------------------------------------------------


def parse_text(
    raw: object, field: str, *, required: bool, max_length: int
) -> tuple[str, str | None]:
    """(cleaned text, error message or None)."""
    if raw is None or raw == "":
        return "", f"{field} is missing" if required else None
    if not isinstance(raw, str):
        return "", f"{field} must be a string, got {type(raw).__name__}"
    text = raw.strip()
    if not text:
        return "", f"{field} is blank" if required else None
    if _BAD_CHARS_RE.search(text):
        return "", f"{field} contains a NUL byte or invalid Unicode"
    if len(text) > max_length:
        return "", f"{field} is longer than {max_length} characters"
    return text, None


def parse_date(
    raw: object, *, limits: UsageLimits = NO_CLOCK_LIMITS
) -> tuple[date | None, str | None]:
    if raw is None or raw == "":
        return None, "date is missing"
    if not isinstance(raw, str):
        return None, f"date must be a string in YYYY-MM-DD form, got {type(raw).__name__}"
    text = raw.strip()
    if not _DATE_RE.match(text):
        return None, f"date {raw!r} is not in YYYY-MM-DD form"
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, f"date {raw!r} is not a real calendar date"
    if day < limits.first_date:
        return None, (
            f"date {raw!r} is before {limits.first_date.isoformat()}, the earliest usage "
            "date accepted (USAGE_FIRST_DATE)"
        )
    if limits.last_date is not None and day > limits.last_date:
        return None, (
            f"date {raw!r} is in the future: the latest usage date accepted today is "
            f"{limits.last_date.isoformat()} (tomorrow)"
        )
    return day, None


def parse_value(
    raw: object, *, limits: UsageLimits = NO_CLOCK_LIMITS
) -> tuple[float | None, str | None]:
    if raw is None or raw == "":
        return None, "value is missing"
    # bool is an int subclass: `true` in JSON is a bug upstream, not the number 1.
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None, f"value must be a number, got {type(raw).__name__}"
    if isinstance(raw, str):
        if not _NUMBER_RE.match(raw.strip()):
            return None, f"value {raw!r} is not a number"
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except OverflowError:  # float() of a 400-digit JSON integer
        return None, f"value {raw!r} is too large"
    if not math.isfinite(value):
        return None, f"value {raw!r} is not finite"
    if value < 0:
        return None, f"value {raw!r} is negative; a usage count is 0 or more"
    if value > limits.max_value:
        return None, (
            f"value {raw!r} is above the upper bound of {limits.max_value:,.0f} per day "
            "(USAGE_VALUE_MAX): a unit or export error, not usage"
        )
    # "-0" would otherwise be stored as -0.0 and compare unequal in text exports.
    return value + 0.0, None


# --- Records ---------------------------------------------------------------------------


def _parse_external_id(raw: object, limits: UsageLimits) -> tuple[str, str | None]:
    return parse_text(raw, "customer_external_id", required=True, max_length=EXTERNAL_ID_MAX_LENGTH)


def _parse_metric(raw: object, limits: UsageLimits) -> tuple[str, str | None]:
    metric, message = parse_text(raw, "metric", required=True, max_length=METRIC_MAX_LENGTH)
    return metric, message or metric_error(metric)


def _parse_name(raw: object, limits: UsageLimits) -> tuple[str, str | None]:
    return parse_text(raw, "customer_name", required=False, max_length=CUSTOMER_NAME_MAX_LENGTH)


def _parse_csm(raw: object, limits: UsageLimits) -> tuple[str, str | None]:
    return parse_text(raw, "csm", required=False, max_length=USERNAME_MAX_LENGTH)


# Every field of a record, in the order its errors are listed, with its check: raw value and
# bounds in, (clean value, error message or None) out. parse_record runs them on one record;
# the bulk CSV reader (customers.usage_csv) runs the same ones on each distinct text of a
# column, so both say the same thing about the same text.
FIELD_PARSERS: tuple[tuple[str, Callable[[object, UsageLimits], tuple[Any, str | None]]], ...] = (
    ("customer_external_id", _parse_external_id),
    ("metric", _parse_metric),
    ("date", lambda raw, limits: parse_date(raw, limits=limits)),
    ("value", lambda raw, limits: parse_value(raw, limits=limits)),
    ("customer_name", _parse_name),
    ("csm", _parse_csm),
)


def parse_record(
    raw: Mapping[str, object],
    *,
    ref: int,
    limits: UsageLimits = NO_CLOCK_LIMITS,
    optional: Sequence[str] = OPTIONAL_FIELDS,
) -> UsageRecord | list[RowError]:
    """One record, or every error found in it (not only the first). `optional` are the
    fields beyond the required ones this source may carry."""
    max_fields = len(REQUIRED_FIELDS) + len(optional) + UNKNOWN_FIELDS_LISTED
    if len(raw) > max_fields:
        return [
            RowError(
                ref,
                None,
                f"record has {len(raw):,} fields (at most {max_fields}): expected "
                f"{', '.join(REQUIRED_FIELDS)} and optionally {', '.join(optional)}",
            )
        ]
    errors: list[RowError] = []
    for name in raw:
        if name not in REQUIRED_FIELDS and name not in optional:
            errors.append(RowError(ref, str(name), f"unknown field {name!r}"))

    parsed = {}
    # Read whatever the source: where `csm` is not allowed it is already an unknown field.
    for field, parse in FIELD_PARSERS:
        parsed[field], message = parse(raw.get(field), limits)
        if message:
            errors.append(RowError(ref, field, message))
    if errors:
        return errors
    return UsageRecord(ref, **parsed)


def _batch(parsed: Iterable[UsageRecord | list[RowError]], *, ref_label: str) -> UsageBatch:
    records, errors = unique_records(parsed, ref_label=ref_label)
    return UsageBatch(records=records, errors=errors)


def unique_records(parsed: Iterable, *, ref_label: str) -> tuple[tuple, tuple[RowError, ...]]:
    """Collect parsed records (each a record with `ref`, `key` and `key_text`, or a list of
    RowError), rejecting every record whose key occurs more than once. Returns (records,
    errors sorted by ref).

    All copies are rejected, not just the later ones: when two lines disagree there is no
    telling which value is right, and silently keeping the first would hide the conflict.
    """
    records: list = []
    errors: list[RowError] = []
    refs_by_key: defaultdict[tuple, list[int]] = defaultdict(list)
    for item in parsed:
        if isinstance(item, list):
            errors.extend(item)
        else:
            records.append(item)
            refs_by_key[item.key].append(item.ref)

    duplicated = {key: refs for key, refs in refs_by_key.items() if len(refs) > 1}
    if duplicated:
        kept = []
        for record in records:
            refs = duplicated.get(record.key)
            if refs is None:
                kept.append(record)
                continue
            errors.append(
                RowError(
                    record.ref,
                    None,
                    duplicate_message(ref_label, record.ref, refs, record.key_text),
                )
            )
        records = kept

    errors.sort(key=lambda e: e.ref)
    return tuple(records), tuple(errors)


def duplicate_message(ref_label: str, ref: int, refs: Iterable[int], key: str) -> str:
    """The error of one copy (`ref`) of a key given at all of `refs`."""
    others = ", ".join(str(r) for r in refs if r != ref)
    return f"duplicate of {ref_label} {others}: {key} given more than once"


def parse_records(items: Iterable[object], *, limits: UsageLimits = NO_CLOCK_LIMITS) -> UsageBatch:
    """JSON-shaped records (from the API or a task): refs are list indexes from 0."""

    def parse():
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                yield [
                    RowError(index, None, f"record must be an object, got {type(item).__name__}")
                ]
            else:
                yield parse_record(item, ref=index, limits=limits)

    return _batch(parse(), ref_label="index")


def errors_report(errors: Sequence[RowError]) -> dict:
    """The first ERRORS_SHOWN errors as JSON, with the count of all of them."""
    return {
        "errors": [
            {"index": e.ref, "field": e.field, "message": e.message} for e in errors[:ERRORS_SHOWN]
        ],
        "error_count": len(errors),
        "errors_truncated": len(errors) > ERRORS_SHOWN,
    }


def errors_lines(errors: Sequence[RowError]) -> list[str]:
    """The first ERRORS_SHOWN errors of a CSV file as `line N [field]: message`, and a last
    line saying how many more there are: what the import commands print."""
    lines = []
    for error in errors[:ERRORS_SHOWN]:
        column = f" [{error.field}]" if error.field else ""
        lines.append(f"line {error.ref}{column}: {error.message}")
    if len(errors) > ERRORS_SHOWN:
        lines.append(f"... and {len(errors) - ERRORS_SHOWN:,} more")
    return lines


# --- CSV -------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """Text of a CSV file, with any undecodable byte kept as a lone surrogate.

    Decoding leniently lets the parser report the exact line of each bad byte (and
    --skip-bad-rows import the rest) instead of failing the whole file at the first one.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    # Spreadsheet programs save "UTF-8" CSV with a byte-order mark that would otherwise
    # become part of the first column's name.
    return text.removeprefix("\ufeff")


def _encoding_error(fields: list[str]) -> str | None:
    for field in fields:
        match = _ESCAPED_BYTE_RE.search(field)
        if match:
            byte = ord(match.group()) - 0xDC00
            return f"not valid UTF-8 (byte 0x{byte:02x}); save the file as UTF-8"
    return None


def _check_header(
    header: list[str], *, required: Sequence[str], optional: Sequence[str]
) -> list[str]:
    encoding_problem = _encoding_error(header)
    if encoding_problem:
        raise UsageFileError(f"line 1: the header is {encoding_problem}")
    names = [name.strip() for name in header]
    problems = []
    missing = [name for name in required if name not in names]
    if missing:
        problems.append(f"missing required column(s): {', '.join(missing)}")
    unknown = [name for name in names if name not in (*required, *optional)]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(n) for n in unknown)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"repeated column(s): {', '.join(repeated)}")
    if problems:
        expected = ",".join(required) + "".join(f"[,{name}]" for name in optional)
        raise UsageFileError(f"line 1: bad header: {'; '.join(problems)} (expected {expected})")
    return names


def parse_csv(lines: Iterable[str], *, limits: UsageLimits = NO_CLOCK_LIMITS) -> UsageBatch:
    """Parse the lines of a decoded CSV file (see `decode_csv`).

    Raises UsageFileError when the file cannot be read at all; every other problem is a
    RowError on the file line where its record starts. Blank lines are skipped.
    """
    rows = csv_rows(
        lines,
        required=REQUIRED_FIELDS,
        optional=CSV_OPTIONAL_FIELDS,
        parse_row=lambda raw, ref: parse_record(
            raw, ref=ref, limits=limits, optional=CSV_OPTIONAL_FIELDS
        ),
    )
    batch = _batch(rows, ref_label="line")
    if not batch.records and not batch.errors:
        raise UsageFileError("the file has a header but no data rows")
    return batch


def csv_rows(lines: Iterable[str], *, required, optional, parse_row) -> Iterator:
    """The rows of a decoded CSV file with the given columns, each passed to
    `parse_row(fields, line_number)` (a record or a list of RowError), or a list of one
    RowError for a line that is not CSV or does not fit the header. Blank lines are skipped.

    Reads the header at once, raising UsageFileError when the file cannot be read at all.
    """
    reader = csv.reader(lines, strict=True)
    names = csv_header(reader, required=required, optional=optional)
    return csv_data_rows(reader, names, parse_row)


def csv_header(reader, *, required: Sequence[str], optional: Sequence[str]) -> list[str]:
    """The column names of a file from its first record (a csv.reader at the file's start),
    or UsageFileError saying why the file cannot be read."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise UsageFileError(f"line 1: the header is not valid CSV: {exc}") from None
    if header is None or not any(name.strip() for name in header):
        raise UsageFileError("the file is empty: expected a header line and data rows")
    return _check_header(header, required=required, optional=optional)


def csv_data_rows(reader, names: list[str], parse_row, *, line_offset: int = 0) -> Iterator:
    """The data rows of `reader` (a csv.reader past the header), as for `csv_rows`.
    `line_offset`: the file lines before the reader's first, when it reads a file's tail."""

    def parse():
        last_line = reader.line_num
        while True:
            start = line_offset + last_line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The reader has consumed the bad line and can carry on after it.
                yield [RowError(start, None, f"not valid CSV: {exc}")]
                if reader.line_num == last_line:  # no progress: give up rather than spin
                    return
                last_line = reader.line_num
                continue
            last_line = reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            encoding_problem = _encoding_error(row)
            if encoding_problem:
                yield [RowError(start, None, encoding_problem)]
            elif len(row) != len(names):
                yield [
                    RowError(
                        start,
                        None,
                        f"expected {len(names)} fields as in the header, got {len(row)}",
                    )
                ]
            else:
                yield parse_row(dict(zip(names, row, strict=True)), start)

    return parse()


def read_csv(data: bytes, *, limits: UsageLimits = NO_CLOCK_LIMITS) -> UsageBatch:
    """Convenience for callers without a progress bar: bytes in, batch out."""
    return parse_csv(io.StringIO(decode_csv(data), newline=""), limits=limits)
