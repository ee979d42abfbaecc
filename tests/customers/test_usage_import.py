"""services.usage_import (the bulk CSV path of import_usage) against the path it replaced,
ingest.read_csv + services.usage_ingest: the same rows stored, counts, accounts, CSMs and
errors, and all or nothing."""

import random
from datetime import date, timedelta

import pytest
from django.db import OperationalError, connection, connections, transaction

from customers import ingest, services, usage_csv
from customers.models import Customer, UsageMetric
from customers.services import usage_import, usage_ingest
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

HEADER = "customer_external_id,metric,date,value"


def stored() -> dict:
    return {
        (external_id, metric, day.isoformat()): value
        for external_id, metric, day, value in UsageMetric.objects.values_list(
            "customer__external_id", "metric", "date", "value"
        )
    }


def state() -> tuple:
    customers = Customer.objects.values_list("external_id", "name", "csm__username")
    return stored(), sorted(customers, key=str)


def run_both(data: bytes, **options):
    """(result, state after) of the reference path and of the bulk path, each run on the
    same database and undone after."""
    outcomes = []
    for run in (
        lambda: usage_ingest(batch=ingest.read_csv(data), **options),
        lambda: usage_import(table=usage_csv.read_usage_csv(data), **options),
    ):
        with transaction.atomic():
            result = run()
            outcomes.append((result, state()))
            transaction.set_rollback(True)
    return outcomes


def clean_file(rows: int, customers: int) -> bytes:
    rng = random.Random(15)
    lines = [HEADER + ",customer_name"]
    metrics = ("logins", "api_calls", "active_users", "feature:reports", "feature:exports")
    day = date(2024, 1, 1)
    while len(lines) <= rows:
        for c in range(customers):
            for metric in metrics:
                value = rng.choice([str(rng.randrange(5000)), f"{rng.random() * 100:.3f}", "0"])
                lines.append(f"acct-{c},{metric},{day.isoformat()},{value},Account {c}")
        day += timedelta(days=1)
    return ("\n".join(lines[: rows + 1]) + "\n").encode()


def test_a_clean_50k_row_file_imports_identically_both_ways(make_customer):
    data = clean_file(50_000, 40)
    make_customer(external_id="acct-0")  # one account exists; the others are created
    UsageMetric.objects.create(
        customer=Customer.objects.get(external_id="acct-0"),
        metric="logins",
        date=date(2024, 1, 1),
        value=12_345,  # the file says otherwise: updated, the same both ways
    )

    (reference, reference_state), (bulk, bulk_state) = run_both(data, create_customers=True)

    assert bulk.counts() == reference.counts()
    assert bulk.inserted + bulk.updated + bulk.unchanged == 50_000
    assert bulk.customers_created == 39
    assert bulk_state == reference_state
    assert len(bulk_state[0]) == 50_000


def test_reimporting_changes_nothing_and_counts_alike(make_customer):
    data = clean_file(2_000, 10)
    usage_import(table=usage_csv.read_usage_csv(data), create_customers=True)
    changed = data.replace(b",0,Account", b",7,Account")

    (reference, _), (bulk, _) = run_both(data)
    assert (bulk.inserted, bulk.updated, bulk.unchanged) == (0, 0, 2_000)
    assert bulk.counts() == reference.counts()
    (reference, reference_state), (bulk, bulk_state) = run_both(changed)
    assert bulk.updated > 0 and bulk.counts() == reference.counts()
    assert bulk_state == reference_state


