"""Reading the CLI's CSV input with pyarrow: bytes in, the wanted columns of the data rows out.

pyarrow's reader is a typed CSV parser in C++: a clean file of a few million rows is read in a
fraction of a second, ids and dates dictionary-encoded and values as float64, where pandas
makes a Python string of every field. There are two ways through this module:

- `read_typed`, the fast way, for a clean file. It gives up (returns None) at anything
  unusual: a row with too few or too many fields, a value the parser does not take for a
  number, a header spread over two lines. It knows no line numbers.
- `read_text` reads every field as text, on one thread, and knows the file line each row
  starts on. It names the line of a row with too many fields; a row with too few is padded
  with empty fields, as pandas did.

`io` checks what `read_typed` returns and goes back to `read_text` at the first problem, so
every message comes from one place that has line numbers. Lines are counted as the parser
reads them: \\n, \\r\\n and a lone \\r each end one, the header is line 1, blank lines count,
and a line break inside a quoted field pushes the following rows down.
"""

from __future__ import annotations

import codecs
import csv
import io
import mmap
import os
import re
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

_BOM = b"\xef\xbb\xbf"
_QUOTE, _COMMA, _LF, _CR = (ord(c) for c in '",\n\r')
_LINE_BREAK = r"\r\n|\r|\n"
_NOT_SPACE = re.compile(rb"\S")

Data = bytes | mmap.mmap  # a file's bytes, read or mapped
Header = tuple[list[str], int]  # the header's fields, and the lines it takes


class InputError(ValueError):
    """The input cannot be used. One problem per message line, each starting with
    `line N:` (file line, header = line 1) where a line applies."""


@dataclass(frozen=True)
class Rows:
    """The wanted columns of a file's data rows, in file order, blank rows left out.

    `coded[name]` is (codes, distinct texts): row i holds texts[codes[i]]. `values` is the value
    column as float64 (NaN where empty or not a number to the parser) with `empty` marking the
    empty fields; the text read has `value_text` instead and leaves both None. `lines` is the
    file line each row starts on, None for the typed read.
    """

    coded: dict[str, tuple[np.ndarray, pa.Array]]
    n_rows: int
    values: np.ndarray | None = None
    empty: np.ndarray | None = None
    value_text: pa.Array | None = None
    lines: np.ndarray | None = None


def read_bytes(source: str | os.PathLike | IO) -> Data:
    """The input's bytes. A file is mapped rather than read: the parser then reads the page
    cache itself, and the process does not fault in a copy of the whole file (in a small VM,
    a tenth of the CLI's time on a 130 MB file)."""
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
            try:
                return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # empty, or not a regular file (a pipe)
                return file.read()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}") from None


def check_bytes(data: Data) -> None:
    """An empty file, bytes that are not UTF-8, a NUL byte, a quoted field never closed."""
    # (strip() would copy the whole file to find that out.)
    if _NOT_SPACE.search(data, len(_BOM) if data[: len(_BOM)] == _BOM else 0) is None:
        raise InputError("line 1: the file is empty; expected the header series_id,date,value")
    raw = np.frombuffer(data, dtype=np.uint8)
    # Most files are ASCII, and asking is ten times faster than decoding.
    if any((block >= 0x80).any() for _, block in _blocks(raw)):
        try:
            codecs.utf_8_decode(data, "strict", True)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"line {line_at(data, exc.start)}: not valid UTF-8"
                f" (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
            ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"line {line_at(data, nul)}: contains a NUL byte; not a text file?")
    # The parser takes a field open at the end of the file as ending there: a missing quote
    # would swallow every row after it without a word.
    opened = _unclosed_quote(data)
    if opened is not None:
        raise InputError(f"line {line_at(data, opened)}: a quoted field is never closed")


def line_at(data: Data, offset: int) -> int:
    head = data[:offset]
    # \r\n, \n and a lone \r (old Mac exports) all end a line, as for the CSV parser.
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def read_header(data: Data) -> Header:
    """The header's fields as written, and the number of lines it takes."""
    size = 1 << 16
    while True:  # from the file's head, as long as it takes to see the header end
        whole = size >= len(data)
        text = io.TextIOWrapper(io.BytesIO(data[:size]), encoding="utf-8-sig", newline="")
        reader = csv.reader(text)
        try:
            fields = next(reader, [])
        except (csv.Error, UnicodeDecodeError) as exc:
            if whole:
                raise InputError(f"line 1: not a readable CSV header: {exc}") from None
            size *= 4
            continue
        lines = reader.line_num
        try:
            followed = next(reader, None) is not None
        except (csv.Error, UnicodeDecodeError):  # the next record, cut short by the head
            followed = True
        if whole or followed:
            break
        size *= 4
    if not fields:
        raise InputError("line 1: no header; expected series_id,date,value")
    return fields, lines


