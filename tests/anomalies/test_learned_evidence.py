"""Learned sensitivity from a series' reviewed anomalies (scan_inputs.excursion_counts, in
PostgreSQL), the factor stored on the anomaly, and its explanation on the card and in the
API."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from anomalies import scan_inputs
from anomalies.models import AnomalyAction, UsageAnomaly
from anomalies.scan_inputs import (
    IGNORED_EXPECTED,
    IGNORED_FALSE_POSITIVE,
    IGNORED_SILENT,
    LEARNING_MEMORY_DAYS,
)

from .scan_data import AS_OF, FIRST, day, scaled, scan, usage, usage_store

pytestmark = pytest.mark.django_db


def _batch(customer):
    frame = scan_inputs.usage_frame(customer_ids=[customer.pk], start=FIRST, end=AS_OF)
    return scan_inputs.series_batch(frame, customer_ids=[customer.pk], start=FIRST, end=AS_OF)


def _anomaly(customer, metric, start, *, direction="negative", reason="", action=None, **fields):
    kind = "drop" if direction == "negative" else "spike"
    status = "dismissed" if reason else fields.pop("status", "resolved")
    anomaly = UsageAnomaly.objects.create(
        customer=customer,
        metric_type=metric,
        anomaly_type=kind,
        severity="warning",
        direction=direction,
        baseline_value=100,
        actual_value=50 if direction == "negative" else 200,
        deviation_percent=-50 if direction == "negative" else 100,
        detected_at=timezone.make_aware(dt.datetime.combine(start, dt.time(6))),
        start_date=start,
        end_date=None if status == "open" else start + dt.timedelta(days=2),
        status=status,
        dismiss_reason=reason,
        dismissed_at=timezone.now() - dt.timedelta(days=1) if reason else None,
        **fields,
    )
    if action:
        AnomalyAction.objects.create(anomaly=anomaly, kind=action)
    return anomaly


def test_counts_and_factors_from_a_hand_made_history(make_customer, django_assert_num_queries):
    customer = make_customer()
    usage_store(customer, "api_calls", usage(seed=1))
    usage_store(customer, "feature:reports", usage(seed=2, level=300))
    # API calls, falls: ignored 2 x false positive, expected, no_impact, unknown past the
    # outcome window; mattered: one contacted. Neutral: unknown still inside the window,
    # open, a data issue, and one older than the memory.
    _anomaly(customer, "api_calls", day(20), reason="false_positive")
    _anomaly(customer, "api_calls", day(30), reason="false_positive", action="dismiss")
    _anomaly(customer, "api_calls", day(40), reason="expected")
    _anomaly(customer, "api_calls", day(60), outcome="no_impact")
    _anomaly(customer, "api_calls", day(50))  # unknown, 130 days ago: nothing came of it
    _anomaly(customer, "api_calls", day(150))  # unknown, still inside the 90-day window
    _anomaly(customer, "api_calls", day(170), status="open")
    _anomaly(customer, "api_calls", day(100), reason="data_issue")
    _anomaly(customer, "api_calls", day(110), action="contact_customer")
    _anomaly(customer, "api_calls", AS_OF - dt.timedelta(days=LEARNING_MEMORY_DAYS + 10))
    # API calls, rises: an expansion followed.
    _anomaly(customer, "api_calls", day(70), direction="positive", outcome="expanded")
    # Reports, falls: a new normal (a real change) and a churn; rises: one false positive.
    _anomaly(customer, "feature:reports", day(80), reason="new_normal")
    _anomaly(customer, "feature:reports", day(90), outcome="churned", reason="false_positive")
    _anomaly(customer, "feature:reports", day(95), direction="positive", reason="false_positive")
    batch = _batch(customer)
    api = batch.series_ids.index(f"{customer.pk}/api_calls")
    reports = batch.series_ids.index(f"{customer.pk}/feature:reports")

    with django_assert_num_queries(1):
        ignored, mattered = scan_inputs.excursion_counts(batch=batch, as_of=AS_OF)

    api_ignored = 2 * IGNORED_FALSE_POSITIVE + IGNORED_EXPECTED + 2 * IGNORED_SILENT
    assert ignored[api].tolist() == [api_ignored, 0.0]
    assert mattered[api].tolist() == [1.0, 1.0]
    assert ignored[reports].tolist() == [0.0, IGNORED_FALSE_POSITIVE]
    assert mattered[reports].tolist() == [2.0, 0.0]

    factors = scan_inputs.learned_evidence_factors(batch=batch, as_of=AS_OF)

    # 1 + 0.5 x (4 - 2 x 1) = 2.0; a core metric's rises stay at 1 after an expansion; the
    # feature's falls go down to the floor, its rises up by one step.
    assert factors[api].tolist() == [pytest.approx(1 + 0.5 * (api_ignored - 2.0)), 1.0]
    assert factors[reports].tolist() == [0.8, 1.5]


def test_an_action_outweighs_a_dismissal(make_customer):
    customer = make_customer()
    usage_store(customer, "api_calls", usage(seed=3))
    _anomaly(customer, "api_calls", day(100), reason="false_positive", action="schedule_training")
    batch = _batch(customer)

    ignored, mattered = scan_inputs.excursion_counts(batch=batch, as_of=AS_OF)

    assert (ignored.sum(), mattered.sum()) == (0.0, 1.0)
    assert scan_inputs.learned_evidence_factors(batch=batch, as_of=AS_OF).tolist() == [[1, 1]]


def test_the_factor_is_stored_and_explained(make_customer, csm, client):
    # Two earlier drops dismissed as false positives, then a long, deep drop: still reported,
    # with the factor that was in force.
    customer = make_customer(csm=csm)
    usage_store(customer, "api_calls", scaled(usage(seed=4), slice(166, 180), 0.3))
    _anomaly(customer, "api_calls", day(60), reason="false_positive", dismissed_by=csm)
    _anomaly(customer, "api_calls", day(90), reason="false_positive", dismissed_by=csm)

    scan()

    drop = UsageAnomaly.objects.get(customer=customer, status="open")
    assert (drop.anomaly_type, drop.evidence_factor) == ("drop", 2.0)
    sentence = "This account's API calls are usually volatile: 2× the usual evidence was required."
    client.force_login(csm)
    detail = client.get(f"/api/analytics/anomalies/{drop.pk}").json()
    assert detail["evidence_factor"] == 2.0
    assert detail["evidence_explanation"] == sentence
    page = client.get(reverse("customer-detail", args=[customer.pk])).content.decode()
    assert f"<dt>Evidence</dt><dd>{escape(sentence)}</dd>" in page
    portfolio = client.get(reverse("home")).content.decode()
    assert f"<dt>Evidence</dt><dd>{escape(sentence)}</dd>" in portfolio
    # A factor of 1 explains nothing.
    trusted = make_customer(csm=csm)
    usage_store(trusted, "api_calls", scaled(usage(seed=4), slice(166, 180), 0.3))
    scan()
    plain = UsageAnomaly.objects.get(customer=trusted, status="open")
    assert plain.evidence_factor == 1.0
    assert client.get(f"/api/analytics/anomalies/{plain.pk}").json()["evidence_explanation"] == ""
