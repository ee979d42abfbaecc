"""Reading a usage CSV file in bulk: bytes in, the valid records as columns out, with every
error worded and numbered exactly as `customers.ingest.parse_csv` (the reference) words it.

Pure: no database, no settings. The file is read in blocks of whole records (BLOCK_BYTES),
so memory holds one block's text and the columns of the records kept so far, never a Python
object per row. Each block goes one of two ways:

- Fast: pyarrow's CSV parser (C++) reads every field as text, the text columns
  dictionary-encoded. The checks of `ingest.FIELD_PARSERS` then run once per distinct text of
  a column (a file has a few thousand account ids and dates, a handful of metrics), and the
  value column is checked with vectorized code: a plain decimal, finite, 0 to the bound. A
  value that is not goes through `ingest.parse_value` alone, for its message.
- Reference: anything the fast way cannot read exactly as Python's csv module would (a row
  with too many or too few fields, bytes that are not UTF-8, a NUL, a line of spaces) sends
  the block to `ingest.csv_data_rows`, the reference parser, started at the block's line.

Line numbers are counted in the bytes: a record starts on the line after the line breaks
before it, including those inside quoted fields (a line break after an even number of quotes
ends a record). That holds while quotes come in pairs as CSV libraries write them and every
\\r is part of \\r\\n; the first block where that is not so sends the rest of the file to the
reference parser, which then numbers lines itself.
"""

from __future__ import annotations

import csv
import io
import mmap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from anomalies.detection.csvfile import numpy_of, quotes_in_pairs

from . import ingest
from .ingest import (
    CSV_OPTIONAL_FIELDS,
    FIELD_PARSERS,
    NO_CLOCK_LIMITS,
    REQUIRED_FIELDS,
    RowError,
    UsageFileError,
    UsageLimits,
    UsageRecord,
)

# About 200,000 rows of a typical export: large enough that pyarrow's threads and the
# per-block costs pay off, small enough that a block's text and arrays stay a few tens of MB
# (what memory holds beyond the records kept: 28 bytes each, 36 with a name and a csm).
BLOCK_BYTES = 8 << 20
# Where the header's end is looked for first.
HEADER_BYTES = 1 << 16
# Days are stored as days since this date (numpy's and PostgreSQL's own epochs differ; the
# writer converts).
EPOCH = date(1970, 1, 1)
_BOM = b"\xef\xbb\xbf"
_QUOTE, _LF, _CR = (ord(c) for c in '"\n\r')
# A value the fast checks accept: what ingest's _NUMBER_RE accepts, in ASCII digits only (the
# reference also takes other Unicode digits, as float() does; those go its way) and with no
# whitespace around (the reference strips it; such a value goes its way too).
_PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
# The columns of the records kept, and the file columns of the optional ones.
_COLUMN_TYPES = {
    "line": np.int64,
    "customer": np.int32,
    "metric": np.int32,
    "day": np.int32,
    "value": np.float64,
    "name": np.int32,
    "csm": np.int32,
}
_OPTIONAL_COLUMNS = {"name": "customer_name", "csm": "csm"}
# Keys (customer, metric, day) are compared as one int64 below this many possible keys, and
# column by column above it (never, in practice).
_ONE_KEY_LIMIT = 2**62
_PARSERS = dict(FIELD_PARSERS)


@dataclass(frozen=True)
class UsageTable:
    """A file's valid records as columns, in file order, and the errors of the others: what
    `ingest.UsageBatch` is for the reference. No two records share a key (customer, metric,
    date): duplicates are all in `errors`, sorted by line like every error.

    `customer[i]` is record i's index into `external_ids`, and so for `metric`/`metrics`,
    `name`/`names` and `csm`/`csms` (whose index 0 is "": none given). `day` is days since
    EPOCH.
    """

    external_ids: list[str]
    metrics: list[str]
    names: list[str]
    csms: list[str]
    line: np.ndarray
    customer: np.ndarray
    metric: np.ndarray
    day: np.ndarray
    value: np.ndarray
    name: np.ndarray
    csm: np.ndarray
    errors: tuple[RowError, ...]

    def __len__(self) -> int:
        return len(self.line)

    def dates(self) -> list[date]:
        return [EPOCH + timedelta(days=int(d)) for d in self.day]


