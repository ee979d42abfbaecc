"""The shared parser: no database."""

from datetime import date

import pytest

from customers import ingest
from customers.ingest import RowError, UsageFileError, UsageRecord

HEADER = "customer_external_id,metric,date,value"


def csv_batch(*lines: str, header: str = HEADER) -> ingest.UsageBatch:
    return ingest.read_csv("\n".join([header, *lines, ""]).encode())


def test_it_parses_a_good_file_with_line_numbers():
    batch = csv_batch("acct-1,logins,2024-03-01,12", "acct-1,feature:reports,2024-03-01,0.5")
    assert batch.errors == ()
    assert batch.records == (
        UsageRecord(2, "acct-1", "logins", date(2024, 3, 1), 12.0),
        UsageRecord(3, "acct-1", "feature:reports", date(2024, 3, 1), 0.5),
    )


def test_it_reads_the_optional_name_and_trims_whitespace():
    batch = csv_batch(
        " acct-1 , logins , 2024-03-01 , 7 ,Acme Ltd",
        header=HEADER + ",customer_name",
    )
    assert batch.records == (UsageRecord(2, "acct-1", "logins", date(2024, 3, 1), 7.0, "Acme Ltd"),)


def test_it_ignores_a_byte_order_mark_and_blank_lines():
    data = ("\ufeff" + HEADER + "\r\n\r\nacct-1,logins,2024-03-01,1\r\n\r\n").encode()
    batch = ingest.read_csv(data)
    assert batch.errors == ()
    assert [r.ref for r in batch.records] == [3]


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (",logins,2024-03-01,1", "customer_external_id", "customer_external_id is missing"),
        ("acct-1,,2024-03-01,1", "metric", "metric is missing"),
        ("acct-1,Logins,2024-03-01,1", "metric", "metric 'Logins' is not a slug"),
        ("acct-1," + "m" * 51 + ",2024-03-01,1", "metric", "longer than 50 characters"),
        ("acct-1,logins,,1", "date", "date is missing"),
        ("acct-1,logins,03/01/2024,1", "date", "date '03/01/2024' is not in YYYY-MM-DD form"),
        ("acct-1,logins,20240301,1", "date", "date '20240301' is not in YYYY-MM-DD form"),
        ("acct-1,logins,2024-02-30,1", "date", "date '2024-02-30' is not a real calendar date"),
        ("acct-1,logins,2024-03-01,", "value", "value is missing"),
        ("acct-1,logins,2024-03-01,abc", "value", "value 'abc' is not a number"),
        ("acct-1,logins,2024-03-01,1_000", "value", "value '1_000' is not a number"),
        ("acct-1,logins,2024-03-01,nan", "value", "value 'nan' is not a number"),
        ("acct-1,logins,2024-03-01,inf", "value", "value 'inf' is not a number"),
        ("acct-1,logins,2024-03-01,1e999", "value", "value '1e999' is not finite"),
        (
            "acct-1,logins,2024-03-01,-3",
            "value",
            "value '-3' is negative; a usage count is 0 or more",
        ),
        ("x" * 101 + ",logins,2024-03-01,1", "customer_external_id", "longer than 100"),
    ],
)
def test_it_rejects_a_bad_row_naming_the_field(line, field, message):
    batch = csv_batch("acct-9,logins,2024-03-01,1", line)
    assert [r.ref for r in batch.records] == [2]
    assert len(batch.errors) == 1
    error = batch.errors[0]
    assert (error.ref, error.field) == (3, field)
    assert message in error.message


def test_it_reports_every_problem_of_a_row():
    batch = csv_batch("acct-1,Bad Metric,yesterday,-1")
    assert {e.field for e in batch.errors} == {"metric", "date", "value"}
    assert {e.ref for e in batch.errors} == {2}


