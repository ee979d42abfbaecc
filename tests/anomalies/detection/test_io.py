import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from anomalies.detection import io as detection_io
from anomalies.detection.io import (
    MAX_CALENDAR_DAYS,
    InputError,
    batch_from_long,
    read_series_batch,
    read_series_csv,
)

HEADER = b"series_id,date,value\n"


def read(data: bytes) -> pd.DataFrame:
    return read_series_csv(io.BytesIO(data))


def csv(*rows: str) -> bytes:
    return HEADER + "".join(f"{row}\n" for row in rows).encode()


# (file content, the message's first line). Line numbers count the header as line 1.
MALFORMED = [
    pytest.param(b"", "line 1: the file is empty", id="empty-file"),
    pytest.param(b"\n\n", "line 1: the file is empty", id="only-newlines"),
    pytest.param(HEADER, "line 2: no data rows", id="header-only"),
    pytest.param(HEADER + b"\n\n", "line 2: no data rows", id="header-and-blank-lines"),
    pytest.param(
        b"series_id,day,value\na,2024-01-01,1\n", "line 1: missing column date", id="no-date"
    ),
    pytest.param(b"id;date;value\n", "line 1: missing column series_id, date, value", id="semi"),
    pytest.param(
        csv("a,2024/01/05,1"), "line 2: date '2024/01/05' is not in YYYY-MM-DD", id="slash-date"
    ),
    pytest.param(
        csv("a,2024-01-01,1", "a,2024-1-2,1"),
        "line 3: date '2024-1-2' is not in YYYY-MM-DD",
        id="short-date",
    ),
    pytest.param(
        csv("a,2024-01-01 00:00,1"), "line 2: date '2024-01-01 00:00' is not in", id="timestamp"
    ),
    pytest.param(
        csv("a,2024-02-30,1"), "line 2: date '2024-02-30' is not a real calendar date", id="feb-30"
    ),
    pytest.param(csv("a,,1"), "line 2: date is missing", id="no-date-value"),
    pytest.param(
        csv("a,2024-01-01,12abc"), "line 2: value '12abc' is not a number", id="text-value"
    ),
    pytest.param(csv("a,2024-01-01,true"), "line 2: value 'true' is not a number", id="bool-value"),
    pytest.param(
        csv("a,2024-01-01,nan"), "line 2: value 'nan' is not a number; leave it empty", id="nan"
    ),
    pytest.param(csv("a,2024-01-01,NaN"), "line 2: value 'NaN' is not a number", id="NaN"),
    pytest.param(csv("a,2024-01-01,inf"), "line 2: value 'inf' is not finite", id="inf"),
    pytest.param(
        csv("a,2024-01-01,-Infinity"), "line 2: value '-Infinity' is not finite", id="-inf"
    ),
    pytest.param(csv("a,2024-01-01,1e999"), "line 2: value '1e999' is not finite", id="overflow"),
    pytest.param(csv("a,2024-01-01,-3"), "line 2: value '-3' is negative", id="negative"),
    pytest.param(csv("a,2024-01-01,1,5"), "line 2: more fields than the header", id="comma-1st"),
    pytest.param(
        csv("a,2024-01-01,1", "a,2024-01-02,1,5"),
        "line 3: expected 3 fields, found 4",
        id="decimal-comma",
    ),
    pytest.param(
        csv("a,2024-01-01,1", 'b,"2024-01-02,1'),
        "line 3: a quoted field is never closed",
        id="open-quote",
    ),
    pytest.param(csv(",2024-01-01,1"), "line 2: series_id is missing", id="no-series-id"),
    pytest.param(
        csv("a ,2024-01-01,1"),
        "line 2: series_id 'a ' has leading or trailing spaces",
        id="id-space",
    ),
    pytest.param(
        csv("acme/,2024-01-01,1"),
        "line 2: series_id 'acme/' has an empty account or metric",
        id="no-metric",
    ),
    pytest.param(
        csv("/x,2024-01-01,1"),
        "line 2: series_id '/x' has an empty account or metric",
        id="no-account",
    ),
    pytest.param(
        csv("a,2024-01-01,1", "b,2024-01-01,1", "a,2024-01-01,2"),
        "line 4: series 'a' on 2024-01-01 repeats line 2",
        id="duplicate",
    ),
    pytest.param(
        csv("a,2024-01-01,1", "a,2204-01-01,1"),
        f"line 3: date 2204-01-01 is 65743 days after the earliest date 2024-01-01 (line 2);"
        f" at most {MAX_CALENDAR_DAYS} days",
        id="mistyped-year",
    ),
    pytest.param(
        csv("a,2024-01-01,1") + b"caf\xe9,2024-01-01,1\n",
        "line 3: not valid UTF-8 (byte 0xe9)",
        id="latin-1",
    ),
    pytest.param(b"\xff\xfes\x00e\x00", "line 1: not valid UTF-8 (byte 0xff)", id="utf-16"),
    pytest.param(
        csv("a,2024-01-01,1", "a\x00,2024-01-02,1"), "line 3: contains a NUL byte", id="nul"
    ),
    # Where the line numbers could drift: blank lines, CRLF and a line break inside quotes.
    pytest.param(
        csv("a,2024-01-01,1", "", "", "a,2024-01-02,x"), "line 5: value 'x'", id="after-blank"
    ),
    pytest.param(
        b"series_id,date,value\r\na,2024-01-01,1\r\na,2024-01-02,x\r\n",
        "line 3: value 'x'",
        id="crlf",
    ),
    pytest.param(
        csv('"note\nhere",2024-01-01,1', "a,2024-01-02,x"),
        "line 2: series_id 'note\\nhere' contains a control character",
        id="quoted-line-break",
    ),
    # Line breaks in other columns, and in rows with too many fields, count too.
    pytest.param(
        b'series_id,date,value,note\na,2024-01-01,1,"two\nlines"\na,2024-01-02,x,\n',
        "line 4: value 'x'",
        id="line-break-in-an-extra-column",
    ),
    pytest.param(
        csv('"two\nlines",2024-01-01,1', "a,2024-01-02,1,5"),
        "line 4: expected 3 fields, found 4",
        id="long-row-after-a-line-break",
    ),
    pytest.param(b"\nseries_id,date,value\na,2024-01-01,1\n", "line 1: no header", id="blank-1st"),
    pytest.param(b"series_id,date,value", "line 2: no data rows", id="header-without-newline"),
    pytest.param(
        csv("a,2024-01-01,1", "   "),
        "line 3: series_id '   ' has leading or trailing spaces",
        id="spaces-line",
    ),
    # An open quote swallows the rest of the file, wherever it is.
    pytest.param(
        b'series_id,date,value,note\na,2024-01-01,1,"never closed\na,2024-01-02,1,\n',
        "line 2: a quoted field is never closed",
        id="open-quote-in-an-extra-column",
    ),
    pytest.param(
        csv('5" screen,2024-01-01,1', 'b,"2024-01-02,1'),
        "line 3: a quoted field is never closed",
        id="open-quote-after-a-plain-one",
    ),
    pytest.param(csv('"a""b,2024-01-01,1'), "line 2: a quoted field is never", id="open-escaped"),
    pytest.param(
        csv("a,2024-01-01,1", "a,1900-02-29,1"),
        "line 3: date '1900-02-29' is not a real calendar date",
        id="no-leap-day-in-1900",
    ),
    pytest.param(
        csv("a,2024-04-31,1"), "line 2: date '2024-04-31' is not a real calendar date", id="apr-31"
    ),
    # pandas took other Unicode digits for 0-9; the form is ASCII.
    pytest.param(
        csv("a,\uff12024-01-01,1"),
        "line 2: date '\uff12024-01-01' is not in YYYY-MM-DD form",
        id="fullwidth-digit",
    ),
    pytest.param(csv("a,2024-01-01, inf"), "line 2: value ' inf' is not a number", id="spaced-inf"),
    pytest.param(csv("a,2024-01-01,1_000"), "line 2: value '1_000' is not a number", id="1_000"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED)
def test_it_rejects_malformed_input_naming_the_line(data, message):
    with pytest.raises(InputError) as excinfo:
        read(data)
    assert message in str(excinfo.value)
    if message.startswith("line"):
        assert str(excinfo.value).startswith(message.split(":")[0] + ":")


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_it_counts_lines_after_a_quoted_line_break(newline):
    data = csv('"two\nlines",2024-01-01,1', "a,2024-01-02,x").replace(b"\n", newline)
    with pytest.raises(InputError, match=r"(?m)^line 4: value 'x' is not a number$"):
        read(data)


def test_it_reports_every_problem_of_a_line_and_up_to_ten_lines():
    rows = ["a,2024-13-01,-1"] + [f"a,2024-01-{day:02},x" for day in range(1, 21)]
    with pytest.raises(InputError) as excinfo:
        read(csv(*rows))
    lines = str(excinfo.value).splitlines()
    assert lines[:2] == [
        "line 2: date '2024-13-01' is not a real calendar date",
        "line 2: value '-1' is negative",
    ]
    assert lines[2] == "line 3: value 'x' is not a number"
    assert len(lines) == 11
    assert lines[-1] == "... and 12 more bad lines"


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the file: No such file or directory"):
        read_series_csv(tmp_path / "missing.csv")


def test_a_directory_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read the file"):
        read_series_csv(tmp_path)


def test_it_reads_a_path_and_text_and_binary_streams(tmp_path):
    data = csv("a,2024-01-01,1")
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    for source in (path, str(path), io.BytesIO(data), io.StringIO(data.decode())):
        assert read_series_csv(source)["value"].tolist() == [1.0]


def test_it_returns_typed_columns_with_nan_for_missing_days():
    frame = read(
        csv("acme/x,2024-01-02,1.5", "acme/x,2024-01-01,", "b,2024-01-03,-0", "b,2024-01-04, 7 ")
    )
    assert list(frame.columns) == ["series_id", "date", "value"]
    assert frame["series_id"].tolist() == ["acme/x", "acme/x", "b", "b"]
    assert frame["date"].dtype.kind == "M"
    assert frame["date"].dt.date.tolist() == [
        dt.date(2024, 1, 2),
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 3),
        dt.date(2024, 1, 4),
    ]
    assert frame["value"].dtype == np.float64
    assert_array_equal(frame["value"], [1.5, np.nan, 0.0, 7.0])
    assert not np.signbit(frame["value"].iloc[2])