def read_typed(data: Data, header: Header, wanted: dict[str, int]) -> Rows | None:
    """The wanted columns (name: header position) of a clean file, ids and dates
    dictionary-encoded, or None if the file is not clean."""
    if header[1] != 1:  # skip_rows skips lines, not quoted records
        return None
    types = {f"f{i}": pa.dictionary(pa.int32(), pa.string()) for i in wanted.values()}
    types[f"f{wanted['value']}"] = pa.float64()
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            # Named, the header's width is every row's: a row with more or fewer fields fails.
            read_options=pacsv.ReadOptions(column_names=_names(header), skip_rows=1),
            parse_options=pacsv.ParseOptions(newlines_in_values=_has_quotes(data)),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(types),
                column_types=types,
                null_values=[""],  # only an empty value is missing; "NA" is not a number
                strings_can_be_null=False,
            ),
        )
    except pa.ArrowException:  # the text read names the line
        return None
    table = table.unify_dictionaries()
    columns = {name: table.column(f"f{i}").combine_chunks() for name, i in wanted.items()}
    value = columns.pop("value")
    values = np.frombuffer(value.buffers()[1], np.float64, len(value), value.offset * 8).copy()
    if value.null_count:
        empty = ~_bits(value.buffers()[0], value.offset, len(value))
        values[empty] = np.nan
    else:
        empty = np.zeros(len(value), dtype=bool)
    return Rows(
        coded={name: _codes(column) for name, column in columns.items()},
        n_rows=table.num_rows,
        values=values,
        empty=empty,
    )


def read_text(data: Data, header: Header, wanted: dict[str, int]) -> Rows:
    """The wanted columns as text with the line of each row; InputError for a row with
    more fields than the header."""
    width = len(header[0])
    set_aside: list[pacsv.InvalidRow] = []  # rows with too few or too many fields

    def keep(row: pacsv.InvalidRow) -> str:
        set_aside.append(row)
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            # The header is row 0 here. One thread: the parser then numbers the rows it sets
            # aside.
            read_options=pacsv.ReadOptions(column_names=_names(header), use_threads=False),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=_has_quotes(data),
                # Kept as rows of empty fields, so that records and lines can be matched up.
                ignore_empty_lines=False,
                invalid_row_handler=keep,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.large_string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"not a readable CSV file: {str(exc).splitlines()[0]}") from None

    # Records are numbered from 1 (the header) in file order; the parser numbered the ones it
    # set aside, the others fill the gaps.
    aside = np.array([row.number for row in set_aside], dtype=np.int64)
    n_records = table.num_rows + len(set_aside)
    parsed = np.setdiff1d(np.arange(1, n_records + 1), aside)

    # Record r starts on line r plus the line breaks inside the records before it.
    breaks = np.zeros(n_records, dtype=np.int64)
    if _has_quotes(data):  # only a quoted field can hold a line break
        for column in table.columns:
            counts = pc.count_substring_regex(column.combine_chunks(), _LINE_BREAK)
            breaks[parsed - 1] += numpy_of(counts)
        breaks[aside - 1] = [len(re.findall(_LINE_BREAK, row.text)) for row in set_aside]
    lines = np.arange(1, n_records + 1) + np.concatenate([[0], np.cumsum(breaks)[:-1]])

    if too_long := [row for row in set_aside if row.actual_columns > width]:
        row = min(too_long, key=lambda row: row.number)
        line = int(lines[row.number - 1])
        if row.number == 2:  # pandas' wording for the first row, kept
            raise InputError(f"line {line}: more fields than the header has")
        raise InputError(f"line {line}: expected {width} fields, found {row.actual_columns}")

    columns = {name: table.column(i).combine_chunks() for name, i in wanted.items()}
    if set_aside:  # too few fields: the missing ones are empty, as pandas had them
        padded = [_fields(row.text, width) for row in set_aside]
        order = np.argsort(np.concatenate([parsed, aside]))
        columns = {
            name: pa.concat_arrays(
                [column, pa.array([fields[wanted[name]] for fields in padded], pa.large_string())]
            ).take(order)
            for name, column in columns.items()
        }
    columns = {name: column[1:] for name, column in columns.items()}  # the header
    lines = lines[1:]

    blank = np.logical_and.reduce([numpy_of(pc.equal(column, "")) for column in columns.values()])
    if blank.any():
        kept = pa.array(~blank)
        columns = {name: column.filter(kept) for name, column in columns.items()}
        lines = lines[~blank]
    value_text = columns.pop("value")
    return Rows(
        coded={name: _codes(pc.dictionary_encode(column)) for name, column in columns.items()},
        n_rows=len(value_text),
        value_text=value_text,
        lines=lines,
    )


