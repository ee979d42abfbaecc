"""The anomaly lists' fast representation (config.api.FastReadMixin) answers the very bytes
DRF's own Serializer.to_representation answers, for anomalies of every kind and record."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from anomalies.detection.vocabulary import LOGINS, AnomalyType, feature_metric
from anomalies.models import AnomalyAction, AnomalyStatus, Outcome, UsageAnomaly
from anomalies.selectors import anomaly_list_with_record
from config.api import FastReadMixin
from customers.models import Severity
from customers.services import lifecycle_record
from tests.factories import FollowUpFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def drf_representation(self, instance):
    return serializers.Serializer.to_representation(self, instance)


@pytest.fixture
def every_kind(csm, other_csm, mine, make_customer, make_anomaly, today):
    """Anomalies of every type, status and severity, dismissed and suppressed ones, ones with
    an evidence factor, an outcome set by hand or derived from a lifecycle event, actions (one
    by a deleted user) and follow-ups, on two of the CSM's accounts."""
    second = make_customer(name="Beta", csm=csm)
    now = timezone.now()
    rows = []
    for k, kind in enumerate(AnomalyType):
        for status in AnomalyStatus.values:
            fields = {}
            if status == AnomalyStatus.DISMISSED:
                fields.update(dismissed_by=csm, dismiss_note="seasonal", dismissed_until=today)
            if status == AnomalyStatus.SUPPRESSED_BY_SETTINGS:
                fields.update(suppressed_at=now - dt.timedelta(hours=k))
            rows.append(
                make_anomaly(
                    mine if k % 2 else second,
                    anomaly_type=kind,
                    metric_type=feature_metric("reports")
                    if kind == "feature_abandonment"
                    else LOGINS,
                    severity=Severity.values[k % len(Severity.values)],
                    status=status,
                    start_date=today - dt.timedelta(days=10 + k),
                    detected_at=now - dt.timedelta(days=k, microseconds=k * 123),
                    last_evaluated_at=now if k % 3 else None,
                    evidence_factor=[1.0, 1.6, 0.7, 1.004][k % 4],
                    score=-3.25 * k,
                    data_completeness=0.5 + k / 20,
                    possible_cause="Holiday" if k % 2 else "",
                    projected_value=Decimal("123.45") if kind == "gradual_decline" else None,
                    figures_clamped=bool(k % 2),
                    **fields,
                )
            )
    # rows[4:8] are the CSM's first account's (k == 1).
    by_hand = rows[5]
    by_hand.outcome, by_hand.outcome_note, by_hand.outcome_set_by = (
        Outcome.EXPANDED,
        "upsold",
        csm,
    )
    by_hand.outcome_set_at = now
    by_hand.save()
    AnomalyAction.objects.create(anomaly=rows[4], user=csm, kind="contact_customer", note="call")
    AnomalyAction.objects.create(anomaly=rows[4], user=other_csm, kind="investigate")
    other_csm.delete()
    FollowUpFactory(anomaly=rows[6])
    # Derives "churned" on the account's anomalies, with the event it came from.
    lifecycle_record(customer=mine, kind="churned", date=today - dt.timedelta(days=2), arr_after=0)
    return rows


@pytest.mark.parametrize(
    "query", ["", "?page=2&page_size=7", "?status=dismissed", "?sort=severity"]
)
def test_the_portfolio_list_answers_the_bytes_drf_would(csm_api, every_kind, monkeypatch, query):
    fast = csm_api.get(reverse("api-anomaly-list") + query)
    monkeypatch.setattr(FastReadMixin, "to_representation", drf_representation)
    reference = csm_api.get(reverse("api-anomaly-list") + query)

    assert fast.status_code == reference.status_code == 200
    assert fast.content == reference.content
    assert fast.json()["count"] > 0


def test_the_customer_list_answers_the_bytes_drf_would(csm_api, mine, every_kind, monkeypatch):
    url = reverse("api-customer-anomalies", args=[mine.pk]) + "?page_size=200"
    fast = csm_api.get(url)
    monkeypatch.setattr(FastReadMixin, "to_representation", drf_representation)
    reference = csm_api.get(url)

    assert fast.status_code == 200
    assert fast.content == reference.content
    rows = fast.json()["results"]
    # The fixture's records reached the page: actions (one by a deleted user), the outcome.
    assert any(row["actions"] for row in rows)
    assert {row["outcome"] for row in rows} >= {"churned", "expanded"}


def test_action_records_are_the_same_with_or_without_the_selectors_prefetch(
    csm, mine, make_anomaly, django_assert_num_queries
):
    anomaly = make_anomaly(mine)
    first = AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="investigate")
    second = AnomalyAction.objects.create(anomaly=anomaly, user=csm, kind="contact_customer")
    prefetched = anomaly_list_with_record(UsageAnomaly.objects.filter(pk=anomaly.pk)).get()
    fresh = UsageAnomaly.objects.get(pk=anomaly.pk)

    with django_assert_num_queries(0):
        assert prefetched.action_records == [second, first]
        assert prefetched.action_records[0].user == csm
    # An anomaly read elsewhere queries them, in the same order, with their users.
    with django_assert_num_queries(1):
        records = fresh.action_records
        assert records == [second, first]
        assert records[0].user == csm


class Row:
    """A row whose attributes exercise every way DRF reads a field."""

    plain = 3
    nothing = None

    def method(self):
        return "called"

    @property
    def broken(self):
        raise AttributeError("gone")


class Owner:
    name = "ann"


def test_each_kind_of_source_reads_as_drf_reads_it(monkeypatch):
    class Out(FastReadMixin, serializers.Serializer):
        plain = serializers.IntegerField()
        nothing = serializers.IntegerField(allow_null=True)
        method = serializers.CharField()
        dotted = serializers.CharField(source="owner.name")
        missing_null = serializers.CharField(source="broken", allow_null=True)
        missing_default = serializers.CharField(source="absent", default="d")
        missing_skipped = serializers.CharField(source="absent", required=False)
        whole = serializers.SerializerMethodField()
        write_only = serializers.CharField(write_only=True)

        def get_whole(self, row) -> str:
            return type(row).__name__

    row = Row()
    row.owner = Owner()
    fast = Out(row).data
    monkeypatch.setattr(FastReadMixin, "to_representation", drf_representation)

    assert (
        fast
        == Out(row).data
        == {
            "plain": 3,
            "nothing": None,
            "method": "called",
            "dotted": "ann",
            "missing_null": None,
            "missing_default": "d",
            "whole": "Row",
        }
    )
