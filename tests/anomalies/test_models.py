"""The database, not only the application, refuses rows that would break the scan's rules; model
validation (the admin's forms) refuses the notes the pages and the API refuse."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from anomalies.models import AnomalyAction, DataQualityEvent, DetectionSettings, UsageAnomaly
from customers.models import UsageMetric
from tests.factories import UsageAnomalyFactory

pytestmark = pytest.mark.django_db


def _anomaly(customer, **fields):
    # A fixed start, so the end dates below fall before or after it whatever the day.
    return UsageAnomalyFactory(customer=customer, start_date=dt.date(2026, 11, 20), **fields)


def _refused(**fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        _anomaly(**fields)


def test_only_one_open_anomaly_per_series_and_type(make_customer):
    customer = make_customer()
    _anomaly(customer)
    _refused(customer=customer)
    # A resolved one, another type or another metric may coexist with the open one.
    _anomaly(customer, status="resolved", end_date=dt.date(2026, 11, 22))
    _anomaly(customer, anomaly_type="pattern_change")
    _anomaly(customer, metric_type="logins")
    assert UsageAnomaly.objects.filter(customer=customer).count() == 4


def test_dismissed_anomaly_needs_time_and_reason(make_customer):
    customer = make_customer()
    # The kit fills a dismissal in: these take its time, its reason or both out again.
    _refused(customer=customer, status="dismissed", dismissed_at=None, dismiss_reason="")
    _refused(customer=customer, status="dismissed", dismiss_reason="")
    _refused(customer=customer, status="dismissed", dismissed_at=None)
    _refused(customer=customer, dismissed_at=timezone.now())
    anomaly = _anomaly(
        customer, status="dismissed", dismissed_at=timezone.now(), dismiss_reason="expected"
    )
    assert anomaly.status == "dismissed"


@pytest.mark.parametrize(
    "fields",
    [
        {"anomaly_type": "explosion"},
        {"severity": "catastrophic"},
        {"anomaly_type": "spike", "direction": "negative"},
        {"anomaly_type": "drop", "direction": "positive"},
        {"anomaly_type": "feature_abandonment", "direction": "positive"},
        {"end_date": dt.date(2026, 11, 1)},
        {"data_completeness": 1.5},
        {"dismiss_reason": "bored"},
    ],
)
def test_invalid_anomalies_are_refused(make_customer, fields):
    _refused(customer=make_customer(), **fields)


def test_usage_values_are_non_negative_and_unique_per_day(make_customer):
    customer = make_customer()
    UsageMetric.objects.create(
        customer=customer, metric="logins", date=dt.date(2026, 1, 1), value=3
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageMetric.objects.create(
            customer=customer, metric="logins", date=dt.date(2026, 1, 1), value=4
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        UsageMetric.objects.create(
            customer=customer, metric="logins", date=dt.date(2026, 1, 2), value=-1
        )


def test_one_settings_row_per_scope(make_customer):
    customer = make_customer()
    DetectionSettings.objects.create(sensitivity="medium")
    DetectionSettings.objects.create(metric="logins", sensitivity="low")
    DetectionSettings.objects.create(customer=customer, sensitivity="high")
    for scope in ({}, {"metric": "logins"}, {"customer": customer}):
        with pytest.raises(IntegrityError), transaction.atomic():
            DetectionSettings.objects.create(**scope)
    with pytest.raises(IntegrityError), transaction.atomic():
        DetectionSettings.objects.create(drop_percent=150)


@pytest.mark.parametrize("note", ["x" * 2001, "called\x00back"])
@pytest.mark.parametrize(
    "model, field",
    [(UsageAnomaly, "dismiss_note"), (AnomalyAction, "note"), (DataQualityEvent, "note")],
)
def test_notes_over_the_limit_or_with_nul_fail_model_validation(model, field, note):
    # What full_clean() runs on the field, and with it every admin form.
    model_field = model._meta.get_field(field)
    assert model_field.clean("x" * 2000, None) == "x" * 2000

    with pytest.raises(ValidationError):
        model_field.clean(note, None)
