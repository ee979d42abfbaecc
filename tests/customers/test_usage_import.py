"""services.usage_import (the bulk CSV path of import_usage) against the path it replaced,
ingest.read_csv + services.usage_ingest: the same rows stored, counts, accounts, CSMs and
errors, and all or nothing."""

import random
from datetime import date, timedelta

import pytest
from django.db import transaction

from customers import ingest, usage_csv
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
