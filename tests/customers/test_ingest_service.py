from datetime import date

import pytest
from django.db import connection

from customers import ingest
from customers.models import Customer, UsageMetric
from customers.services import usage_ingest
from tests.customers.records import record

pytestmark = pytest.mark.django_db


def ingest_records(records, **options):
    return usage_ingest(batch=ingest.parse_records(records), **options)


def stored():
    return {
        (u.customer.external_id, u.metric, u.date.isoformat()): u.value
        for u in UsageMetric.objects.select_related("customer")
    }


def test_it_inserts_updates_and_leaves_unchanged(make_customer):
    make_customer(external_id="acct-1")
    first = ingest_records([record(day="2024-03-01", value=1), record(day="2024-03-02", value=2)])
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)

    second = ingest_records(
        [
            record(day="2024-03-01", value=1),  # same
            record(day="2024-03-02", value=5),  # changed
            record(day="2024-03-03", value=0),  # new
        ]
    )
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 1)
    assert second.written and second.errors == ()
    assert stored() == {
        ("acct-1", "logins", "2024-03-01"): 1.0,
        ("acct-1", "logins", "2024-03-02"): 5.0,
        ("acct-1", "logins", "2024-03-03"): 0.0,
    }


def test_importing_twice_changes_nothing(make_customer):
    make_customer(external_id="acct-1")
    make_customer(external_id="acct-2")
    records = [
        record(external_id=e, metric=m, day=f"2024-03-{d:02}", value=d * 0.1)
        for e in ("acct-1", "acct-2")
        for m in ("logins", "api_calls")
        for d in range(1, 31)
    ]
    first = ingest_records(records)
    snapshot = stored()
    ids = set(UsageMetric.objects.values_list("id", flat=True))

    again = ingest_records(records)
    assert (first.inserted, again.inserted, again.updated, again.unchanged) == (120, 0, 0, 120)
    assert stored() == snapshot
    # Unchanged rows are not rewritten either: same primary keys, nothing re-inserted.
    assert set(UsageMetric.objects.values_list("id", flat=True)) == ids


def test_it_upserts_more_rows_than_one_statement_can_carry(make_customer):
    # SQLite takes 999 parameters per statement: this crosses several batches.
    make_customer(external_id="acct-1")
    records = [record(day=date.fromordinal(738000 + i).isoformat(), value=i) for i in range(1200)]
    assert ingest_records(records).inserted == 1200
    changed = [r | {"value": r["value"] + 1} if i % 3 == 0 else r for i, r in enumerate(records)]
    result = ingest_records(changed)
    assert (result.inserted, result.updated, result.unchanged) == (0, 400, 800)


def test_a_bad_record_writes_nothing_and_lists_every_error(make_customer):
    make_customer(external_id="acct-1")
    ingest_records([record(value=1)])

    result = ingest_records(
        [
            record(value=99),
            record(day="2024-02-31"),
            record(external_id="nobody"),
            record(day="2024-03-05", value=-1),
        ]
    )
    assert not result.written
    assert [(e.ref, e.field) for e in result.errors] == [
        (1, "date"),
        (2, "customer_external_id"),
        (3, "value"),
    ]
    assert result.errors[1].message == "unknown customer 'nobody'"
    assert stored() == {("acct-1", "logins", "2024-03-01"): 1.0}


def test_skip_bad_rows_stores_the_good_ones(make_customer):
    make_customer(external_id="acct-1")
    result = ingest_records(
        [record(day="2024-03-01"), record(external_id="nobody"), record(day="bad")],
        skip_bad_rows=True,
    )
    assert result.written
    assert (result.inserted, result.rejected) == (1, 2)
    assert stored() == {("acct-1", "logins", "2024-03-01"): 1.0}


def test_duplicates_in_one_batch_are_all_rejected(make_customer):
    make_customer(external_id="acct-1")
    result = ingest_records(
        [record(value=1), record(day="2024-03-02"), record(value=2)], skip_bad_rows=True
    )
    assert result.inserted == 1
    assert [e.ref for e in result.errors] == [0, 2]
    assert stored() == {("acct-1", "logins", "2024-03-02"): 1.0}