def test_it_accepts_a_byte_order_mark_crlf_blank_lines_and_extra_columns():
    data = (
        b"\xef\xbb\xbfseries_id,date,value,note\r\na,2024-01-01,1,x\r\n\r\na,2024-01-02,2,y\r\n\r\n"
    )
    frame = read(data)
    assert list(frame.columns) == ["series_id", "date", "value"]
    assert frame["value"].tolist() == [1.0, 2.0]


def test_a_quoted_series_id_may_contain_commas():
    frame = read(csv('"acme, inc/logins",2024-01-01,1'))
    assert frame["series_id"].tolist() == ["acme, inc/logins"]


def test_batch_puts_all_series_on_one_calendar_sorted_by_id():
    frame = read(
        csv(
            "solo,2024-01-03,5",
            "acme/feature:reports,2024-01-05,2",
            "acme/logins,2024-01-01,",
            "acme/feature:reports,2024-01-02,1",
            "solo,2024-01-04,6",
        )
    )
    batch = batch_from_long(frame)
    assert batch.series_ids == ("acme/feature:reports", "acme/logins", "solo")
    assert batch.metrics == ("feature:reports", "logins", "solo")
    assert batch.groups == ("acme", "acme", "solo")
    assert batch.start == dt.date(2024, 1, 1)
    assert isinstance(batch.start, dt.date)
    assert batch.values.shape == (3, 5)
    assert batch.values.dtype == np.float64
    nan = np.nan
    assert_array_equal(
        batch.values,
        [
            [nan, 1.0, nan, nan, 2.0],
            [nan, nan, nan, nan, nan],
            [nan, nan, 5.0, 6.0, nan],
        ],
    )
    assert batch.day(batch.n_days - 1) == dt.date(2024, 1, 5)


