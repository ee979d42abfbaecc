"""The bulk CSV reader (customers.usage_csv) against the reference parser (ingest.read_csv):
the same records, and every error with the same line, field and words. No database."""

import random
from datetime import date

import pytest

from customers import ingest, usage_csv
from customers.ingest import RowError, UsageFileError

HEADER = "customer_external_id,metric,date,value"
LIMITS = ingest.UsageLimits(max_value=1e6, first_date=date(2020, 1, 1), last_date=date(2024, 3, 2))


def records_of(table: usage_csv.UsageTable) -> list[tuple]:
    return [
        (
            int(line),
            table.external_ids[customer],
            table.metrics[metric],
            day,
            float(value),
            table.names[name],
            table.csms[csm],
        )
        for line, customer, metric, day, value, name, csm in zip(
            table.line,
            table.customer,
            table.metric,
            table.dates(),
            table.value,
            table.name,
            table.csm,
            strict=True,
        )
    ]


def reference_records(batch: ingest.UsageBatch) -> list[tuple]:
    return [
        (r.ref, r.customer_external_id, r.metric, r.date, r.value, r.customer_name, r.csm)
        for r in batch.records
    ]


def both(data: bytes, limits=ingest.NO_CLOCK_LIMITS):
    """(reference batch, bulk table), or the UsageFileError message of each."""
    try:
        reference = ingest.read_csv(data, limits=limits)
    except UsageFileError as exc:
        reference = str(exc)
    try:
        bulk = usage_csv.read_usage_csv(data, limits=limits)
    except UsageFileError as exc:
        bulk = str(exc)
    return reference, bulk


def assert_same(data: bytes, limits=ingest.NO_CLOCK_LIMITS) -> tuple[RowError, ...]:
    reference, bulk = both(data, limits)
    if isinstance(reference, str) or isinstance(bulk, str):
        assert bulk == reference
        return ()
    assert bulk.errors == reference.errors
    assert records_of(bulk) == reference_records(reference)
    return reference.errors


# Every kind of row error, each on a line of its own, between good rows; the comment is what
# the reference says (and so must the bulk reader).
EVERY_ERROR = [
    HEADER + ",customer_name,csm",
    "acct-1,logins,2024-03-01,1,Acme,maya",
    "acct-1,logins,2024-02-30,1,,",  # not a real calendar date
    "acct-1,logins,03/01/2024,1,,",  # not in YYYY-MM-DD form
    "acct-1,logins,2019-12-31,1,,",  # before the first date
    "acct-1,logins,2024-03-09,1,,",  # in the future
    "acct-1,logins,,1,,",  # date is missing
    "acct-1,logins,2024-01-02,-3,,",  # negative
    "acct-1,logins,2024-01-03,nan,,",  # not a number
    "acct-1,logins,2024-01-04,NaN,,",
    "acct-1,logins,2024-01-05,inf,,",
    "acct-1,logins,2024-01-06,1e999,,",  # not finite
    "acct-1,logins,2024-01-07,1000001,,",  # above the bound
    "acct-1,logins,2024-01-08,,,",  # value is missing
    "acct-1,logins,2024-02-01,1_000,,",
    ",logins,2024-02-02,1,,",  # customer_external_id is missing
    "acct-1,,2024-02-03,1,,",  # metric is missing
    "acct-1,Bad Metric,yesterday,-1,,",  # three errors on one row, in field order
    "x" * 101 + ",logins,2024-02-04,1,,",  # too long
    "acct-1,logins,2024-02-05,1,," + "m" * 151,  # csm too long
    "acct-2,logins,2024-03-01,1,,",  # duplicated below
    'acct-3,logins,2024-03-01,1,"Acme\nLtd",',  # a quoted line break: later lines move down
    "acct-3,logins,2024-03-02,oops,,",
    "acct-2,logins,2024-03-01,2,,",  # duplicate of the acct-2 line above
    "   ",  # a line of spaces is blank
    "",
    "acct-1,logins,2024-02-06",  # too few fields
    "acct-1,logins,2024-02-07,1,,,",  # too many
    'acct-1,"logins"x,2024-02-08,1,,',  # not valid CSV
    "acct-4,logins,2024-02-09, 7 , Beacon , bob ",  # padded: accepted, trimmed
    "acct-4,logins,2024-02-10,\u0661\u0662,,",  # Arabic-Indic digits: float() takes them
    "acct-4,logins,2024-02-11,-0,,",  # -0 is 0
    "acct-4,feature:reports,2024-02-12,.5e1,,",
    "acct-1,lo\x00gins,2024-02-13,1,,",  # NUL
    "acct-5,logins,2024-02-14,1,,",
]