def test_it_creates_unknown_customers_when_asked(make_customer):
    make_customer(external_id="acct-1", name="Existing")
    result = ingest_records(
        [
            record(external_id="acct-1", customer_name="Renamed?"),
            record(external_id="new-1", customer_name="New One Ltd"),
            record(external_id="new-1", day="2024-03-02"),
            record(external_id="new-2"),
        ],
        create_customers=True,
    )
    assert (result.customers_created, result.inserted) == (2, 4)
    names = dict(Customer.objects.values_list("external_id", "name"))
    # The name only names new customers; an existing one keeps its own.
    assert names == {"acct-1": "Existing", "new-1": "New One Ltd", "new-2": "new-2"}

    again = ingest_records([record(external_id="new-1")], create_customers=True)
    assert (again.customers_created, again.unchanged) == (0, 1)


def test_without_create_customers_an_unknown_customer_is_an_error(db):
    result = ingest_records([record(external_id="new-1")])
    assert not result.written
    assert result.errors[0].message == "unknown customer 'new-1'"
    assert not Customer.objects.exists()


def test_an_invisible_customer_reads_as_unknown(make_customer, csm, other_csm):
    make_customer(external_id="mine", csm=csm)
    make_customer(external_id="theirs", csm=other_csm)
    visible = Customer.objects.filter(csm=csm)

    result = ingest_records(
        [record(external_id="mine"), record(external_id="theirs"), record(external_id="ghost")],
        visible_customers=visible,
        create_customers=True,
    )
    # Even with create_customers, a hidden account is neither written to nor duplicated.
    assert [e.message for e in result.errors] == ["unknown customer 'theirs'"]
    assert not result.written

    result = ingest_records(
        [record(external_id="mine"), record(external_id="theirs")],
        visible_customers=visible,
        skip_bad_rows=True,
    )
    assert (result.inserted, result.rejected) == (1, 1)
    assert stored() == {("mine", "logins", "2024-03-01"): 1.0}


def test_zero_and_float_values_round_trip_exactly(make_customer):
    make_customer(external_id="acct-1")
    # The largest value accepted (USAGE_VALUE_MAX) is stored exactly too.
    values = [0, 0.1, 1 / 3, 1e-300, 123456789.123456789, 1e12]
    records = [record(day=f"2024-03-{i + 1:02}", value=v) for i, v in enumerate(values)]
    ingest_records(records)
    again = ingest_records(records)
    assert again.unchanged == len(values)
    assert sorted(UsageMetric.objects.values_list("value", flat=True)) == sorted(
        float(v) for v in values
    )


def test_the_task_returns_counts_and_errors(make_customer):
    from customers.tasks import usage_ingest_task

    make_customer(external_id="acct-1")
    assert usage_ingest_task([record()]) == {
        "inserted": 1,
        "updated": 0,
        "unchanged": 0,
        "customers_created": 0,
        "rejected": 0,
        "errors": [],
        "error_count": 0,
        "errors_truncated": False,
    }
    rejected = usage_ingest_task([record(value=2), record(external_id="ghost")])
    assert rejected["rejected"] == 1
    assert rejected["errors"] == [
        {"index": 1, "field": "customer_external_id", "message": "unknown customer 'ghost'"}
    ]
    assert UsageMetric.objects.get().value == 1.0


def test_naming_csms_costs_a_few_queries_whatever_the_number_of_accounts(
    csm, other_csm, django_assert_max_num_queries
):
    lines = [f"acct-{n},logins,2024-03-01,1,{'alice' if n % 2 else 'bob'}" for n in range(300)]
    batch = ingest.read_csv(
        "\n".join(["customer_external_id,metric,date,value,csm", *lines, ""]).encode()
    )
    # Lookups, creation, the upsert and one owner read and UPDATE per CSM: not one per row.
    # SQLite's limit on a statement's variables splits the inserts and lookups into a few
    # more batches (18 here), still nowhere near one per account.
    with django_assert_max_num_queries(15 if connection.vendor == "postgresql" else 25):
        result = usage_ingest(batch=batch, create_customers=True)
    assert result.customers_created == 300 and result.csm_assigned == 300
    owners = Customer.objects.values_list("csm__username", flat=True)
    assert sorted(set(owners)) == ["alice", "bob"] and list(owners).count("alice") == 150