def test_every_error_of_the_service_is_the_reference_s(csm, other_csm, make_customer):
    make_customer(external_id="acct-1", csm=None)
    make_customer(external_id="acct-2", csm=other_csm)
    UserFactory(username="gone", is_active=False)
    data = "\n".join(
        [
            HEADER + ",customer_name,csm",
            "acct-1,logins,2024-03-01,3,,alice",
            "acct-404,logins,2024-03-01,1,,",  # unknown customer
            "acct-new,logins,2024-03-01,3,New,nobody",  # unknown user
            "acct-new,logins,2024-03-02,3,,gone",  # inactive user
            "acct-1,logins,2024-03-02,3,,bob",  # differs from line 2
            "acct-1,logins,2024-03-03,-1,,",  # a parse error
            "acct-2,logins,2024-03-01,3,,alice",
            "acct-2,logins,2024-03-01,4,,",  # duplicate
            "ghost,logins,2024-03-04,5,,nobody",  # unknown customer and unknown user
            "",
        ]
    ).encode()

    for options in ({}, {"create_customers": True}, {"csm": "alice"}):
        (reference, reference_state), (bulk, bulk_state) = run_both(data, **options)
        assert not bulk.written
        assert bulk.errors == reference.errors
        assert bulk_state == reference_state
    assert ingest.errors_lines(bulk.errors) == [
        "line 3 [customer_external_id]: unknown customer 'acct-404'",
        "line 4 [customer_external_id]: unknown customer 'acct-new'",
        "line 4 [csm]: unknown user 'nobody': csm must be the username of an active user",
        "line 5 [customer_external_id]: unknown customer 'acct-new'",
        "line 5 [csm]: unknown user 'gone': csm must be the username of an active user",
        "line 6 [csm]: csm 'bob' differs from 'alice' given for customer 'acct-1' on line 2",
        "line 7 [value]: value '-1' is negative; a usage count is 0 or more",
        "line 8: duplicate of line 9: customer 'acct-2', metric 'logins', date 2024-03-01 "
        "given more than once",
        "line 9: duplicate of line 8: customer 'acct-2', metric 'logins', date 2024-03-01 "
        "given more than once",
        "line 10 [customer_external_id]: unknown customer 'ghost'",
        "line 10 [csm]: unknown user 'nobody': csm must be the username of an active user",
    ]

    # With --skip-bad-rows both write the same good rows, accounts and owners.
    (reference, reference_state), (bulk, bulk_state) = run_both(
        data, create_customers=True, skip_bad_rows=True, csm="alice"
    )
    assert bulk.written and bulk.errors == reference.errors
    assert bulk.counts() == reference.counts()
    assert (bulk.csm_assigned, bulk.csm_kept) == (reference.csm_assigned, reference.csm_kept)
    assert bulk_state == reference_state
    assert bulk_state[0] == {
        ("acct-1", "logins", "2024-03-01"): 3.0,
        ("acct-404", "logins", "2024-03-01"): 1.0,
    }


def test_a_csm_column_and_option_give_owners_as_the_reference_does(csm, other_csm):
    data = "\n".join(
        [
            HEADER + ",customer_name,csm",
            "acct-1,logins,2024-03-01,3,,",
            "acct-1,logins,2024-03-02,3,,bob",
            "acct-2,logins,2024-03-01,3,Beacon,",
            "acct-3,logins,2024-03-01,3,Corto, alice ",
            "acct-3,logins,2024-03-02,3,,alice",
            "",
        ]
    ).encode()
    (reference, reference_state), (bulk, bulk_state) = run_both(
        data, create_customers=True, csm="alice"
    )
    assert bulk.written and bulk.csm_assigned == reference.csm_assigned == 3
    assert bulk_state == reference_state


def test_one_bad_row_in_the_last_block_writes_nothing(monkeypatch):
    monkeypatch.setattr(usage_csv, "BLOCK_BYTES", 4096)
    data = clean_file(5_000, 20) + b"acct-0,logins,2024-01-01,oops,Account 0\n"

    result = usage_import(table=usage_csv.read_usage_csv(data), create_customers=True)

    assert not result.written
    assert [(e.ref, e.field) for e in result.errors] == [(5_002, "value")]
    assert not UsageMetric.objects.exists()
    assert not Customer.objects.exists()


def test_a_file_of_bad_rows_only_writes_nothing_even_when_skipping_them():
    data = f"{HEADER}\n,logins,2024-03-01,1\nacct-1,logins,2024-03-01,-1\n".encode()

    result = usage_import(
        table=usage_csv.read_usage_csv(data), create_customers=True, skip_bad_rows=True
    )

    assert result.written and result.counts() == {
        "inserted": 0,
        "updated": 0,
        "unchanged": 0,
        "customers_created": 0,
        "rejected": 2,
    }
    assert not Customer.objects.exists()


def in_id_order() -> list[tuple]:
    """The stored rows in the order they were written, each with its account's id."""
    return list(
        UsageMetric.objects.order_by("id").values_list(
            "customer_id", "customer__external_id", "metric", "date", "value"
        )
    )


def in_index_order(rows: list[tuple]) -> list[tuple]:
    # The unique index's order: the id's bytes, the metric's bytes (COLLATE "C"), the date.
    return sorted(rows, key=lambda row: (row[0].bytes, row[2].encode(), row[3]))


@pytest.fixture
def writes(monkeypatch):
    """The names of the PostgreSQL writers usage_import called, in order."""
    called = []
    for name in ("_usage_copy_postgres", "_usage_upsert_postgres_columns"):
        writer = getattr(services, name)

        def spy(*args, _writer=writer, _name=name):
            called.append(_name)
            return _writer(*args)

        monkeypatch.setattr(services, name, spy)
    return called