@pytest.mark.parametrize("block_bytes", [64, 300, usage_csv.BLOCK_BYTES])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("one_key_limit", [0, usage_csv._ONE_KEY_LIMIT])
def test_every_error_reads_the_same_in_both_parsers(
    monkeypatch, block_bytes, newline, one_key_limit
):
    monkeypatch.setattr(usage_csv, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(usage_csv, "_ONE_KEY_LIMIT", one_key_limit)
    data = newline.join(EVERY_ERROR).encode() + b"\n" + b"acct-\xe9,logins,2024-02-15,1,,\n"

    errors = assert_same(data, LIMITS)

    # The reference's own words, so that a change to both at once is still seen.
    lines = ingest.errors_lines(errors)
    assert lines[:2] == [
        "line 3 [date]: date '2024-02-30' is not a real calendar date",
        "line 4 [date]: date '03/01/2024' is not in YYYY-MM-DD form",
    ]
    for expected in (
        "line 9 [value]: value 'nan' is not a number",
        "line 11 [value]: value 'inf' is not a number",
        "line 12 [value]: value '1e999' is not finite",
        "line 14 [value]: value is missing",
        "line 18 [metric]: metric 'Bad Metric' is not a slug",
        "line 18 [date]: date 'yesterday' is not in YYYY-MM-DD form",
        "line 18 [value]: value '-1' is negative; a usage count is 0 or more",
        "line 21: duplicate of line 25: customer 'acct-2', metric 'logins', date 2024-03-01",
        "line 24 [value]: value 'oops' is not a number",
        "line 28: expected 6 fields as in the header, got 3",
        "line 30: not valid CSV: ',' expected after '\"'",
        "line 35 [metric]: metric contains a NUL byte or invalid Unicode",
        "line 37: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
    ):
        assert any(line.startswith(expected) for line in lines), expected
    assert len(lines) == 28


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n\n",
        HEADER.encode() + b"\n",
        HEADER.encode() + b"\n\n  \n",
        b"customer_external_id,date\nacct-1,2024-03-01\n",
        b"customer_external_id,metric,date,vaule\nacct-1,logins,2024-03-01,1\n",
        HEADER.encode() + b",value\nacct-1,logins,2024-03-01,1,1\n",
        HEADER.encode() + b",region\nacct-1,logins,2024-03-01,1,emea\n",
        b"customer_\xffexternal_id,metric,date,value\n",
        b"\x89PNG\r\n\x1a\n\x00\x00binary",
        b'"customer_external_id,metric,date,value\nacct-1,logins,2024-03-01,1\n',
    ],
)
def test_a_file_it_cannot_read_is_refused_in_the_same_words(data):
    reference, bulk = both(data)
    assert isinstance(reference, str)
    assert bulk == reference


@pytest.mark.parametrize(
    "data",
    [
        # A byte-order mark, CRLF and blank lines.
        ("\ufeff" + HEADER + "\r\n\r\nacct-1,logins,2024-03-01,1\r\n\r\n").encode(),
        # No line break at the end.
        (HEADER + "\nacct-1,logins,2024-03-01,1").encode(),
        # A header over two lines (a quoted line break in a name).
        (b'customer_external_id,metric,date,"va\nlue"\nacct-1,logins,2024-03-01,1\n'),
        # A lone \r ends a line for the reference: the rest of the file is left to it.
        (HEADER + "\nacct-1,logins,2024-03-01,1\racct-1,logins,2024-03-02,x\n").encode(),
        # A quote never closed swallows the rest of the file, as in the reference.
        (HEADER + '\nacct-1,logins,2024-03-01,1\nacct-1,"logins,2024-03-02,1\nb,c\n').encode(),
    ],
)
def test_unusual_files_read_the_same(data):
    assert_same(data)


