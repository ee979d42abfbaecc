"""usage_series_insert: the seed's fast write of whole series (COPY on PostgreSQL,
executemany on SQLite) stores exactly the non-NaN days, and all or nothing."""

from datetime import date

import numpy as np
import pytest
from django.db import IntegrityError

from customers.models import UsageMetric
from customers.services import usage_series_insert

pytestmark = pytest.mark.django_db

DATES = np.arange("2025-10-27", "2025-10-31", dtype="datetime64[D]")  # four days


def stored():
    return sorted(
        UsageMetric.objects.values_list("customer__external_id", "metric", "date", "value")
    )


def test_it_writes_one_row_per_day_with_a_value(make_customer):
    a, b = make_customer(external_id="a"), make_customer(external_id="b")
    heard = []

    written = usage_series_insert(
        dates=DATES,
        series=[
            (a.pk, "logins", np.array([3.0, np.nan, 0.0, 12.5])),
            (b.pk, "api_calls", np.array([np.nan, np.nan, np.nan, np.nan])),
            (b.pk, "logins", np.array([1.0, 2.0, 3.0, 4.0])),
        ],
        progress=heard.append,
    )

    assert written == 7
    assert sum(heard) == 7
    assert stored() == [
        ("a", "logins", date(2025, 10, 27), 3.0),
        ("a", "logins", date(2025, 10, 29), 0.0),  # a zero is a day without usage, kept
        ("a", "logins", date(2025, 10, 30), 12.5),
        ("b", "logins", date(2025, 10, 27), 1.0),
        ("b", "logins", date(2025, 10, 28), 2.0),
        ("b", "logins", date(2025, 10, 29), 3.0),
        ("b", "logins", date(2025, 10, 30), 4.0),
    ]
    # Read back through the ORM like any other row: the stored forms are the usual ones.
    row = UsageMetric.objects.get(customer=a, date=date(2025, 10, 30))
    assert (row.customer_id, row.value) == (a.pk, 12.5)


def test_batches_report_progress_and_keep_the_order(make_customer, monkeypatch):
    monkeypatch.setattr("customers.services.USAGE_INSERT_BATCH", 3)
    customer = make_customer()
    heard = []

    usage_series_insert(
        dates=DATES,
        series=[(customer.pk, m, np.arange(4.0)) for m in ("logins", "api_calls")],
        progress=heard.append,
    )

    assert heard == [3, 3, 2]
    ids = UsageMetric.objects.order_by("pk").values_list("metric", "value")
    assert list(ids) == [("logins", float(v)) for v in range(4)] + [
        ("api_calls", float(v)) for v in range(4)
    ]


def test_an_existing_row_fails_the_whole_call(make_customer):
    customer = make_customer()
    UsageMetric.objects.create(customer=customer, metric="logins", date=date(2025, 10, 30), value=9)

    with pytest.raises(IntegrityError):
        usage_series_insert(
            dates=DATES,
            series=[
                (customer.pk, "api_calls", np.arange(4.0)),
                (customer.pk, "logins", np.arange(4.0)),
            ],
        )

    assert stored() == [("acct-1", "logins", date(2025, 10, 30), 9.0)]
