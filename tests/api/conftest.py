"""Fixtures for the REST API tests: an API client per persona, one customer for the CSM and
one for the other CSM, and an anomaly factory with the numbers of the product brief's example
("67% drop in API calls, baseline 45,000/day, now 15,000/day")."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient


@pytest.fixture
def anon_api():
    return APIClient()


@pytest.fixture
def api_for(db):
    def make(user):
        client = APIClient()
        client.force_authenticate(user=user)
        return client

    return make


@pytest.fixture
def csm_api(api_for, csm):
    return api_for(csm)


@pytest.fixture
def other_api(api_for, other_csm):
    return api_for(other_csm)


@pytest.fixture
def staff_api(api_for, staff):
    return api_for(staff)


@pytest.fixture
def mine(make_customer, csm):
    return make_customer(
        name="Dataflow Inc",
        external_id="dataflow-001",
        csm=csm,
        tier="enterprise",
        arr=Decimal("120000.50"),
    )


@pytest.fixture
def theirs(make_customer, other_csm):
    return make_customer(name="Globex", external_id="globex-002", csm=other_csm)


@pytest.fixture
def today():
    return timezone.localdate()


@pytest.fixture
def make_anomaly(db):
    from anomalies.models import UsageAnomaly

    def make(customer, **fields):
        fields.setdefault("metric_type", "api_calls")
        fields.setdefault("anomaly_type", "drop")
        fields.setdefault("severity", "critical")
        fields.setdefault(
            "direction", "positive" if fields["anomaly_type"] == "spike" else "negative"
        )
        fields.setdefault("baseline_value", Decimal("45000"))
        fields.setdefault("actual_value", Decimal("15000"))
        fields.setdefault("deviation_percent", Decimal("-66.67"))
        fields.setdefault("start_date", timezone.localdate() - dt.timedelta(days=4))
        fields.setdefault("detected_at", timezone.now())
        if fields.get("status") == "dismissed":
            fields.setdefault("dismissed_at", timezone.now())
            fields.setdefault("dismiss_reason", "false_positive")
        return UsageAnomaly.objects.create(customer=customer, **fields)

    return make


def result_ids(response) -> list[str]:
    return [row["id"] for row in response.json()["results"]]