def test_batch_splits_account_and_metric_at_the_last_slash():
    batch = batch_from_long(read(csv("eu/acme/logins,2024-01-01,1", "a/b:c/d,2024-01-01,1")))
    assert batch.series_ids == ("a/b:c/d", "eu/acme/logins")
    assert batch.groups == ("a/b:c", "eu/acme")
    assert batch.metrics == ("d", "logins")


def test_batch_of_one_day():
    batch = batch_from_long(read(csv("a,2024-02-29,3")))
    assert batch.values.shape == (1, 1)
    assert batch.start == dt.date(2024, 2, 29)


def test_batch_rejects_a_frame_with_a_repeated_day():
    frame = pd.DataFrame(
        {"series_id": ["a", "a"], "date": pd.to_datetime(["2024-01-01"] * 2), "value": [1.0, 2.0]}
    )
    with pytest.raises(ValueError, match="more than once"):
        batch_from_long(frame)


def test_batch_rejects_a_frame_without_a_column():
    with pytest.raises(ValueError, match="no column value"):
        batch_from_long(pd.DataFrame({"series_id": ["a"], "date": pd.to_datetime(["2024-01-01"])}))


def test_a_large_shuffled_file_reads_into_the_right_cells(tmp_path):
    rng = np.random.default_rng(7)
    n_series, n_days = 400, 500  # 200,000 rows
    values = np.round(rng.gamma(4.0, 250.0, (n_series, n_days)), 2)
    values[rng.random(values.shape) < 0.03] = np.nan
    ids = [f"acct-{i // 4:03}/metric-{i % 4}" for i in range(n_series)]
    days = pd.date_range("2023-06-01", periods=n_days).strftime("%Y-%m-%d")
    frame = pd.DataFrame(
        {
            "series_id": np.repeat(ids, n_days),
            "date": np.tile(days, n_series),
            "value": values.ravel(),
        }
    ).sample(frac=1.0, random_state=3)
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)  # NaN is written as an empty field

    batch = batch_from_long(read_series_csv(path))

    assert batch.values.shape == (n_series, n_days)
    assert batch.series_ids == tuple(sorted(ids))
    assert batch.start == dt.date(2023, 6, 1)
    assert_array_equal(batch.values, values)  # ids were generated in sorted order


