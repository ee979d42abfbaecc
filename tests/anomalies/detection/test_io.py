import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from anomalies.detection.io import (
    MAX_CALENDAR_DAYS,
    InputError,
    batch_from_long,
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