@pytest.mark.postgres
def test_a_first_import_copies_the_rows_the_upsert_would_write(make_customer, writes, monkeypatch):
    data = clean_file(20_000, 30)
    make_customer(external_id="acct-0")  # exists, no usage yet: still a first import
    outcomes = []
    for none_stored in (True, False):
        monkeypatch.setattr(services, "_usage_none_stored", lambda ids, _v=none_stored: _v)
        with transaction.atomic():
            result = usage_import(table=usage_csv.read_usage_csv(data), create_customers=True)
            outcomes.append((result, in_id_order(), state()[1]))
            transaction.set_rollback(True)

    assert writes == ["_usage_copy_postgres", "_usage_upsert_postgres_columns"]
    (direct, direct_rows, direct_customers), (upsert, upsert_rows, upsert_customers) = outcomes
    assert direct.counts() == upsert.counts()
    assert (direct.inserted, direct.updated, direct.unchanged) == (20_000, 0, 0)
    assert direct.customers_created == 29
    # The same rows (the new accounts' ids differ from run to run), each run's written in
    # the order of the unique index.
    assert sorted(r[1:] for r in direct_rows) == sorted(r[1:] for r in upsert_rows)
    assert direct_rows == in_index_order(direct_rows)
    assert upsert_rows == in_index_order(upsert_rows)
    assert len(direct_rows) == 20_000
    assert direct_customers == upsert_customers


@pytest.mark.postgres
def test_the_first_import_takes_the_direct_path_and_a_later_one_the_upsert(writes):
    data = clean_file(1_000, 10)
    first = usage_import(table=usage_csv.read_usage_csv(data), create_customers=True)
    # One account more, whose rows are all new: the file still names accounts with rows.
    more = data + b"acct-new,logins,2024-01-01,5,New\n"
    again = usage_import(table=usage_csv.read_usage_csv(more), create_customers=True)

    assert writes == ["_usage_copy_postgres", "_usage_upsert_postgres_columns"]
    assert (first.inserted, first.updated, first.unchanged) == (1_000, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (1, 0, 1_000)


@pytest.mark.postgres
def test_an_account_with_any_stored_row_sends_the_import_through_the_upsert(make_customer, writes):
    customer = make_customer(external_id="acct-3")
    # Another metric, another day: no row of the file's is stored, yet one could be.
    UsageMetric.objects.create(customer=customer, metric="seats", date=date(2020, 1, 1), value=1)
    data = clean_file(500, 10)

    result = usage_import(table=usage_csv.read_usage_csv(data), create_customers=True)

    assert writes == ["_usage_upsert_postgres_columns"]
    assert (result.inserted, result.updated, result.unchanged) == (500, 0, 0)
    assert UsageMetric.objects.count() == 501


@pytest.mark.postgres
def test_an_error_after_the_direct_copy_writes_nothing(writes, monkeypatch):
    def fail(*args):
        raise RuntimeError("after the copy")

    monkeypatch.setattr(services, "_csm_assign", fail)
    with pytest.raises(RuntimeError, match="after the copy"):
        usage_import(table=usage_csv.read_usage_csv(clean_file(2_000, 10)), create_customers=True)

    assert writes == ["_usage_copy_postgres"]
    assert not UsageMetric.objects.exists()
    assert not Customer.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_check_locks_the_accounts_against_any_concurrent_usage_write(make_customer):
    empty, with_usage = make_customer(), make_customer()
    UsageMetric.objects.create(customer=with_usage, metric="logins", date=date(2024, 1, 1), value=1)
    usage = connection.ops.quote_name(UsageMetric._meta.db_table)
    other = connections.create_connection("default")
    try:
        with transaction.atomic():
            assert services._usage_none_stored([empty.id])
            assert not services._usage_none_stored([empty.id, with_usage.id])
            # Until this transaction ends another one cannot add a row for a checked account:
            # its foreign key check waits for the account's lock.
            with other.cursor() as cursor:
                cursor.execute("SET lock_timeout = '200ms'")
                with pytest.raises(OperationalError, match="lock timeout"):
                    cursor.execute(
                        f"INSERT INTO {usage} (customer_id, metric, date, value) "  # noqa: S608
                        "VALUES (%s, 'logins', '2024-01-02', 1)",
                        [empty.id],
                    )
    finally:
        other.close()