# --- group and country ------------------------------------------------------------------

GROUP_HEADER = b"series_id,date,value,group,country\n"


def with_groups(*rows: str) -> bytes:
    return GROUP_HEADER + "".join(f"{row}\n" for row in rows).encode()


def test_group_and_country_are_read_per_series():
    data = (
        b"country,date,value,series_id,group\n"  # any column order
        b"DE-BY,2024-01-01,1,acme/logins,emea\n"
        b",2024-01-01,2,solo,\n"
        b"DE-BY,2024-01-02,3,acme/logins,emea\n"
        b"US,2024-01-01,4,beta/logins,na\n"
        b",2024-01-02,5,solo,\n"
    )
    frame = read(data)
    batch = read_series_batch(io.BytesIO(data))

    assert list(frame.columns) == ["series_id", "date", "value", "group", "country"]
    assert frame["group"].tolist() == ["emea", "", "emea", "na", ""]
    assert frame["country"].tolist() == ["DE-BY", "", "DE-BY", "US", ""]
    assert batch.series_ids == ("acme/logins", "beta/logins", "solo")
    assert batch.cohorts == ("emea", "na", "")
    assert batch.countries == ("DE-BY", "US", None)
    assert_batches_equal(batch, batch_from_long(frame))


def test_without_the_columns_cohorts_and_countries_are_none():
    batch = read_series_batch(io.BytesIO(csv("a,2024-01-01,1")))
    assert batch.cohorts is None
    assert batch.countries is None


def test_only_a_group_column():
    data = b"series_id,date,value,group\na,2024-01-01,1,eu\nb,2024-01-01,1,\n"
    batch = read_series_batch(io.BytesIO(data))
    assert batch.cohorts == ("eu", "")
    assert batch.countries is None


@pytest.mark.parametrize("country", ["US", "DE-BY", "AU-VIC", "GB-SCT"])
def test_countries_and_subdivisions_the_holidays_package_knows(country):
    batch = read_series_batch(io.BytesIO(with_groups(f"a,2024-01-01,1,,{country}")))
    assert batch.countries == (country,)