def test_it_rejects_every_copy_of_a_duplicate_key_naming_the_other_lines():
    batch = csv_batch(
        "acct-1,logins,2024-03-01,1",
        "acct-1,logins,2024-03-02,1",
        "acct-1,logins,2024-03-01,2",
    )
    assert [r.ref for r in batch.records] == [3]
    assert [(e.ref, e.field) for e in batch.errors] == [(2, None), (4, None)]
    assert "duplicate of line 4" in batch.errors[0].message
    assert "duplicate of line 2" in batch.errors[1].message


def test_it_reports_the_line_of_a_row_with_bytes_that_are_not_utf8():
    batch = ingest.read_csv(
        (HEADER + "\nacct-1,logins,2024-03-01,1\n").encode() + b"acct-\xe9,logins,2024-03-01,1\n"
    )
    assert [r.ref for r in batch.records] == [2]
    assert batch.errors == (
        RowError(3, None, "not valid UTF-8 (byte 0xe9); save the file as UTF-8"),
    )


def test_it_numbers_records_by_the_line_they_start_on():
    batch = csv_batch(
        'acct-1,logins,2024-03-01,1,"Acme\nLtd"',
        "acct-1,logins,2024-03-02,oops,Acme",
        header=HEADER + ",customer_name",
    )
    assert batch.records[0].customer_name == "Acme\nLtd"
    assert [(e.ref, e.field) for e in batch.errors] == [(4, "value")]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("acct-1,logins,2024-03-01", "expected 4 fields as in the header, got 3"),
        ("acct-1,logins,2024-03-01,1,extra", "expected 4 fields as in the header, got 5"),
        ('acct-1,"logins"x,2024-03-01,1', "not valid CSV"),
    ],
)
def test_it_rejects_a_malformed_line(line, message):
    batch = csv_batch(line, "acct-1,logins,2024-03-09,1")
    assert [r.ref for r in batch.records] == [3]
    assert batch.errors[0].ref == 2
    assert message in batch.errors[0].message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\n", "the file is empty"),
        (HEADER.encode() + b"\n", "header but no data rows"),
        (
            b"customer_external_id,date\nacct-1,2024-03-01\n",
            "missing required column(s): metric, value",
        ),
        (
            b"customer_external_id,metric,date,vaule\nacct-1,logins,2024-03-01,1\n",
            "missing required column(s): value; unknown column(s): 'vaule'",
        ),
        (
            HEADER.encode() + b",value\nacct-1,logins,2024-03-01,1,1\n",
            "repeated column(s): value",
        ),
        (b"customer_\xffexternal_id,metric,date,value\n", "header is not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "line 1"),
    ],
)
def test_it_refuses_a_file_it_cannot_read(data, message):
    with pytest.raises(UsageFileError) as excinfo:
        ingest.read_csv(data)
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({"value": True}, "value", "value must be a number, got bool"),
        ({"value": "12"}, None, None),
        ({"value": 10**400}, "value", "is too large"),
        ({"value": [1]}, "value", "value must be a number, got list"),
        ({"date": 20240301}, "date", "date must be a string"),
        ({"metric": None}, "metric", "metric is missing"),
        ({"customer_external_id": 42}, "customer_external_id", "must be a string, got int"),
        ({"customer_external_id": "a\x00b"}, "customer_external_id", "NUL byte or invalid"),
        ({"customer_name": "\ud800"}, "customer_name", "NUL byte or invalid Unicode"),
        ({"extra": 1}, "extra", "unknown field 'extra'"),
    ],
)
def test_it_checks_json_types(record, field, message):
    good = {"customer_external_id": "acct-1", "metric": "logins", "date": "2024-03-01", "value": 1}
    batch = ingest.parse_records([good | record])
    if message is None:
        assert batch.errors == ()
        assert batch.records[0].value == 12.0
    else:
        assert [(e.ref, e.field) for e in batch.errors] == [(0, field)]
        assert message in batch.errors[0].message