class _Codes:
    """Distinct texts of a column across the file, numbered in order of first sight."""

    def __init__(self, first: Iterable[str] = ()):
        self.texts: list[str] = list(first)
        self.index = {text: code for code, text in enumerate(self.texts)}

    def code(self, text: str) -> int:
        code = self.index.get(text)
        if code is None:
            code = self.index[text] = len(self.texts)
            self.texts.append(text)
        return code


class _Reader:
    """The state of one file's read: the columns' codes, the records' arrays block by block,
    and the errors."""

    def __init__(self, names: list[str], limits: UsageLimits, capacity: int):
        self.names = names
        self.limits = limits
        self.codes = {
            "customer_external_id": _Codes(),
            "metric": _Codes(),
            "customer_name": _Codes([""]),
            "csm": _Codes([""]),
        }
        # The records' columns, allocated once for as many records as the file has lines
        # (pages never written take no memory) and filled block by block: no parts to join.
        self.columns = {
            key: np.empty(capacity, dtype=dtype)
            for key, dtype in _COLUMN_TYPES.items()
            if key not in _OPTIONAL_COLUMNS or _OPTIONAL_COLUMNS[key] in names
        }
        self.n = 0
        self.errors: list[RowError] = []

    # --- the fast way ---

    def fast_block(self, buffer: pa.Buffer, lines: np.ndarray, has_quotes: bool) -> bool:
        """Read a block of records starting on `lines`; False (and nothing kept) when the
        parser cannot read it as the reference would."""
        types = {
            f"f{i}": pa.string() if name == "value" else pa.dictionary(pa.int32(), pa.string())
            for i, name in enumerate(self.names)
        }
        try:
            table = pacsv.read_csv(
                buffer,
                read_options=pacsv.ReadOptions(column_names=list(types)),
                parse_options=pacsv.ParseOptions(newlines_in_values=has_quotes),
                convert_options=pacsv.ConvertOptions(
                    column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False
                ),
            )
        except pa.ArrowException:  # a row of the wrong width, bytes that are not UTF-8
            return False
        if table.num_rows != len(lines):  # a line the parser took for blank, or split
            return False
        table = table.unify_dictionaries()

        n = table.num_rows
        columns: dict[str, np.ndarray] = {}
        # Per field, the message of each row (an index into `messages`, -1 for none).
        problems: dict[str, np.ndarray] = {}
        messages: list[str] = []
        for i, name in enumerate(self.names):
            column = table.column(f"f{i}").combine_chunks()
            if name == "value":
                columns[name], problems[name] = self._values(column, messages)
            else:
                columns[name], problems[name] = self._coded(name, column, messages)
        bad = np.zeros(n, dtype=bool)
        for problem in problems.values():
            bad |= problem >= 0
        for row in np.flatnonzero(bad):
            ref = int(lines[row])
            for field, _ in FIELD_PARSERS:
                if field in problems and problems[field][row] >= 0:
                    self.errors.append(RowError(ref, field, messages[problems[field][row]]))
        good = ~bad
        self._keep(lines[good], {name: column[good] for name, column in columns.items()})
        return True

    def _coded(
        self, name: str, column: pa.DictionaryArray, messages: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(code or day of each row, message index or -1 of each row) of a text column, its
        checks run once per distinct text."""
        parse = _PARSERS[name]
        texts = column.dictionary.to_pylist()
        codes = np.empty(len(texts), dtype=np.int32)
        problem = np.full(len(texts), -1, dtype=np.int64)
        for k, text in enumerate(texts):
            clean, message = parse(text, self.limits)
            if message:
                problem[k] = len(messages)
                messages.append(message)
                codes[k] = -1
            elif name == "date":
                codes[k] = (clean - EPOCH).days
            else:
                codes[k] = self.codes[name].code(clean)
        rows = numpy_of(column.indices)
        return codes[rows], problem[rows]

    def _values(self, column: pa.StringArray, messages: list[str]) -> tuple[np.ndarray, np.ndarray]:
        plain = pc.match_substring_regex(column, _PLAIN_NUMBER)
        values = numpy_of(pc.cast(pc.if_else(plain, column, "0"), pa.float64())).copy()
        with np.errstate(invalid="ignore"):
            ok = (
                numpy_of(plain)
                & np.isfinite(values)
                & (values >= 0)
                & (values <= self.limits.max_value)
            )
        values += 0.0  # -0 is 0, as the reference stores it
        problem = np.full(len(values), -1, dtype=np.int64)
        for row in np.flatnonzero(~ok):
            value, message = ingest.parse_value(column[int(row)].as_py(), limits=self.limits)
            if message:
                problem[row] = len(messages)
                messages.append(message)
            else:
                values[row] = value
        return values, problem

    # --- the reference way ---

    def reference_text(self, text: str, first_line: int) -> None:
        """Records of `text`, which starts on file line `first_line` at a record's start,
        read by the reference parser."""
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        self.reference_rows(
            ingest.csv_data_rows(reader, self.names, self._parse_row, line_offset=first_line - 1)
        )

    def reference_rows(self, rows: Iterable[UsageRecord | list[RowError]]) -> None:
        records = []
        for item in rows:
            if isinstance(item, list):
                self.errors.extend(item)
            else:
                records.append(item)
        if not records:
            return
        codes = self.codes
        self._keep(
            np.array([r.ref for r in records], dtype=np.int64),
            {
                "customer_external_id": np.array(
                    [codes["customer_external_id"].code(r.customer_external_id) for r in records],
                    dtype=np.int32,
                ),
                "metric": np.array(
                    [codes["metric"].code(r.metric) for r in records], dtype=np.int32
                ),
                "date": np.array([(r.date - EPOCH).days for r in records], dtype=np.int32),
                "value": np.array([r.value for r in records], dtype=np.float64),
                "customer_name": np.array(
                    [codes["customer_name"].code(r.customer_name) for r in records],
                    dtype=np.int32,
                ),
                "csm": np.array([codes["csm"].code(r.csm) for r in records], dtype=np.int32),
            },
        )

    def _parse_row(self, raw, ref: int):
        return ingest.parse_record(raw, ref=ref, limits=self.limits, optional=CSV_OPTIONAL_FIELDS)

    # --- the result ---

    def _keep(self, lines: np.ndarray, columns: dict[str, np.ndarray]) -> None:
        fields = {key: _OPTIONAL_COLUMNS.get(key, key) for key in self.columns}
        fields |= {"customer": "customer_external_id", "day": "date"}
        rows = slice(self.n, self.n + len(lines))
        self.columns["line"][rows] = lines
        for key, column in self.columns.items():
            if key != "line":
                column[rows] = columns[fields[key]]
        self.n += len(lines)

    def table(self) -> UsageTable:
        n = self.n
        if not n and not self.errors:
            raise UsageFileError("the file has a header but no data rows")
        arrays = {key: column[:n] for key, column in self.columns.items()}
        for key in _OPTIONAL_COLUMNS:  # zeros never written take no memory
            arrays.setdefault(key, np.zeros(n, dtype=np.int32))
        keep = self._duplicates(arrays)
        if not keep.all():
            arrays = {k: column[keep] for k, column in arrays.items()}
        self.errors.sort(key=lambda e: e.ref)  # stable: a row's errors stay in field order
        return UsageTable(
            external_ids=self.codes["customer_external_id"].texts,
            metrics=self.codes["metric"].texts,
            names=self.codes["customer_name"].texts,
            csms=self.codes["csm"].texts,
            errors=tuple(self.errors),
            **arrays,
        )

    def _duplicates(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Reject every copy of a key given more than once, as ingest.unique_records does;
        returns the mask of the records kept."""
        customer, metric, day, line = (arrays[k] for k in ("customer", "metric", "day", "line"))
        keep = np.ones(len(line), dtype=bool)
        if not len(line):
            return keep
        # The key as one integer (a sort of one column, not three), rows in file order.
        first_day = int(day.min())
        metrics, days = len(self.codes["metric"].texts), int(day.max()) - first_day + 1
        if len(self.codes["customer_external_id"].texts) * metrics * days < _ONE_KEY_LIMIT:
            key = customer.astype(np.int64)  # built in place: one array of 8 bytes a row
            key *= metrics
            key += metric
            key *= days
            key += day
            key -= first_day
            order = np.argsort(key, kind="stable")
            key = key[order]
            same = key[1:] == key[:-1]
            del key
        else:
            order = np.lexsort((line, day, metric, customer))
            c, m, d = customer[order], metric[order], day[order]
            same = (c[1:] == c[:-1]) & (m[1:] == m[:-1]) & (d[1:] == d[:-1])
        repeated = np.zeros(len(order), dtype=bool)
        repeated[1:] |= same
        repeated[:-1] |= same
        if not repeated.any():
            return keep
        rows = order[repeated]
        keep[rows] = False
        # A new key starts where a repeated row does not continue the one before it.
        starts = np.flatnonzero(np.concatenate([[True], ~same])[repeated])
        for group in np.split(rows, starts[1:]):
            first = group[0]
            words = ingest.key_text(
                self.codes["customer_external_id"].texts[customer[first]],
                "metric",
                self.codes["metric"].texts[metric[first]],
                EPOCH + timedelta(days=int(day[first])),
            )
            refs = [int(r) for r in line[group]]
            for ref in refs:
                self.errors.append(
                    RowError(ref, None, ingest.duplicate_message("line", ref, refs, words))
                )
        return keep


def read_usage_csv(
    data: bytes | mmap.mmap,
    *,
    limits: UsageLimits = NO_CLOCK_LIMITS,
    progress: Callable[[int], None] | None = None,
) -> UsageTable:
    """Parse a usage CSV file's bytes (a `bytes`, or an mmap's memoryview). Raises
    UsageFileError as `ingest.parse_csv` does; `progress(n)` hears of each n bytes read."""
    buffer = pa.py_buffer(data)
    raw = np.frombuffer(buffer, dtype=np.uint8)
    start = len(_BOM) if bytes(raw[: len(_BOM)]) == _BOM else 0

    size = HEADER_BYTES
    while (header_end := _record_end(raw, start, min(start + size, len(raw)))) is None:
        size *= 4
    header_raw = raw[start:header_end]
    if not _plain(header_raw):
        return _reference_file(data, limits)
    header_text = bytes(header_raw).decode("utf-8", "surrogateescape")
    names = ingest.csv_header(
        csv.reader(io.StringIO(header_text, newline=""), strict=True),
        required=REQUIRED_FIELDS,
        optional=CSV_OPTIONAL_FIELDS,
    )
    reader = _Reader(names, limits, _line_count(data, raw, header_end))
    line = 1 + int(np.count_nonzero(header_raw == _LF))
    pos = header_end
    size = BLOCK_BYTES
    while pos < len(raw):
        end = _record_end(raw, pos, min(pos + size, len(raw)), last=True)
        if end is None:  # one record longer than a block (a huge quoted field)
            size *= 2
            continue
        size = BLOCK_BYTES
        block = raw[pos:end]
        if not _plain(block):
            reader.reference_text(_decode(raw[pos:]), line)
            if progress:
                progress(len(raw) - pos)
            break
        newlines = np.flatnonzero(block == _LF)
        has_quotes = bool((block == _QUOTE).any())
        ends = _terminators(block, newlines, has_quotes)
        if len(ends) == 0 or ends[-1] != len(block) - 1:
            ends = np.append(ends, len(block))  # the file's last record, without a line break
        starts = np.concatenate([[0], ends[:-1] + 1])
        length = ends - starts
        empty = (length == 0) | ((length == 1) & (block[np.minimum(starts, len(block) - 1)] == _CR))
        lines = line + np.searchsorted(newlines, starts[~empty])
        if len(lines) and (
            (block == 0).any()  # a NUL: pyarrow would keep it, the reference says why not
            or not reader.fast_block(buffer.slice(pos, end - pos), lines, has_quotes)
        ):
            reader.reference_text(_decode(block), line)
        line += len(newlines)
        if progress:
            progress(end - pos)
        _release(data, pos, end)
        pos = end
    return reader.table()


def _record_end(raw: np.ndarray, pos: int, stop: int, *, last: bool = False) -> int | None:
    """The offset after the line break ending the first (or with `last`, the last) record
    that ends within raw[pos:stop]; `stop` itself at the end of the file. None if no record
    ends there."""
    if stop == len(raw) and last:
        return stop
    window = raw[pos:stop]
    newlines = np.flatnonzero(window == _LF)
    ends = _terminators(window, newlines, bool((window == _QUOTE).any()))
    if len(ends):
        return pos + int(ends[-1 if last else 0]) + 1
    return stop if stop == len(raw) else None


def _terminators(raw: np.ndarray, newlines: np.ndarray, has_quotes: bool) -> np.ndarray:
    """The line breaks that end a record: those after an even number of quotes."""
    if not has_quotes:
        return newlines
    quotes = np.flatnonzero(raw == _QUOTE)
    return newlines[np.searchsorted(quotes, newlines) % 2 == 0]


def _plain(block: np.ndarray) -> bool:
    """Whether lines and records can be counted in the bytes: quotes in pairs as CSV
    libraries write them, and no \\r but in \\r\\n (Python's csv module also ends a line at
    a lone \\r; so does the reference, so such a file is left to it)."""
    crs = np.flatnonzero(block == _CR)
    if len(crs) and (crs[-1] == len(block) - 1 or (block[crs + 1] != _LF).any()):
        return False
    quotes = np.flatnonzero(block == _QUOTE)
    return not len(quotes) or quotes_in_pairs(block, quotes)


def _line_count(data: bytes | mmap.mmap, raw: np.ndarray, start: int) -> int:
    """Lines from `start` on: as many as the records there can be, at most."""
    size = BLOCK_BYTES
    breaks = 0
    for at in range(start, len(raw), size):
        breaks += int(np.count_nonzero(raw[at : at + size] == _LF))
        _release(data, at, min(at + size, len(raw)))
    return breaks + 1


def _release(data: bytes | mmap.mmap, start: int, end: int) -> None:
    """Unmap the pages of a mapped file read up to `end`: they stay in the page cache, but
    no longer count in the process's memory (a 10 M-row file is 400 MB of them)."""
    if isinstance(data, mmap.mmap):
        first = start - start % mmap.PAGESIZE
        data.madvise(mmap.MADV_DONTNEED, first, end - end % mmap.PAGESIZE - first)


def _decode(raw: np.ndarray) -> str:
    return raw.tobytes().decode("utf-8", errors="surrogateescape")


def _reference_file(data: bytes | mmap.mmap, limits: UsageLimits) -> UsageTable:
    """A file whose first lines the fast way cannot count: the reference reads all of it."""
    rows = ingest.csv_rows(
        io.StringIO(ingest.decode_csv(bytes(data)), newline=""),
        required=REQUIRED_FIELDS,
        optional=CSV_OPTIONAL_FIELDS,
        parse_row=lambda raw, ref: ingest.parse_record(
            raw, ref=ref, limits=limits, optional=CSV_OPTIONAL_FIELDS
        ),
    )
    fields = [*REQUIRED_FIELDS, *CSV_OPTIONAL_FIELDS]
    reader = _Reader(fields, limits, _line_count(data, np.frombuffer(data, np.uint8), 0))
    reader.reference_rows(rows)
    return reader.table()