def test_quoted_line_breaks_across_blocks_keep_line_numbers_exact(monkeypatch):
    monkeypatch.setattr(usage_csv, "BLOCK_BYTES", 100)
    lines = [HEADER + ",customer_name"]
    for n in range(200):
        name = '"Acme\r\nLtd, ""the"" first\n"' if n % 7 == 0 else "Plain"
        value = "bad" if n % 11 == 0 else str(n)
        lines.append(f"acct-{n % 5},logins,2024-01-{1 + n % 28:02},{value},{name}")
    errors = assert_same("\n".join(lines).encode())
    # Bad values and repeated keys (28 days x 5 accounts), numbered past the 201 records.
    assert len(errors) > 100
    assert max(e.ref for e in errors) > 201


def test_random_files_read_the_same(monkeypatch):
    """Files drawn from a kit of good and bad fields, quoting, blank lines and line breaks,
    read with blocks of every size."""
    rng = random.Random(15)
    ids = ["acct-1", "acct-2", " acct-3", "", "Ünï", "a,b", 'q"x', "x" * 101]
    metrics = ["logins", "api_calls", "feature:reports", "Bad", "", "logins "]
    days = ["2024-03-01", "2024-03-02", "2024-3-1", "", "2024-02-30", "1999-12-31"]
    values = ["1", "2.5", "-1", "nan", "1e999", "", " 3", "\u0661", "abc", "0", "-0", ".5", "1e13"]
    names = ["", "Acme", "Acme\nLtd", "Acme, Inc", 'He said "hi"', "x\r\ny"]

    def quoted(text):
        if any(c in text for c in ',"\n\r') or rng.random() < 0.1:
            return '"' + text.replace('"', '""') + '"'
        return text

    for _ in range(150):
        extra = rng.choice([[], ["customer_name"], ["customer_name", "csm"]])
        lines = [",".join([*ingest.REQUIRED_FIELDS, *extra])]
        for _ in range(rng.randrange(1, 40)):
            draw = rng.random()
            if draw < 0.05:
                lines.append(rng.choice(["", "  ", "acct-1,logins"]))
                continue
            fields = [rng.choice(f) for f in (ids, metrics, days, values)]
            if draw < 0.7:  # mostly good rows, some of them duplicates
                fields = [f"acct-{rng.randrange(3)}", "logins", f"2024-03-0{rng.randrange(1, 4)}"]
                fields.append(str(rng.randrange(100)))
            fields += [rng.choice(names) for _ in extra]
            lines.append(",".join(quoted(f) for f in fields))
        newline = rng.choice(["\n", "\r\n"])
        data = (newline.join(lines) + (newline if rng.random() < 0.8 else "")).encode()
        monkeypatch.setattr(usage_csv, "BLOCK_BYTES", rng.choice([8, 50, 200, 1 << 20]))
        assert_same(data)


def test_clean_files_never_need_the_reference_parser(monkeypatch):
    """Quoted fields (line breaks, commas, quotes), CRLF, blank lines, padding and row errors
    are all read the fast way, block by block: the reference is only a fallback."""

    def refuse(*args, **kwargs):
        raise AssertionError("the reference parser was used")

    monkeypatch.setattr(usage_csv._Reader, "reference_text", refuse)
    monkeypatch.setattr(usage_csv, "_reference_file", refuse)
    monkeypatch.setattr(usage_csv, "BLOCK_BYTES", 256)
    lines = [HEADER + ",customer_name"]
    for n in range(300):
        name = ['"Acme\r\nLtd, ""the"" first\n"', "Plain", " padded ", ""][n % 4]
        value = ["bad", "-1", str(n), " 4 "][n % 4]
        lines.append(f"acct-{n % 7},logins,2024-01-{1 + n % 28:02},{value},{name}")
        if n % 50 == 0:
            lines.append("")
    data = "\r\n".join(lines).encode()

    table = usage_csv.read_usage_csv(data)

    monkeypatch.undo()
    reference = ingest.read_csv(data)
    assert table.errors == reference.errors
    assert records_of(table) == reference_records(reference)