def test_a_record_with_too_many_fields_is_one_error_unread():
    good = {"customer_external_id": "acct-1", "metric": "logins", "date": "2024-03-01", "value": 1}
    typos = good | {f"typo{n}": 1 for n in range(5)}
    flood = good | {f"k{n}": 1 for n in range(7)}

    batch = ingest.parse_records([typos, flood])

    assert [(e.ref, e.field) for e in batch.errors] == [(0, f"typo{n}") for n in range(5)] + [
        (1, None)
    ]
    assert batch.errors[-1].message == (
        "record has 11 fields (at most 10): expected "
        "customer_external_id, metric, date, value and optionally customer_name"
    )


def test_it_rejects_records_that_are_not_objects_by_index():
    good = {"customer_external_id": "acct-1", "metric": "logins", "date": "2024-03-01", "value": 1}
    batch = ingest.parse_records([good, "acct-1,logins", None])
    assert len(batch.records) == 1
    assert batch.errors == (
        RowError(1, None, "record must be an object, got str"),
        RowError(2, None, "record must be an object, got NoneType"),
    )


def test_it_reports_json_duplicates_by_index():
    good = {"customer_external_id": "acct-1", "metric": "logins", "date": "2024-03-01", "value": 1}
    batch = ingest.parse_records([good, good | {"value": 2}])
    assert batch.records == ()
    assert "duplicate of index 1" in batch.errors[0].message
    assert "duplicate of index 0" in batch.errors[1].message


LIMITS = ingest.UsageLimits(max_value=1e6, first_date=date(2020, 1, 1), last_date=date(2024, 3, 2))


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ("acct-1,logins,2024-03-01,1000001", "value", "above the upper bound of 1,000,000"),
        ("acct-1,logins,2024-03-01,1e15", "value", "USAGE_VALUE_MAX"),
        ("acct-1,logins,2019-12-31,1", "date", "before 2020-01-01"),
        ("acct-1,logins,0001-01-05,1", "date", "USAGE_FIRST_DATE"),
        ("acct-1,logins,2024-03-03,1", "date", "in the future"),
        ("acct-1,logins,2030-01-01,1", "date", "latest usage date accepted today is 2024-03-02"),
    ],
)
def test_it_refuses_values_and_dates_outside_the_bounds(line, field, message):
    batch = ingest.read_csv(
        "\n".join([HEADER, "acct-1,logins,2024-03-02,1000000", line, ""]).encode(), limits=LIMITS
    )
    assert [r.ref for r in batch.records] == [2]
    assert [(e.ref, e.field) for e in batch.errors] == [(3, field)]
    assert message in batch.errors[0].message


def test_the_default_bounds_refuse_absurd_values_and_epoch_dates():
    batch = ingest.parse_records(
        [
            {"customer_external_id": "a", "metric": "logins", "date": "2024-03-01", "value": 1e15},
            {"customer_external_id": "a", "metric": "logins", "date": "0001-01-05", "value": 1},
        ]
    )
    assert batch.records == ()
    assert [(e.ref, e.field) for e in batch.errors] == [(0, "value"), (1, "date")]


def test_a_csv_csm_column_is_read_but_api_records_may_not_name_a_csm():
    batch = csv_batch("acct-1,logins,2024-03-01,1, maya ", header=HEADER + ",csm")
    assert batch.errors == ()
    assert batch.records[0].csm == "maya"
    too_long = csv_batch("acct-1,logins,2024-03-01,1," + "m" * 151, header=HEADER + ",csm")
    assert too_long.errors == (RowError(2, "csm", "csm is longer than 150 characters"),)
    # A CSM calls the API: handing accounts to a user is for the ops import only.
    record = {"customer_external_id": "acct-1", "metric": "logins", "date": "2024-03-01"}
    api = ingest.parse_records([{**record, "value": 1, "csm": "maya"}])
    assert api.records == ()
    assert api.errors == (RowError(0, "csm", "unknown field 'csm'"),)