def _names(header: Header) -> list[str]:
    # By position: header names may repeat or be empty.
    return [f"f{i}" for i in range(len(header[0]))]


def _has_quotes(data: Data) -> bool:
    # Without quotes no value can hold a line break: the parser may then split the file into
    # blocks for its threads at any line break, which is faster.
    return data.find(b'"') >= 0


def _blocks(raw: np.ndarray, size: int = 1 << 22):
    """(offset, block) over the file's bytes: a mask of the whole file at once would be one
    more copy of it in memory."""
    return ((start, raw[start : start + size]) for start in range(0, len(raw), size))


def numpy_of(array: pa.Array) -> np.ndarray:
    """A numeric or boolean array without nulls, as numpy.

    pyarrow's own `to_numpy` imports pandas on first use, a tenth of a second the CLI's
    process would not otherwise spend; the array's buffers are all it takes.
    """
    if array.null_count:
        raise ValueError(f"numpy_of takes arrays without nulls, got {array.null_count}")
    if pa.types.is_boolean(array.type):
        return _bits(array.buffers()[1], array.offset, len(array))
    if pa.types.is_floating(array.type):
        kind = "f"
    else:
        kind = "u" if pa.types.is_unsigned_integer(array.type) else "i"
    dtype = np.dtype(f"{kind}{array.type.bit_width // 8}")
    if len(array) == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)


def _bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")
    return bits[offset : offset + length].astype(bool)


def _codes(column: pa.DictionaryArray) -> tuple[np.ndarray, pa.Array]:
    return numpy_of(column.indices), column.dictionary


def _fields(text: str, width: int) -> list[str]:
    """A row the parser set aside for having too few fields, padded with empty ones."""
    fields = next(csv.reader(io.StringIO(text, newline="")), [])
    return fields + [""] * (width - len(fields))


def quotes_in_pairs(raw: np.ndarray, quotes: np.ndarray, first: int = 0) -> bool:
    """Whether the quotes (offsets `quotes` in the bytes `raw`, whose first field starts at
    `first`) come as a CSV library writes them: each quoted field opened at a field's start
    and closed at its end, "" inside. Then every CSV parser reads the fields alike, and a line
    break after an even number of quotes ends a record."""
    before = raw[np.maximum(quotes - 1, 0)]
    after = raw[np.minimum(quotes + 1, len(raw) - 1)]
    at_start = (quotes == first) | np.isin(before, (_COMMA, _LF, _CR))
    at_end = (quotes == len(raw) - 1) | np.isin(after, (_COMMA, _LF, _CR))
    gap = np.diff(quotes)
    # Quote k opens when k is even and closes when k is odd, "" counted as a close and an open.
    opens_ok = at_start[::2] | np.concatenate([[False], gap == 1])[::2]
    closes_ok = at_end[1::2] | np.concatenate([gap == 1, [False]])[1::2]
    return bool(len(quotes) % 2 == 0 and opens_ok.all() and closes_ok.all())


def _unclosed_quote(data: Data) -> int | None:
    """The offset of a quote that opens a field never closed, or None.

    A quote opens a field only at the field's start; inside a quoted field "" is a quote and
    any other quote closes the field. In files written by a CSV library quotes come in such
    pairs, checked at once with numpy; only other files are walked quote by quote.
    """
    if not _has_quotes(data):
        return None
    raw = np.frombuffer(data, dtype=np.uint8)
    quotes = np.concatenate(
        [np.flatnonzero(block == _QUOTE) + start for start, block in _blocks(raw)]
    )
    first = len(_BOM) if data[: len(_BOM)] == _BOM else 0
    if quotes_in_pairs(raw, quotes, first):
        return None

    offsets = quotes.tolist()
    opened = None  # the quote that opened the field we are in
    k = 0
    while k < len(offsets):
        offset = offsets[k]
        if opened is None:
            if offset == first or data[offset - 1] in (_COMMA, _LF, _CR):
                opened = offset  # elsewhere outside quotes, a quote is just a character
        elif k + 1 < len(offsets) and offsets[k + 1] == offset + 1:
            k += 1  # "" inside quotes
        else:
            opened = None
        k += 1
    return opened
