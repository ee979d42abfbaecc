"""A scan stores each event once and keeps it in step with the data: rescans change nothing,
an ongoing event is updated in place, an ended one is resolved, and days without data are
never read as zero."""

import numpy as np
import pytest

from anomalies.models import UsageAnomaly

from .scan_data import N_DAYS, day, scaled, scan, usage, usage_delete, usage_store

pytestmark = pytest.mark.django_db

DROP = slice(174, 180)  # the last six days up to AS_OF


@pytest.fixture
def dropping(make_customer):
    """A customer whose api_calls fall 65 % on the six days up to AS_OF; the series goes on
    (still low) for ten more days that a test may append."""
    customer = make_customer()
    values = scaled(usage(N_DAYS + 10, seed=1), slice(174, None), 0.35)
    usage_store(customer, "api_calls", values[:N_DAYS])
    return customer, values


def test_scan_finds_the_injected_drop(dropping):
    customer, values = dropping

    run = scan()

    anomaly = UsageAnomaly.objects.get()
    assert (anomaly.customer_id, anomaly.metric_type) == (customer.pk, "api_calls")
    assert (anomaly.anomaly_type, anomaly.direction, anomaly.status) == ("drop", "negative", "open")
    assert anomaly.severity == "critical"
    assert anomaly.start_date == day(174)
    assert anomaly.end_date is None
    # Every low day is flagged, so `actual` is their plain mean.
    assert float(anomaly.actual_value) == pytest.approx(values[DROP].mean(), abs=1e-3)
    normal = usage(N_DAYS, seed=1)[DROP].mean()
    assert float(anomaly.baseline_value) == pytest.approx(normal, rel=0.1)
    expected_deviation = (float(anomaly.actual_value) / float(anomaly.baseline_value) - 1) * 100
    assert float(anomaly.deviation_percent) == pytest.approx(expected_deviation, abs=0.01)
    assert -70 < float(anomaly.deviation_percent) < -60
    assert anomaly.last_evaluated_at is not None
    assert (run.status, run.anomalies_new, run.anomalies_updated, run.anomalies_resolved) == (
        "succeeded",
        1,
        0,
        0,
    )


def test_the_same_scan_twice_creates_nothing_new(dropping):
    scan()
    first = UsageAnomaly.objects.get()

    again = scan()

    assert (again.anomalies_new, again.anomalies_updated, again.anomalies_resolved) == (0, 0, 0)
    assert UsageAnomaly.objects.count() == 1
    same = UsageAnomaly.objects.get()
    assert same.pk == first.pk
    assert (same.status, same.start_date, same.end_date) == ("open", day(174), None)
    assert same.actual_value == first.actual_value
    assert same.last_evaluated_at > first.last_evaluated_at


def test_a_deepening_event_updates_the_open_anomaly(dropping):
    customer, values = dropping
    scan()
    before = UsageAnomaly.objects.get()
    # Three more days, far lower than the first six.
    usage_store(customer, "api_calls", values[180:183] * 0.3, first_index=180)

    run = scan(as_of=day(182))

    after = UsageAnomaly.objects.get()
    assert after.pk == before.pk
    assert (after.status, after.start_date, after.end_date) == ("open", day(174), None)
    assert after.actual_value < before.actual_value
    assert after.deviation_percent < before.deviation_percent
    assert after.last_evaluated_at > before.last_evaluated_at
    assert (run.anomalies_new, run.anomalies_updated, run.anomalies_resolved) == (0, 1, 0)


def test_an_event_that_ended_is_resolved_with_its_last_low_day(dropping):
    customer, _ = dropping
    scan()
    recovery = usage(N_DAYS + 4, seed=1)[180:184]
    usage_store(customer, "api_calls", recovery, first_index=180)

    run = scan(as_of=day(183))

    anomaly = UsageAnomaly.objects.get()
    assert (anomaly.status, anomaly.start_date, anomaly.end_date) == (
        "resolved",
        day(174),
        day(179),
    )
    assert (run.anomalies_new, run.anomalies_resolved) == (0, 1)


def test_a_customer_without_data_in_the_window_is_left_alone(dropping, make_customer, settings):
    settings.SCAN_HISTORY_DAYS = 150
    customer, _ = dropping
    scan()
    before = UsageAnomaly.objects.get()
    # Much later: the dropping customer has sent nothing in the whole window, while another
    # customer of the same chunk has.
    later = day(N_DAYS + 160)
    other = make_customer()
    usage_store(other, "api_calls", usage(200, seed=2), first_index=N_DAYS - 20)

    run = scan(as_of=later)

    assert run.chunks_total == 1
    assert run.series_count == 1  # only the other customer's series had data
    after = UsageAnomaly.objects.get(customer=customer)
    assert (after.status, after.end_date) == ("open", None)
    assert after.last_evaluated_at == before.last_evaluated_at
    assert not UsageAnomaly.objects.filter(customer=other).exists()


def test_a_series_without_data_in_the_window_is_left_alone(dropping, settings):
    settings.SCAN_HISTORY_DAYS = 150
    customer, _ = dropping
    # The customer goes on sending logins long after its api_calls stopped arriving.
    usage_store(customer, "logins", usage(N_DAYS + 170, seed=4, level=300))
    scan()
    before = UsageAnomaly.objects.get()

    run = scan(as_of=day(N_DAYS + 160))

    assert run.series_count == 1  # logins only: no api_calls row in the window
    after = UsageAnomaly.objects.get()
    assert (after.pk, after.metric_type, after.status, after.end_date) == (
        before.pk,
        "api_calls",
        "open",
        None,
    )
    assert run.anomalies_resolved == 0


def test_missing_days_are_never_read_as_zero(make_customer):
    customer = make_customer()
    usage_store(customer, "api_calls", usage(N_DAYS, seed=3))
    assert usage_delete(customer, "api_calls", 175, 179) == 5

    run = scan()

    assert run.series_count == 1
    assert not UsageAnomaly.objects.exists()


def test_missing_days_neither_extend_nor_end_an_open_event(dropping):
    scan()
    before = UsageAnomaly.objects.get()

    scan(as_of=day(183))  # days 180..183 have no rows

    after = UsageAnomaly.objects.get()
    assert after.pk == before.pk
    assert (after.status, after.end_date) == ("open", None)
    assert np.isclose(float(after.actual_value), float(before.actual_value))