# (file content, the whole message).
GROUP_COUNTRY_ERRORS = [
    pytest.param(
        with_groups("a,2024-01-01,1,eu,", "b,2024-01-01,1,na,", "a,2024-01-02,1,na,"),
        "line 4: series 'a' has group 'na' here but 'eu' on line 2",
        id="group-conflict",
    ),
    pytest.param(
        with_groups("a,2024-01-01,1,eu,", "a,2024-01-02,1,,"),
        "line 3: series 'a' has group '' here but 'eu' on line 2",
        id="group-on-some-rows-only",
    ),
    pytest.param(
        with_groups("a,2024-01-01,1,,", "a,2024-01-02,1,,US"),
        "line 3: series 'a' has country 'US' here but '' on line 2",
        id="country-on-some-rows-only",
    ),
    pytest.param(
        # Only a series' first disagreeing line, one per series, in line order.
        with_groups(
            "b,2024-01-01,1,,US",
            "a,2024-01-01,1,,US",
            "a,2024-01-02,1,,DE",
            "b,2024-01-02,1,,US",
            "a,2024-01-03,1,,DE",
            "b,2024-01-03,1,,CA",
        ),
        "line 4: series 'a' has country 'DE' here but 'US' on line 3\n"
        "line 7: series 'b' has country 'CA' here but 'US' on line 2",
        id="country-conflicts",
    ),
    pytest.param(
        with_groups("a,2024-01-01,1,,XX", "a,2024-01-02,1,,XX"),
        "line 2: country 'XX' is not a country the holidays package knows"
        " (ISO 3166 alpha-2, such as US or DE-BY)\n"
        "line 3: country 'XX' is not a country the holidays package knows"
        " (ISO 3166 alpha-2, such as US or DE-BY)",
        id="unknown-country",
    ),
    pytest.param(
        with_groups("a,2024-01-01,1,,US", "b,2024-01-01,1,,DE-XX"),
        "line 3: country 'DE-XX': the holidays package knows no subdivision 'XX' of DE",
        id="unknown-subdivision",
    ),
    pytest.param(
        with_groups("a,2024-01-01,1,,de-by"),
        "line 2: country 'de-by' is not a country the holidays package knows"
        " (ISO 3166 alpha-2, such as US or DE-BY); codes are upper case: DE-BY",
        id="lower-case-country",
    ),
    pytest.param(
        with_groups("a,2024-01-01,1,eu ,"),
        "line 2: group 'eu ' has leading or trailing spaces",
        id="group-space",
    ),
    pytest.param(
        with_groups('a,2024-01-01,1,"e\nu",', "b,2024-01-02,x,,"),
        "line 2: group 'e\\nu' contains a control character\nline 4: value 'x' is not a number",
        id="group-line-break",
    ),
]


@pytest.mark.parametrize(("data", "message"), GROUP_COUNTRY_ERRORS)
def test_it_rejects_bad_groups_and_countries_naming_the_lines(data, message):
    with pytest.raises(InputError) as excinfo:
        read(data)
    assert str(excinfo.value) == message


def test_a_frame_with_two_groups_for_one_series_is_refused():
    frame = pd.DataFrame(
        {
            "series_id": ["a", "a"],
            "date": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "value": [1.0, 2.0],
            "group": ["eu", "na"],
        }
    )
    with pytest.raises(ValueError, match="series 'a' has more than one group"):
        batch_from_long(frame)


# --- The fast read and the text read behind it -------------------------------------------

