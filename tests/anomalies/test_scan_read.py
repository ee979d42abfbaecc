"""The scan's binary read (`usage_batch`) gives the very batch the CSV read parsed by pandas
(`series_batch(usage_frame(...))`) gives, on data made to trip a decoder: gaps, the
window's edge days and the days just outside it, zero, tiny and huge values, accounts without
a row, many metrics with odd names, and customers listed out of key order."""

import datetime as dt
import uuid

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from anomalies import scan_inputs
from anomalies.detection import SeriesBatch
from customers.models import Customer, UsageMetric

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

START = dt.date(2025, 1, 1)
END = dt.date(2025, 6, 29)
N_DAYS = (END - START).days + 1
# Values the text path and the binary path must both carry exactly: zero, the smallest
# positive double, fractions without a short decimal form, and the largest double.
EXACT = [0.0, 5e-324, 0.1, 1 / 3, 2.0**-30, 123456.789, 9_007_199_254_740_993.0, 1e300]
ODD_METRICS = ["api_calls", "feature:a-b_c", "Feature:UPPER", "feature:ünïcode", "x,with,commas"]


def text_batch(ids, start=START, end=END) -> SeriesBatch:
    frame = scan_inputs.usage_frame(customer_ids=ids, start=start, end=end)
    return scan_inputs.series_batch(frame, customer_ids=ids, start=start, end=end)


def assert_same_batch(got: SeriesBatch, want: SeriesBatch) -> None:
    assert got.start == want.start
    assert got.values.shape == want.values.shape
    assert got.values.dtype == want.values.dtype == np.float64
    # Bit for bit, NaN where there is no row.
    np.testing.assert_array_equal(got.values, want.values, strict=True)
    assert got.series_ids == want.series_ids
    assert got.metrics == want.metrics
    assert got.groups == want.groups
    assert got.cohorts == want.cohorts
    assert got.countries == want.countries


def store(customer, metric, days_values):
    UsageMetric.objects.bulk_create(
        UsageMetric(customer=customer, metric=metric, date=START + dt.timedelta(days=d), value=v)
        for d, v in days_values
    )


@pytest.fixture
def tricky(make_customer):
    """Four accounts: `edges` (rows on the window's first and last days and just outside
    them, exact-value traps), `many` (40 metrics, gaps), `silent` (no row at all) and
    `outside` (rows only outside the window)."""
    edges = make_customer(region="EMEA", segment="Enterprise", holiday_calendar="DE-BY")
    many = make_customer(region="", segment="smb")
    silent = make_customer()
    outside = make_customer()
    # The first day, the last day, one day before and one after the window (not read).
    store(edges, "api_calls", [(-1, 7.0), (0, 1.0), (N_DAYS - 1, 2.0), (N_DAYS, 9.0)])
    store(edges, "logins", [(d, v) for d, v in zip(range(0, 80, 10), EXACT, strict=True)])
    for k, metric in enumerate(ODD_METRICS[1:]):
        store(edges, metric, [(k, float(k)), (N_DAYS - 1 - k, 1e15 + k)])
    rng = np.random.default_rng(15)
    for m in range(40):
        present = np.flatnonzero(rng.random(N_DAYS) > 0.3)  # about 30 % of days missing
        values = rng.poisson(rng.uniform(0, 500), present.size).astype(float)
        store(many, f"feature:m{m:02}", zip(present.tolist(), values.tolist(), strict=True))
    store(outside, "api_calls", [(-30, 5.0), (N_DAYS + 3, 6.0)])
    return {"edges": edges, "many": many, "silent": silent, "outside": outside}


def test_the_binary_read_gives_the_text_reads_batch_on_tricky_data(tricky):
    # Listed out of key order, the silent accounts in between: positions follow the list.
    ids = [str(tricky[k].pk) for k in ("many", "silent", "edges", "outside")]

    got = scan_inputs.usage_batch(customer_ids=ids, start=START, end=END)

    assert_same_batch(got, text_batch(ids))
    assert got.n_series == 40 + len(ODD_METRICS) + 1  # with logins
    assert set(got.groups) == {ids[0], ids[2]}  # no series for accounts without rows
    edges = got.series_ids.index(f"{ids[2]}/api_calls")
    assert got.values[edges, 0] == 1.0 and got.values[edges, -1] == 2.0
    assert np.count_nonzero(~np.isnan(got.values[edges])) == 2  # the days outside: unread
    logins = got.values[got.series_ids.index(f"{ids[2]}/logins")]
    assert logins[0:80:10].tolist() == EXACT
    assert got.countries[edges] == "DE-BY"
    assert got.cohorts[edges] == "region:emea|segment:enterprise"


def test_series_come_by_list_position_then_metric_in_code_point_order(tricky):
    ids = [str(tricky["edges"].pk)]

    got = scan_inputs.usage_batch(customer_ids=ids, start=START, end=END)

    assert list(got.metrics) == sorted(["logins", *ODD_METRICS])
    assert got.metrics[0] == "Feature:UPPER"  # upper case sorts first, as pandas sorts
    assert_same_batch(got, text_batch(ids))


@pytest.mark.parametrize(
    "window",
    [
        (START, START),  # one day
        (START + dt.timedelta(days=1), END - dt.timedelta(days=1)),  # both edges cut off
        (END + dt.timedelta(days=1), END + dt.timedelta(days=400)),  # one stray row only
        (START - dt.timedelta(days=2000), END + dt.timedelta(days=2000)),  # a wide window
    ],
)
def test_the_reads_agree_on_any_window(tricky, window):
    ids = [str(c.pk) for c in tricky.values()]
    start, end = window

    got = scan_inputs.usage_batch(customer_ids=ids, start=start, end=end)

    assert got.n_days == (end - start).days + 1
    assert_same_batch(got, text_batch(ids, start, end))


def test_accounts_without_rows_give_an_empty_batch_of_the_windows_width(tricky):
    for ids in ([], [str(tricky["silent"].pk)], [str(uuid.uuid4())]):
        got = scan_inputs.usage_batch(customer_ids=ids, start=START, end=END)
        assert got.values.shape == (0, N_DAYS)
        assert_same_batch(got, text_batch(ids))


def test_a_negative_value_never_reaches_the_read(tricky):
    # The database refuses it, so neither path has to decide what a negative day means.
    with pytest.raises(IntegrityError), transaction.atomic():
        store(tricky["silent"], "api_calls", [(3, -1.0)])


def test_the_decoder_refuses_what_is_not_its_query():
    with pytest.raises(ValueError, match="not a binary COPY"):
        scan_inputs._decode_series_arrays(b"1,api_calls,0,1.0\n")


def test_customers_with_uuid_objects_or_strings_read_alike(tricky):
    customers = list(Customer.objects.filter(pk__in=[c.pk for c in tricky.values()]))
    as_objects = scan_inputs.usage_batch(
        customer_ids=[c.pk for c in customers], start=START, end=END
    )
    assert_same_batch(
        as_objects,
        scan_inputs.usage_batch(customer_ids=[str(c.pk) for c in customers], start=START, end=END),
    )
