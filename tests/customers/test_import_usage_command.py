from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.models import Customer, UsageMetric
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HEADER = "customer_external_id,metric,date,value"


@pytest.fixture
def write_csv(tmp_path):
    def write(*lines: str, data: bytes | None = None):
        path = tmp_path / "usage.csv"
        path.write_bytes(data if data is not None else "\n".join(lines).encode() + b"\n")
        return path

    return write


def run(path, *args):
    out, err = StringIO(), StringIO()
    call_command("import_usage", str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(path, *args):
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("import_usage", str(path), *args, stdout=StringIO(), stderr=err)
    return str(excinfo.value), err.getvalue()


def test_it_imports_and_summarises(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(HEADER, "acct-1,logins,2024-03-01,3", "acct-1,logins,2024-03-02,4")
    out, _ = run(path)
    assert "2 inserted, 0 updated, 0 unchanged, 0 rejected" in out
    assert UsageMetric.objects.count() == 2


def test_reimporting_the_same_file_changes_nothing(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(HEADER, "acct-1,logins,2024-03-01,3", "acct-1,logins,2024-03-02,4")
    run(path)
    out, _ = run(path)
    assert "0 inserted, 0 updated, 2 unchanged, 0 rejected" in out
    assert UsageMetric.objects.count() == 2


def test_a_bad_file_lists_line_numbers_and_writes_nothing(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(
        HEADER,
        "acct-1,logins,2024-03-01,3",
        "acct-1,logins,2024-3-2,4",
        "acct-404,logins,2024-03-01,1",
        "acct-1,logins,2024-03-04,-5",
        "acct-1,logins,2024-03-01,3",
    )
    message, err = run_failing(path)
    assert "5 bad row(s)" in message and "nothing was imported" in message
    assert err.splitlines() == [
        "line 2: duplicate of line 6: customer 'acct-1', metric 'logins', date 2024-03-01 "
        "given more than once",
        "line 3 [date]: date '2024-3-2' is not in YYYY-MM-DD form",
        "line 4 [customer_external_id]: unknown customer 'acct-404'",
        "line 5 [value]: value '-5' is negative; a usage count is 0 or more",
        "line 6: duplicate of line 2: customer 'acct-1', metric 'logins', date 2024-03-01 "
        "given more than once",
    ]
    assert not UsageMetric.objects.exists()


def test_it_lists_the_first_100_errors_and_counts_the_rest(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(HEADER, *(f"acct-1,logins,2024-03-{n:03},1" for n in range(250)))

    message, err = run_failing(path)

    lines = err.splitlines()
    assert len(lines) == 101
    assert lines[0] == "line 2 [date]: date '2024-03-000' is not in YYYY-MM-DD form"
    assert lines[99].startswith("line 101 [date]")
    assert lines[100] == "... and 150 more"
    assert "250 bad row(s)" in message


def test_skip_bad_rows_imports_the_rest_and_lists_the_rejected(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(
        HEADER, "acct-1,logins,2024-03-01,3", "acct-1,logins,soon,4", "acct-2,logins,2024-03-01,1"
    )
    out, err = run(path, "--skip-bad-rows")
    assert "1 inserted, 0 updated, 0 unchanged, 2 rejected" in out
    assert "line 3 [date]" in err and "line 4 [customer_external_id]" in err
    assert list(UsageMetric.objects.values_list("value", flat=True)) == [3.0]


def test_create_customers_names_them_from_the_file(write_csv):
    path = write_csv(
        HEADER + ",customer_name",
        "acct-1,logins,2024-03-01,3,Acme Ltd",
        "acct-2,logins,2024-03-01,3,",
    )
    out, _ = run(path, "--create-customers")
    assert "2 inserted" in out and "2 customers created" in out
    assert dict(Customer.objects.values_list("external_id", "name")) == {
        "acct-1": "Acme Ltd",
        "acct-2": "acct-2",
    }


def test_missing_columns_are_named(write_csv):
    path = write_csv("customer_external_id,day,value", "acct-1,2024-03-01,3")
    message, _ = run_failing(path)
    assert "missing required column(s): metric, date" in message
    assert "unknown column(s): 'day'" in message


def test_non_utf8_bytes_are_reported_by_line(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(
        data=HEADER.encode() + b"\nacct-1,logins,2024-03-01,3\nacct-1,caf\xe9,2024-03-01,3\n"
    )
    message, err = run_failing(path)
    assert "line 3: not valid UTF-8 (byte 0xe9)" in err
    assert "1 bad row(s)" in message
    assert not UsageMetric.objects.exists()


def test_a_latin1_header_is_refused(write_csv):
    path = write_csv(data="customer_external_id,métrique,date,value\n".encode("latin-1"))
    message, _ = run_failing(path)
    assert "line 1: the header is not valid UTF-8 (byte 0xe9)" in message


def test_an_empty_file_is_refused(write_csv):
    message, _ = run_failing(write_csv(data=b""))
    assert "the file is empty" in message


def test_a_missing_file_is_a_clean_error(tmp_path):
    message, _ = run_failing(tmp_path / "nope.csv")
    assert "cannot read" in message and "No such file" in message


def test_values_and_dates_out_of_bounds_are_listed_by_line(make_customer, write_csv):
    make_customer(external_id="acct-1")
    path = write_csv(
        HEADER,
        "acct-1,logins,2024-03-01,5",
        "acct-1,logins,2024-03-02,1e15",
        "acct-1,logins,0001-01-05,5",
        "acct-1,logins,2999-01-01,5",
    )
    message, err = run_failing(path)
    assert "3 bad row(s)" in message
    assert "line 3 [value]: value '1e15' is above the upper bound" in err
    assert "line 4 [date]: date '0001-01-05' is before 2000-01-01" in err
    assert "line 5 [date]: date '2999-01-01' is in the future" in err
    assert not UsageMetric.objects.exists()


# --- The CSM of imported accounts --------------------------------------------------------


def _csm_of() -> dict[str, str | None]:
    return dict(Customer.objects.values_list("external_id", "csm__username"))


@pytest.fixture
def unowned(make_customer):
    """acct-1, an account without a CSM."""
    return make_customer(external_id="acct-1", csm=None)


def test_csm_option_gives_new_and_unowned_accounts_a_csm_but_never_replaces_one(
    csm, other_csm, unowned, make_customer, write_csv
):
    make_customer(external_id="acct-2", csm=other_csm)
    path = write_csv(
        HEADER,
        "acct-1,logins,2024-03-01,3",
        "acct-2,logins,2024-03-01,3",
        "acct-new,logins,2024-03-01,3",
    )
    out, err = run(path, "--create-customers", "--csm", "alice")
    assert "1 customers created, 2 accounts given a CSM" in out
    assert _csm_of() == {"acct-1": "alice", "acct-2": "bob", "acct-new": "alice"}
    assert "customer 'acct-2' keeps its CSM 'bob' (the import named 'alice'" in err
    # Re-importing changes nobody's owner and assigns nothing more.
    out, _ = run(path, "--csm", "alice")
    assert "given a CSM" not in out
    assert _csm_of() == {"acct-1": "alice", "acct-2": "bob", "acct-new": "alice"}


def test_a_csm_column_names_each_account_s_csm_before_the_option(
    csm, other_csm, unowned, write_csv
):
    path = write_csv(
        HEADER + ",customer_name,csm",
        "acct-1,logins,2024-03-01,3,,",
        "acct-1,logins,2024-03-02,3,,bob",
        "acct-2,logins,2024-03-01,3,Beacon,",
        "acct-3,logins,2024-03-01,3,Corto, alice ",
    )
    out, _ = run(path, "--create-customers", "--csm", "alice")
    assert "4 inserted" in out and "3 accounts given a CSM" in out
    assert _csm_of() == {"acct-1": "bob", "acct-2": "alice", "acct-3": "alice"}


def test_without_a_csm_column_or_option_accounts_stay_unowned(unowned, write_csv):
    out, _ = run(write_csv(HEADER, "acct-1,logins,2024-03-01,3"))
    assert "given a CSM" not in out
    assert _csm_of() == {"acct-1": None}


def test_an_unknown_inactive_or_conflicting_csm_is_listed_by_line_and_nothing_is_written(
    csm, other_csm, unowned, write_csv
):
    UserFactory(username="gone", is_active=False)
    path = write_csv(
        HEADER + ",csm",
        "acct-1,logins,2024-03-01,3,alice",
        "acct-new,logins,2024-03-01,3,nobody",
        "acct-new,logins,2024-03-02,3,gone",
        "acct-1,logins,2024-03-02,3,bob",
    )
    message, err = run_failing(path, "--create-customers")
    assert "3 bad row(s)" in message and "nothing was imported" in message
    assert err.splitlines() == [
        "line 3 [csm]: unknown user 'nobody': csm must be the username of an active user",
        "line 4 [csm]: unknown user 'gone': csm must be the username of an active user",
        "line 5 [csm]: csm 'bob' differs from 'alice' given for customer 'acct-1' on line 2",
    ]
    assert _csm_of() == {"acct-1": None}
    assert UsageMetric.objects.count() == 0


def test_skip_bad_rows_assigns_the_csm_of_the_good_rows_only(csm, unowned, write_csv):
    path = write_csv(
        HEADER + ",csm",
        "acct-1,logins,2024-03-01,3,alice",
        "acct-new,logins,2024-03-01,3,nobody",
    )
    out, err = run(path, "--create-customers", "--skip-bad-rows")
    assert "1 inserted" in out and "1 rejected" in out and "0 customers created" in out
    assert "line 3 [csm]: unknown user 'nobody'" in err
    # The account whose only row was rejected is not created empty and unowned.
    assert _csm_of() == {"acct-1": "alice"}


def test_an_unknown_csm_option_is_refused_before_anything_is_read(unowned, write_csv):
    message, _ = run_failing(write_csv(HEADER, "acct-1,logins,2024-03-01,3"), "--csm", "ghost")
    assert message == "--csm: no active user 'ghost'"
    assert UsageMetric.objects.count() == 0