# Files the checks accept. pyarrow reads clean ones typed and in parallel; anything unusual
# (a short row, a value only pandas' reading takes) goes through the text read.
ACCEPTED = [
    pytest.param(csv("a,2024-01-01,1"), id="one-row"),
    pytest.param(
        csv("acme/x,2024-01-02,1.5", "acme/x,2024-01-01,", "b,2024-01-03,-0", "b,2024-01-04, 7 "),
        id="typed-columns",
    ),
    pytest.param(
        b"\xef\xbb\xbfseries_id,date,value,note\r\na,2024-01-01,1,x\r\n\r\na,2024-01-02,2,y\r\n",
        id="bom-crlf-blank-line-extra-column",
    ),
    pytest.param(csv('"acme, inc/logins",2024-01-01,1', '"a""b",2024-01-01,2'), id="quoted"),
    pytest.param(
        b'"series_id","date","value"\n"a","2024-01-01","1"\n"a","2024-01-02",""\n',
        id="all-quoted",
    ),
    pytest.param(b"value,series_id,date\r1,a,2024-01-01\r2,a,2024-01-03", id="cr-unterminated"),
    pytest.param(csv('5" screen,2024-01-01,1'), id="a-quote-inside-a-field"),
    pytest.param(csv("a,2024-01-01,1", "a,2024-01-02"), id="short-row"),
    pytest.param(csv("a,2024-01-01,1", ",,", "a,2024-01-02,\v3"), id="empty-row-and-vt"),
    pytest.param(csv("a,0000-01-01,1", "a,0000-01-03,1"), id="year-zero"),
    pytest.param(with_groups("a,2024-01-01,1,eu,US", "b,2024-01-01,2,,"), id="group-country"),
]


def assert_batches_equal(batch, expected):
    assert_array_equal(batch.values, expected.values)
    for name in ("start", "series_ids", "metrics", "groups", "cohorts", "countries"):
        assert getattr(batch, name) == getattr(expected, name), name


@pytest.mark.parametrize("data", ACCEPTED)
def test_the_text_read_gives_what_the_typed_read_gives(data, monkeypatch):
    frame = read(data)
    batch = read_series_batch(io.BytesIO(data))

    monkeypatch.setattr(detection_io, "read_typed", lambda *args: None)

    pd.testing.assert_frame_equal(read(data), frame)
    assert_batches_equal(read_series_batch(io.BytesIO(data)), batch)


@pytest.mark.parametrize("data", ACCEPTED)
def test_the_batch_read_is_the_frame_read_on_a_calendar(data):
    assert_batches_equal(read_series_batch(io.BytesIO(data)), batch_from_long(read(data)))


def test_a_clean_file_is_read_typed_only(monkeypatch):
    def no_text_read(*args):
        raise AssertionError("the text read is for files with problems")

    monkeypatch.setattr(detection_io, "read_text", no_text_read)
    data = with_groups(
        *(f"acct-{i}/logins,2024-01-{day:02},{i * day},eu,US" for i in range(3) for day in (1, 2))
    )
    batch = read_series_batch(io.BytesIO(data))
    assert batch.values.shape == (3, 2)


def test_a_short_row_has_empty_fields():
    frame = read(csv("a,2024-01-01,1", "a,2024-01-02", ",,", "a,2024-01-03,\v3"))
    assert frame["date"].dt.day.tolist() == [1, 2, 3]
    assert_array_equal(frame["value"], [1.0, np.nan, 3.0])


def test_a_file_on_disk_reads_as_its_bytes_do(tmp_path):
    # A file is mapped, not read: every message and every frame must come out the same.
    path = tmp_path / "in.csv"
    for param in MALFORMED + GROUP_COUNTRY_ERRORS:
        data = param.values[0]
        path.write_bytes(data)
        with pytest.raises(InputError) as from_bytes:
            read(data)
        with pytest.raises(InputError) as from_file:
            read_series_csv(path)
        assert str(from_file.value) == str(from_bytes.value), param.id
    for param in ACCEPTED:
        path.write_bytes(param.values[0])
        pd.testing.assert_frame_equal(read_series_csv(path), read(param.values[0]))


def test_a_header_over_two_lines():
    data = b'series_id,date,value,"a\nnote"\na,2024-01-01,1,x\na,2024-01-02,x,y\n'
    with pytest.raises(InputError, match=r"^line 4: value 'x' is not a number$"):
        read(data)


def test_a_long_header():
    names = ",".join(f"column_{i}" for i in range(20_000))  # far past the first block read
    data = f"{names},series_id,date,value\n{',' * 20_000}a,2024-01-01,1\n".encode()
    assert read(data)["value"].tolist() == [1.0]
